"""The DfE's own SSDA903 validator (``csc-validator-be-903``, in ``.venv-oracle``, created once by this module
when missing) as an oracle for import-903, export-903 and return health."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from services.ingest.ssda903 import export
from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.health import return_health
from services.ingest.ssda903.source import read_return
from services.ingest.ssda903.validator import TABLE_FILES, run_validator
from tests.unit import ssda903_support as support

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / ".venv-oracle"
DOCS = ROOT / "docs" / "ssda903.md"


@pytest.fixture(scope="session")
def oracle_python() -> Path:
    """The validator's interpreter; the environment is created on first use (``make oracle`` does the same)."""
    python = ORACLE / "bin" / "python"
    if not (ORACLE / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(ORACLE)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "csc-validator-be-903"], check=True)
        (ORACLE / ".installed").touch()
    return python


def documented_rules() -> dict[str, str]:
    """rule → reason, from the table of accepted validator findings in docs/ssda903.md."""
    text = DOCS.read_text()
    section = text[text.index("## The DfE validator as an oracle") :]
    rules = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[0-9A-Z]+[a-z]?", cells[0]) and cells[0] != "rule":
            rules[cells[0]] = cells[3]
    return rules


def test_every_row_the_validator_flags_on_the_fixture_is_reported_or_accepted(
    oracle_python: Path, ssda903_fixtures: Path, tmp_path: Path
) -> None:
    for source in ssda903_fixtures.glob("*.csv"):
        shutil.copy(source, tmp_path / source.name)
    flagged = run_validator(oracle_python, tmp_path, 2018)
    assert flagged["failed_rules"] == []
    result = convert_returns([(2018, [r for f in read_return(tmp_path) for r in f.rows])])
    reported = {(o.file, o.row) for o in result.outcomes if o.status == "rejected" or o.problems}
    episodes = support.read_table(tmp_path / "episodes.csv")
    children = {episodes[row - 2]["CHILD"] for file, row in reported if file == "episodes.csv"}
    unreported: Counter[str] = Counter()
    for error in flagged["errors"]:
        if (TABLE_FILES[error["table"]], error["row"] + 2) in reported:
            continue
        if error["table"] == "Episodes" and episodes[error["row"]]["CHILD"] in children:
            continue
        unreported[error["rule"]] += 1
    accepted = documented_rules()
    assert len(flagged["errors"]) > 10_000  # the fake return is mostly invalid: the oracle did run
    assert sum(unreported.values()) < len(flagged["errors"])
    assert set(unreported) - set(accepted) == set(), "rules flagging rows import-903 neither reports nor documents"
    assert all(reason in {"not carried", "cohort", "plausibility", "missing", "first episode", "year"}
               for reason in accepted.values())  # fmt: skip
    # the chronology rules import-903 reports are not among the accepted ones
    assert {"142", "148", "354", "388", "431", "433", "437", "501"}.isdisjoint(accepted)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, Any], dict[int, Path], list[dict[str, Any]]]:
    returns = support.generate(150, 2019, 2021, seed=11)
    base = tmp_path_factory.mktemp("returns")
    directories = {year: support.write_return(tables, base / str(year)) for year, tables in returns.items()}
    result = convert_returns([(y, [r for f in read_return(d) for r in f.rows]) for y, d in directories.items()])
    return returns, directories, result.events


def _by_child(directory: Path, errors: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    tables = {t: support.read_table(directory / f) for t, f in TABLE_FILES.items() if (directory / f).exists()}
    return Counter((e["rule"], e["table"], tables[e["table"]][e["row"]]["CHILD"]) for e in errors)


def test_the_export_of_a_valid_history_has_no_error_its_input_did_not_have(
    oracle_python: Path, history: Any, tmp_path: Path
) -> None:
    _, directories, events = history
    written = export.write_return(export.return_rows(events, 2020), tmp_path / "export")
    assert written["episodes.csv"] > 100
    before = _by_child(directories[2020], run_validator(oracle_python, directories[2020], 2020)["errors"])
    after = _by_child(tmp_path / "export", run_validator(oracle_python, tmp_path / "export", 2020)["errors"])
    assert after - before == Counter()
    assert after == before  # the same rows, so the same findings


def test_the_export_with_social_worker_episodes_has_no_error_its_input_did_not_have(
    oracle_python: Path, tmp_path: Path
) -> None:
    """Returns of the years with a social-worker table (2023/24 on), exported back from the imported history."""
    returns = support.generate(120, 2024, 2026, seed=5, social_workers=True)
    directories = {year: support.write_return(tables, tmp_path / str(year)) for year, tables in returns.items()}
    events = convert_returns([(y, [r for f in read_return(d) for r in f.rows]) for y, d in directories.items()]).events
    for year in (2025, 2026):
        written = export.write_return(export.return_rows(events, year), tmp_path / f"export-{year}")
        assert written["sw_episodes.csv"] == len(returns[year]["sw_episodes"]) > 50
        before = _by_child(directories[year], run_validator(oracle_python, directories[year], year)["errors"])
        after = _by_child(
            tmp_path / f"export-{year}", run_validator(oracle_python, tmp_path / f"export-{year}", year)["errors"]
        )
        assert after - before == Counter(), year
        assert after == before, year


def test_return_health_counts_a_defect_the_day_it_is_recorded(oracle_python: Path, history: Any) -> None:
    _, _, events = history
    as_of = date(2020, 1, 15)

    def validate(directory: Path, year: int) -> dict[str, Any]:
        return run_validator(oracle_python, directory, year)

    clean = dict((rule, count) for rule, count, _ in return_health(events, as_of, validate))
    in_care = support.carewatch_looked_after_on(events, as_of)
    born = {e["child_id"]: date.fromisoformat(e["date_of_birth"]) for e in events if e["type"] == "care.started"}
    child = min(c for c in in_care if born[c] < date(2015, 1, 1))  # over 4 on the day
    # a review recorded as for a child under 4 (PN0): DfE rule 440
    defect = {"event_id": "t-review", "type": "review.held", "child_id": child, "occurred_at": "2020-01-10",
              "source": "test", "participation": "PN0"}  # fmt: skip
    later = {**defect, "event_id": "t-later", "occurred_at": "2020-02-10"}  # after as_of: not yet known
    dirty = dict((rule, count) for rule, count, _ in return_health([*events, defect, later], as_of, validate))
    assert dirty.get("440", 0) == clean.get("440", 0) + 1
    assert {k: v for k, v in dirty.items() if k != "440"} == {k: v for k, v in clean.items() if k != "440"}


def test_return_health_command(oracle_python: Path, history: Any, tmp_path: Path) -> None:
    _, _, events = history
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    args = ["return-health", str(path), "--as-of", "2020-01-15", "--validator-python", str(oracle_python)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split()[:2] == ["rule", "records"] and lines[-1].startswith("total")
    assert int(lines[-1].split()[1]) == sum(int(line.split()[1]) for line in lines[1:-1])
    missing = CliRunner().invoke(app, [*args[:4], "--validator-python", str(tmp_path / "none" / "python")])
    assert missing.exit_code == 2 and "make oracle" in missing.output
