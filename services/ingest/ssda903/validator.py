"""Running the DfE SSDA903 validator (``csc-validator-be-903``), which lives in its own environment because it
pins pandas<2: ``make oracle`` creates ``.venv-oracle``. The runner script imports nothing from carewatch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

RUNNER: Final = Path(__file__).with_name("validator_runner.py")
SETUP: Final = "make oracle (python3 -m venv .venv-oracle && .venv-oracle/bin/pip install csc-validator-be-903)"
TABLE_FILES: Final = {
    "Header": "header.csv", "Episodes": "episodes.csv", "Reviews": "reviews.csv", "UASC": "uasc.csv",
    "OC2": "oc2.csv", "OC3": "oc3.csv", "Missing": "missing.csv", "AD1": "ad1.csv",
    "PlacedAdoption": "placed_for_adoption.csv", "PrevPerm": "previous_permanence.csv",
    "SWEpisodes": "sw_episodes.csv",
}  # fmt: skip


class ValidatorUnavailable(RuntimeError):
    """The validator's environment is missing or the validator failed."""


def run_validator(python: Path, directory: Path, year: int, timeout: float = 1800) -> dict[str, Any]:
    """``{"ruleset", "errors": [{"rule", "message", "table", "row"}], "failed_rules"}`` for the CSV files of
    ``directory`` as the return of ``year`` (the nearest ruleset the validator has: 2022/23–2026/27)."""
    if not python.exists():
        raise ValidatorUnavailable(f"{python} not found: create it with {SETUP}")
    try:
        done = subprocess.run(
            [str(python), str(RUNNER), str(directory), str(year)], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ValidatorUnavailable(f"the validator took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ValidatorUnavailable("the validator failed: " + " | ".join(tail))
    result: dict[str, Any] = json.loads(done.stdout)
    return result
