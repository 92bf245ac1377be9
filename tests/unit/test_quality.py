"""The team's code standards, checked like behaviour: ruff everywhere, mypy --strict on the pure core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_CORE = ("schemas", "services/rules/core", "services/board/core")
ADAPTER_LIBRARIES = ("faust", "kafka", "aiokafka", "sqlalchemy", "prometheus_client", "fastapi", "starlette", "httpx")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout


def test_mypy_strict_on_the_pure_core() -> None:
    result = run(sys.executable, "-m", "mypy", *PURE_CORE)
    assert result.returncode == 0, result.stdout


def test_pure_core_imports_no_adapter_library() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in PURE_CORE
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.lstrip().startswith(("import ", "from ")) and line.split()[1].split(".")[0] in ADAPTER_LIBRARIES
    ]
    assert offenders == []
