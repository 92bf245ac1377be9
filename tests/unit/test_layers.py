"""The import contracts of ``.importlinter`` hold (layers, schemas free of carewatch, a pure core).

Contracts whose id starts with ``pending-`` are ones the code does not meet yet: they run on their own and
are expected to fail (strict), so the day one passes this test fails and the contract joins the others.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
PREFIX = "importlinter:contract:"


def _contract_ids() -> tuple[list[str], list[str]]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    ids = [section.removeprefix(PREFIX) for section in parser.sections() if section.startswith(PREFIX)]
    return [i for i in ids if not i.startswith("pending-")], [i for i in ids if i.startswith("pending-")]


def _lint(contracts: list[str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lint-imports"
    command = [str(script), "--no-logo", "--no-cache", str(CONFIG)]
    for contract in contracts:
        command += ["--contract", contract]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=240)


def test_config_declares_the_layer_contracts() -> None:
    enforced, _ = _contract_ids()
    assert {
        "schemas-import-nothing-of-carewatch",
        "pure-core-imports-only-schemas",
        "layers",
        "test-kit-outside-the-product",
        "one-kafka-edge",
        "rules-never-import-board",
    } <= set(enforced)


def test_import_contracts_are_kept() -> None:
    enforced, _ = _contract_ids()
    result = _lint(enforced)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(enforced)} kept, 0 broken." in result.stdout
