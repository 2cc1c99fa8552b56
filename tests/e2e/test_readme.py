"""The README walkthroughs work as written (against the test stack's gateway and a fresh name)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

from services.stack import Stack
from shared.identifiers import is_valid_uscc
from tests.support import ROOT, registration_body


def test_walkthrough_from_token_to_revoked_licence(stack: Stack, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "$API" in b]
    assert len(blocks) == 3  # open, connect its utilities, then suspend / resume / deregister
    body = tmp_path / "registration.json"
    body.write_text(json.dumps(registration_body(), ensure_ascii=False))
    script = "\n".join(blocks).replace("/tmp/", f"{tmp_path}/").replace(
        "http://127.0.0.1:8000", stack.url_of("gateway")).replace("examples/registration.json", str(body))
    result = subprocess.run(["timeout", "120", "bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    accounts = ast.literal_eval(next(line for line in lines if "'用电'" in line and "'用水'" in line))
    assert sorted(name for name, _number in accounts) == sorted(["用电", "用水", "用气", "通信"])
    licence = json.loads(lines[-1])
    assert licence["status"] == "revoked" and is_valid_uscc(licence["uscc"])
    order = {dept: (requested, resolved) for dept, requested, resolved in ast.literal_eval(lines[-2])}
    assert order["tax"][1] <= order["samr"][0], "tax clears before samr is asked"
