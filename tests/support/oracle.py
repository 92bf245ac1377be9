"""The DfE CIN census validator (``csc-validator-be-cin``) as a test oracle.

It pins pandas < 2 (and so needs numpy < 2), which the project's environment cannot hold, so it lives in
its own virtualenv, ``.venv-oracle-cin/`` at the repository root: created by the first test that needs it
and reused afterwards. It is called through a subprocess running ``oracle_cin.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-oracle-cin"
PYTHON = VENV / "bin" / "python"
RUNNER = Path(__file__).with_name("oracle_cin.py")
REQUIREMENTS = ("csc-validator-be-cin==0.1.13", "numpy<2")


def ensure_oracle() -> Path:
    """The oracle's Python, installing it on first use."""
    check = [str(PYTHON), "-c", "import cin_validator.cin_validator"]
    if PYTHON.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return PYTHON
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    subprocess.run(check, check=True, capture_output=True)
    return PYTHON


def validate(path: Path, ruleset: str = "cin2024_25") -> list[dict[str, Any]]:
    """Every issue the DfE validator reports for the return at ``path`` (queries included)."""
    result = subprocess.run(
        [str(ensure_oracle()), str(RUNNER), str(path), ruleset],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    issues = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            issues.append(json.loads(line))
        elif line.startswith("Error with rule"):
            raise AssertionError(f"the validator failed: {line}")
    return issues
