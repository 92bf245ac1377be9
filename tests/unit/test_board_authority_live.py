"""The live reading of a watched series (``live_transitions``): the history when nothing was published yet, then
level-triggered on the latest month against the last state published. Series as in ``test_board_spc``: limits
fixed on 12, 10, 12, 10 (mean 11, process limits 5.68 … 16.32)."""

from __future__ import annotations

from datetime import date

from services.board.core.authority_alerts import WatchedSeries, live_transitions
from services.board.core.spc import SpcConfig

FIXED = SpcConfig(min_points=4, baseline_points=4)
WATCH = WatchedSeries("entered-care-month", "Children starting to be looked after", "lower", config=FIXED)
BASELINE = [12.0, 10.0, 12.0, 10.0]
SHIFT = [12.0, 13.0, 12.0, 13.0, 12.0, 13.0, 12.0]  # the 7th month above the mean: a shift


def months(values: list[float]) -> list[tuple[date, float]]:
    return [(date(2024 + i // 12, i % 12 + 1, 1), v) for i, v in enumerate(values)]


def test_nothing_published_yet_gives_the_series_history() -> None:
    found = live_transitions(WATCH, months([*BASELINE, *SHIFT, 10]), None)
    assert [(t.state, t.at) for t in found] == [("raised", date(2024, 11, 1)), ("resolved", date(2024, 12, 1))]
    assert all(t.fingerprint == WATCH.fingerprint and t.child_id is None for t in found)


def test_raised_when_the_latest_month_shows_the_cause_and_the_alert_was_resolved() -> None:
    [found] = live_transitions(WATCH, months([*BASELINE, *SHIFT]), "resolved")
    assert (found.state, found.at, found.scope) == ("raised", date(2024, 11, 1), "authority")


def test_unchanged_signal_publishes_nothing() -> None:
    assert live_transitions(WATCH, months([*BASELINE, *SHIFT]), "raised") == []
    assert live_transitions(WATCH, months([*BASELINE, *SHIFT[:-1]]), "resolved") == []  # six months: no shift


def test_resolved_on_the_first_month_without_the_cause() -> None:
    [found] = live_transitions(WATCH, months([*BASELINE, *SHIFT, 10]), "raised")
    assert (found.state, found.at) == ("resolved", date(2024, 12, 1))
    assert found.summary.startswith("Children starting to be looked after: the special cause has ended")


def test_an_empty_series_publishes_nothing() -> None:
    assert live_transitions(WATCH, [], None) == []
    assert live_transitions(WATCH, [], "raised") == []
