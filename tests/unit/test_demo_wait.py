"""The demo waits for its services while they make progress, and gives up only when they stop moving."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.demo import run
from services.demo.run import DemoResult

DAY = date(2025, 6, 30)
READ_THROUGH = datetime(2025, 6, 30, tzinfo=UTC).timestamp()
"""The board feed has read its watched series at DAY, a month end."""


class _Alive:
    name = "rules"

    def running(self) -> bool:
        return True


def _wait(monkeypatch: pytest.MonkeyPatch, processed: Any, stall: float) -> None:
    def scrape(url: str) -> dict[str, float]:
        if "rules" in url:
            return {"carewatch_rules_events_processed_total": next(processed), "carewatch_rules_ticks_total": 1}
        return {"carewatch_board_authority_read_through_timestamp_seconds": READ_THROUGH}

    monkeypatch.setattr(run, "_scrape", scrape)
    monkeypatch.setattr("services.board.store.dates", lambda _engine: [DAY])
    monkeypatch.setattr(run.time, "sleep", lambda _seconds: None)
    clock = itertools.count(0.0, 1.0)  # every poll takes a second
    monkeypatch.setattr(run.time, "monotonic", lambda: next(clock))
    result = DemoResult(events_accepted=100, ticks_sent=1)
    run._wait_caught_up({"rules": _Alive()}, "rules", "alerts", None, DAY, result, 1, stall=stall)  # type: ignore[arg-type, dict-item]


def test_a_slow_but_moving_catch_up_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 events at 2 a poll: 50 polls (about 100 seconds) against a stall allowance of 5 seconds.
    _wait(monkeypatch, itertools.count(0, 2), stall=5)


def test_a_stalled_catch_up_is_given_up_with_where_to_look(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TimeoutError, match="no progress for 5 seconds"):
        _wait(monkeypatch, itertools.chain([10, 20], itertools.repeat(30)), stall=5)


def test_the_demo_waits_for_the_board_feed_to_read_the_last_month_end() -> None:
    june = datetime(2025, 6, 30, tzinfo=UTC).timestamp()
    assert run._authority_read(june, date(2025, 1, 1), date(2025, 7, 15))
    assert not run._authority_read(june - 86_400, date(2025, 1, 1), date(2025, 7, 15))
    assert run._authority_read(0, date(2025, 7, 1), date(2025, 7, 15))  # no month end stored yet to read
