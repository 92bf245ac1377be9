"""The board pack through the command line: from snapshots and from events, opened in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser

from carewatch.testing.synthetic import authority
from services.board.core.catalogue import ALL_INDICATORS, INDICATORS
from tests.e2e.accessibility import serious_violations

pytestmark = pytest.mark.e2e

CAREWATCH = str(Path(sys.executable).with_name("carewatch"))


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CAREWATCH, *args], capture_output=True, text=True, env=env, check=False, timeout=240)


@pytest.fixture
def setup(tmp_path: Path, postgres_url: str) -> tuple[Path, dict[str, str]]:
    events = tmp_path / "events.ndjson"
    with events.open("w") as handle:
        for raw in authority(400, 21, date(2018, 1, 1), date(2025, 3, 31)):
            handle.write(json.dumps(raw) + "\n")
    targets = tmp_path / "targets.csv"
    targets.write_text("indicator,target\nrha-in-date,90\ndental-in-date,90\nplacements-3plus-12m,10\n")
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": postgres_url,
        "CAREWATCH_BOARD_POPULATION_0_17": "25000",
        "CAREWATCH_BOARD_AUTHORITY_NAME": "Exampleshire",
        "CAREWATCH_BOARD_TARGETS_CSV": str(targets),
    }
    return events, env


def _rows_of(path: Path, as_of: str) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["as_of"] == as_of]


def test_pack_from_snapshots_matches_pack_from_events_and_opens_in_chromium(
    tmp_path: Path, setup: tuple[Path, dict[str, str]], browser: Browser, artefacts: Path
) -> None:
    events, env = setup
    missing = run("board-pack", "--as-of", "2025-03-31", "--out", str(tmp_path / "none"), env=env)
    assert missing.returncode == 2
    assert "no board snapshot on or before 2025-03-31" in missing.stderr

    written = run("board-snapshots", "--events", str(events), "--from", "2024-03-31", "--to", "2025-03-31", env=env)
    assert written.returncode == 0, written.stderr
    assert "366 daily snapshots" in written.stdout

    from_db = run("board-pack", "--as-of", "2025-03-31", "--out", str(tmp_path / "db"), env=env)
    assert from_db.returncode == 0, from_db.stderr
    from_events = run(
        "board-pack", "--as-of", "2025-03-31", "--out", str(tmp_path / "ev"), "--events", str(events), env=env
    )
    assert from_events.returncode == 0, from_events.stderr
    # built from events, the pack has the early-warning SPC section, its CSV and its sheets; from snapshots, not
    with (tmp_path / "ev" / "board-pack-spc.csv").open(newline="") as handle:
        spc_rows = list(csv.DictReader(handle))
    assert {row["indicator"] for row in spc_rows} >= {"entered-care-month"}
    assert all(row["mean"] != "" for row in spc_rows if row["indicator"] == "entered-care-month")
    assert "Early warning: statistical process control" in (tmp_path / "ev" / "board-pack.html").read_text()
    assert "Early warning" not in (tmp_path / "db" / "board-pack.html").read_text()
    assert not (tmp_path / "db" / "board-pack-spc.csv").exists()

    headline = _rows_of(tmp_path / "db" / "board-pack.csv", "2025-03-31")
    assert headline == _rows_of(tmp_path / "ev" / "board-pack.csv", "2025-03-31")
    assert [row["indicator"] for row in headline] == list(INDICATORS)
    for row in headline:
        if row["suppressed"] == "true":
            assert row["value"] == row["numerator"] == ""  # numbers stay numeric: the flag says why
        elif row["numerator"] not in ("", "0"):
            assert int(row["numerator"]) >= 5
    assert {row["rag"] for row in headline if row["indicator"] == "rha-in-date"} <= {"green", "amber", "red"}

    workbook = load_workbook(tmp_path / "db" / "board-pack.xlsx", read_only=True)
    assert workbook.sheetnames == ["Headline", "Data", "Trend", "Definitions", "Notes"]
    sheet_rows = list(workbook["Headline"].iter_rows(values_only=True))
    assert len(sheet_rows) == 1 + len(INDICATORS)
    trend_header = next(workbook["Trend"].iter_rows(values_only=True))
    assert len(trend_header) == 2 + 13  # indicator, title, 13 month-ends
    workbook.close()

    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((tmp_path / "db" / "board-pack.html").as_uri())
    assert page.title() == "Exampleshire: children in care board pack, 31 March 2025"
    assert page.locator("#headline-table tbody tr").count() == len(INDICATORS)
    assert page.locator("#headline-table [data-travel]").count() == len(INDICATORS)
    exceptions = page.locator("#exceptions-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.rag)")
    assert exceptions == sorted(exceptions, key=["red", "amber"].index)  # red first
    assert page.locator("figure svg").count() >= 10
    status_texts = page.locator(".rag").all_inner_texts()
    assert len(status_texts) == 3 and set(status_texts) <= {"On target", "Near target", "Off target"}
    assert page.locator("dl.definitions dt").count() == len(ALL_INDICATORS)  # the monthly series too
    assert serious_violations(page) == []
    page.screenshot(path=str(artefacts / "board-pack.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 800})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 1200, "height": 900})
    page.emulate_media(media="print")
    assert page.locator("main").evaluate("e => getComputedStyle(e).paddingTop") == "0px"
    assert errors == []
    assert (artefacts / "board-pack.png").stat().st_size > 50_000


def test_bad_target_file_is_a_clear_error(tmp_path: Path, setup: tuple[Path, dict[str, str]]) -> None:
    events, env = setup
    bad = tmp_path / "bad-targets.csv"
    bad.write_text("indicator,target\nrha-in-date,ninety\n")
    result = run(
        "board-pack",
        "--as-of",
        "2025-03-31",
        "--out",
        str(tmp_path / "out"),
        "--events",
        str(events),
        env={**env, "CAREWATCH_BOARD_TARGETS_CSV": str(bad)},
    )
    assert result.returncode == 2
    assert "line 2: target 'ninety' is not a number" in result.stderr
    assert not (tmp_path / "out").exists()
