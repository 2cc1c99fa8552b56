"""The README walkthrough works as written (against the test stack's gateway and a fresh name)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from services.stack import Stack
from shared.identifiers import is_valid_uscc
from tests.support import ROOT, registration_body


def test_walkthrough_from_token_to_verified_licence(stack: Stack, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    script = next(block for block in re.findall(r"```sh\n(.*?)```", readme, re.S) if "licenses/$CODE" in block)
    body = tmp_path / "registration.json"
    body.write_text(json.dumps(registration_body(), ensure_ascii=False))
    script = script.replace("http://127.0.0.1:8000", stack.url_of("gateway")).replace(
        "examples/registration.json", str(body))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    licence = json.loads(result.stdout.strip().splitlines()[-1])
    assert licence["status"] == "active" and is_valid_uscc(licence["uscc"])
