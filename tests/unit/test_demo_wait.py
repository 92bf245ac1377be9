"""The demo waits for its services while they make progress, and gives up only when they stop moving."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from services.demo import run
from services.demo.run import DemoResult

DAY = date(2025, 6, 30)


class _Alive:
    name = "rules"

    def running(self) -> bool:
        return True


def _wait(monkeypatch: pytest.MonkeyPatch, processed: Any, stall: float) -> None:
    def scrape(url: str) -> dict[str, float]:
        if "rules" in url:
            return {"carewatch_rules_events_processed_total": next(processed), "carewatch_rules_ticks_total": 1}
        return {}

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
