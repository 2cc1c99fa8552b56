"""The README walkthroughs work as written, on a stack of their own as `make run` starts it (every department
simulated, the dev data set loaded) with no creditor-notice wait, and a fresh enterprise name."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.stack import Stack
from shared.identifiers import is_valid_uscc
from tests.support import ROOT, Databases, registration_body, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def readme_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("readme-stack"), databases, ONESTOP_SIMULATED_DEPARTMENTS="all",
                       ONESTOP_CREDITOR_NOTICE_DAYS="0") as stack:
        yield stack


def test_walkthrough_from_token_to_revoked_licence(readme_stack: Stack, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "$API" in b]
    assert len(blocks) == 4  # open; connect its utilities; sell the office; suspend / resume / deregister
    body = tmp_path / "registration.json"
    body.write_text(json.dumps(registration_body(), ensure_ascii=False))
    script = "\n".join(blocks).replace("/tmp/", f"{tmp_path}/").replace(
        "http://127.0.0.1:8000", readme_stack.url_of("gateway")).replace("examples/registration.json", str(body))
    result = subprocess.run(["timeout", "150", "bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()

    def printed(*needles: str) -> Any:
        found = next((line for line in lines if all(n in line for n in needles)), None)
        assert found is not None, f"no line with {needles} in:\n{result.stdout}"
        try:
            return ast.literal_eval(found)
        except ValueError:
            raise AssertionError(f"not a literal: {found}") from None

    accounts = printed("'用电'", "'用水'")
    assert sorted(name for name, _number in accounts) == sorted(["用电", "用水", "用气", "通信"])
    due, split = printed("'treasury'", "'registration_fee'")
    assert sum(Decimal(amount) for _charge, _account, amount in split) == Decimal(due)
    assert printed("('active', [") == ("active", ["李*"])
    licence = json.loads(lines[-1])
    assert licence["status"] == "revoked" and is_valid_uscc(licence["uscc"])
    order = {dept: (requested, resolved) for dept, requested, resolved in ast.literal_eval(lines[-2])}
    assert order["tax"][1] <= order["samr"][0], "tax clears before samr is asked"
