"""The demo's synthetic authority has a child population, and its services and its board pack read the same one.

The pack is built from daily snapshots of a replayed synthetic history stored in SQLite, as the demo's are.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest

from carewatch.db import make_engine, migrate
from carewatch.settings import Settings
from schemas.events import parse_event
from services.board import store
from services.board.pack import EXAMPLE_NEIGHBOURS, EXAMPLE_TARGETS
from services.board.replay import snapshots
from services.demo.generator import generate
from services.demo.run import board_environment, demo_population, demo_settings, write_board_pack


def test_the_demo_authority_has_a_population_at_the_national_rate_and_the_examples() -> None:
    chosen = demo_settings(Settings(), children=396)
    assert chosen.board.population_0_17 == demo_population(396) == 59_104  # 396 per 59,104 = 67 per 10,000
    assert chosen.board.neighbours_csv == EXAMPLE_NEIGHBOURS and chosen.board.targets_csv == EXAMPLE_TARGETS
    assert chosen.board.authority_name == "Synthetic county (demo)"


def test_what_an_operator_configures_is_kept() -> None:
    mine = Settings(board_population_0_17=12_345, board_authority_name="Testshire", board_audience="public")
    chosen = demo_settings(mine, children=396)
    assert chosen.board.population_0_17 == 12_345
    assert chosen.board.authority_name == "Testshire" and chosen.board.audience == "public"


def test_the_services_read_back_the_board_settings_the_demo_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = demo_settings(Settings(board_amber_band=3.0), children=120)
    for name, value in board_environment(chosen).items():
        monkeypatch.setenv(name, value)
    read = Settings()
    assert read.board == chosen.board
    assert read.board.amber_band == 3.0 and read.board.population_0_17 == chosen.board.population_0_17


def test_the_board_pack_the_demo_writes_has_rates_per_10000(tmp_path: Path) -> None:
    children, start = 120, date(2025, 1, 1)
    events = []
    for raw in generate(seed=3, children=children, months=2, start=start, bad_share=0):
        events.append(parse_event(raw, received_at=None))
    last = start + timedelta(days=50)
    days = [last - timedelta(days=n) for n in range(0, 50, 7)]
    settings = demo_settings(Settings(data_dir=tmp_path), children=children)
    url = settings.database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    store.save(engine, snapshots(events, days))
    said: list[str] = []
    paths = write_board_pack(settings, engine, last, echo=said.append)
    engine.dispose()

    assert not [line for line in said if "population" in line], said
    with paths["csv"].open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["as_of"] == last.isoformat()]
    by_id = {row["indicator"]: row for row in rows}
    rate = float(by_id["cla-rate-per-10k"]["value"])
    count = float(by_id["cla-count"]["value"])
    assert rate == pytest.approx(count * 10_000 / settings.board.population_0_17, abs=0.05)
    assert 50 <= rate <= 85, rate  # near the national 67: the county keeps about ``children`` in care
    assert by_id["uasc-share-of-child-population"]["value"] != ""
    html = paths["html"].read_text(encoding="utf-8")
    assert "Synthetic county (demo)" in html and "EXAMPLES" in html


def test_without_a_population_the_pack_says_so_once(tmp_path: Path) -> None:
    """The control: the same pack with no population configured warns and leaves the rates out."""
    settings = demo_settings(Settings(data_dir=tmp_path), children=60).updated(board_population_0_17=None)
    start = date(2025, 1, 1)
    events = [parse_event(raw, received_at=None) for raw in generate(3, 60, 1, start, bad_share=0)]
    url = settings.database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    store.save(engine, snapshots(events, [start + timedelta(days=20)]))
    said: list[str] = []
    paths = write_board_pack(settings, engine, start + timedelta(days=20), echo=said.append)
    engine.dispose()
    assert len([line for line in said if "no child population is configured" in line]) == 1
    with paths["csv"].open(newline="", encoding="utf-8") as handle:
        rates = [row["value"] for row in csv.DictReader(handle) if row["indicator"] == "cla-rate-per-10k"]
    assert rates and all(value == "" for value in rates)
