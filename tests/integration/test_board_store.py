"""Daily snapshots in SQL (SQLite and PostgreSQL): migration, replace-on-rewrite, rebuild from replay."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from carewatch.db import make_engine, migrate
from carewatch.testing.synthetic import authority
from schemas.events import CaseEvent, parse_event
from services.board import store
from services.board.core.aggregate import Aggregate, Contribution, Delta
from services.board.core.indicators import contributions
from services.board.replay import snapshots
from services.rules.core.fold import apply
from services.rules.core.state import ChildState

pytestmark = pytest.mark.integration

FIRST = date(2019, 1, 1)
LAST = date(2025, 3, 31)


def _events() -> list[CaseEvent]:
    return [parse_event(raw, received_at=None) for raw in authority(80, seed=11, first=FIRST, last=LAST)]


def test_rebuilding_from_a_replay_gives_the_same_snapshots(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(456)]  # 15 months of daily snapshots
    try:
        first = snapshots(_events(), days)
        assert store.save(engine, first) == len(days) * len(store.STORED_INDICATORS)
        rows = store.table_rows(engine)
        # a second replay written over the first: same rows, none added
        store.save(engine, snapshots(_events(), days))
        assert store.table_rows(engine) == rows
        assert len(rows) == len(days) * len(store.STORED_INDICATORS)
        loaded = store.load(engine, date(2024, 1, 1), date(2025, 3, 31))
        assert sorted(loaded) == days
        # and each day's totals are those recomputed from scratch from the children's states on that day
        # (a state folded later keeps only the facts its horizon still reads, so it is not used for the past)
        for day in (days[0], date(2024, 7, 15), days[-1]):
            states: dict[str, ChildState] = {}
            for event in _events():
                if event.occurred_on <= day:
                    states[event.child_id], _ = apply(states.get(event.child_id), event)
            scratch = Aggregate.of(contributions(state, day) for state in states.values())
            assert loaded[day].totals == scratch.totals
    finally:
        engine.dispose()


def test_summary_uses_the_latest_snapshot_on_or_before_the_date(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        older, newer = Aggregate(), Aggregate()
        older.apply(Delta("", "cla-count", Contribution(), Contribution(40, 0)))
        newer.apply(Delta("", "cla-count", Contribution(), Contribution(3, 0)))
        store.save(engine, {date(2025, 1, 31): older, date(2025, 2, 28): newer})
        assert store.summary_on(engine, date(2025, 1, 1), threshold=5) is None
        january = store.summary_on(engine, date(2025, 2, 27), threshold=5)
        assert january is not None
        assert (january["as_of"], january["indicators"]["cla-count"]["value"]) == ("2025-01-31", 40)
        february = store.summary_on(engine, date(2025, 3, 10), threshold=5, population=20_000)
        assert february is not None
        cla = february["indicators"]["cla-count"]
        assert (february["as_of"], cla["value"], cla["suppressed"]) == ("2025-02-28", None, True)
        assert february["indicators"]["cla-rate-per-10k"]["suppression"] == "linked"
        assert store.dates(engine) == [date(2025, 1, 31), date(2025, 2, 28)]
    finally:
        engine.dispose()
