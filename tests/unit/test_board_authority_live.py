"""The live reading of a watched series (``live_transitions``): the history when nothing was published yet, then
level-triggered on the latest month against the last state published; a raised alert resolves only after
``resolve_after_months`` (default 2) months in a row with no concerning special cause. Series as in
``test_board_spc``: limits fixed on 12, 10, 12, 10 (mean 11, process limits 5.68 … 16.32), so 17 is a single
point beyond the upper limit and 11 (the mean) an ordinary month."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.board.core.authority_alerts import WatchedSeries, live_transitions, series_transitions
from services.board.core.spc import SpcConfig

FIXED = SpcConfig(min_points=4, baseline_points=4)
WATCH = WatchedSeries("entered-care-month", "Children starting to be looked after", "lower", config=FIXED)
BASELINE = [12.0, 10.0, 12.0, 10.0]
SHIFT = [12.0, 13.0, 12.0, 13.0, 12.0, 13.0, 12.0]  # the 7th month above the mean: a shift


def months(values: list[float]) -> list[tuple[date, float]]:
    return [(date(2024 + i // 12, i % 12 + 1, 1), v) for i, v in enumerate(values)]


def test_nothing_published_yet_gives_the_series_history() -> None:
    found = live_transitions(WATCH, months([*BASELINE, *SHIFT, 10, 10]), None)
    assert [(t.state, t.at) for t in found] == [("raised", date(2024, 11, 1)), ("resolved", date(2025, 1, 1))]
    assert all(t.fingerprint == WATCH.fingerprint and t.child_id is None for t in found)


def test_raised_when_the_latest_month_shows_the_cause_and_the_alert_was_resolved() -> None:
    [found] = live_transitions(WATCH, months([*BASELINE, *SHIFT]), "resolved")
    assert (found.state, found.at, found.scope) == ("raised", date(2024, 11, 1), "authority")


def test_unchanged_signal_publishes_nothing() -> None:
    assert live_transitions(WATCH, months([*BASELINE, *SHIFT]), "raised") == []
    assert live_transitions(WATCH, months([*BASELINE, *SHIFT[:-1]]), "resolved") == []  # six months: no shift


def test_resolved_on_the_second_month_without_the_cause_not_the_first() -> None:
    assert live_transitions(WATCH, months([*BASELINE, *SHIFT, 10]), "raised") == []  # just misses: one month
    [found] = live_transitions(WATCH, months([*BASELINE, *SHIFT, 10, 10]), "raised")  # just meets: two
    assert (found.state, found.at) == ("resolved", date(2025, 1, 1))
    assert found.summary == (
        "Children starting to be looked after: the special cause has ended, no concerning signal for the last "
        "2 months (common cause)."
    )


def test_a_single_point_beyond_the_limit_resolves_after_two_ordinary_months() -> None:
    assert [t.state for t in live_transitions(WATCH, months([*BASELINE, 17]), "resolved")] == ["raised"]
    assert live_transitions(WATCH, months([*BASELINE, 17, 11]), "raised") == []
    [found] = live_transitions(WATCH, months([*BASELINE, 17, 11, 11]), "raised")
    assert (found.state, found.at) == ("resolved", date(2024, 7, 1))


def test_the_resolve_rule_is_configurable() -> None:
    three = replace(WATCH, resolve_after_months=3)
    assert live_transitions(three, months([*BASELINE, 17, 11, 11]), "raised") == []
    assert [t.state for t in live_transitions(three, months([*BASELINE, 17, 11, 11, 11]), "raised")] == ["resolved"]
    one = replace(WATCH, resolve_after_months=1)
    assert [t.state for t in live_transitions(one, months([*BASELINE, 17, 11]), "raised")] == ["resolved"]
    with pytest.raises(ValueError, match="at least 1"):
        replace(WATCH, resolve_after_months=0)


ALTERNATING = [*BASELINE, 17, 11, 17, 11, 17, 11, 11]
"""A single point beyond the upper limit every other month, three times, then ordinary months."""


def _live(watched: WatchedSeries, values: list[float]) -> list[tuple[str, date]]:
    """The transitions a live feed publishes as the series gains one month at a time."""
    series = months(values)
    published: list[tuple[str, date]] = []
    for end in range(len(BASELINE) + 1, len(series) + 1):
        last = published[-1][0] if published else "resolved"
        found = live_transitions(watched, series[:end], last)  # type: ignore[arg-type]
        published.extend((t.state, t.at) for t in found)
    return published


def test_alternating_single_points_do_not_flap() -> None:
    expected = [("raised", date(2024, 5, 1)), ("resolved", date(2024, 11, 1))]
    assert _live(WATCH, ALTERNATING) == expected
    assert [(t.state, t.at) for t in series_transitions(WATCH, months(ALTERNATING))] == expected


def test_resolving_on_the_first_ordinary_month_would_flap() -> None:
    """The same series with the old rule (resolve on the first month without the cause) raises three times:
    the rule above is what keeps the alert steady."""
    flapping = _live(replace(WATCH, resolve_after_months=1), ALTERNATING)
    assert [state for state, _ in flapping] == ["raised", "resolved"] * 3


def test_an_empty_series_publishes_nothing() -> None:
    assert live_transitions(WATCH, [], None) == []
    assert live_transitions(WATCH, [], "raised") == []


def test_a_run_above_the_mean_that_began_with_the_cause_keeps_the_alert_raised() -> None:
    """17 is beyond the limit; 12 is above the mean 11 but fires no rule. The change has not ended while the
    months stay above the mean: the alert stays raised (just misses) until a month is back on or below the
    mean and the two latest months show no cause (just meets)."""
    assert live_transitions(WATCH, months([*BASELINE, 17, 12, 12]), "raised") == []
    [found] = live_transitions(WATCH, months([*BASELINE, 17, 12, 12, 11]), "raised")
    assert (found.state, found.at) == ("resolved", date(2024, 8, 1))
    # a month below the mean ends the run too, and the resolve still waits for two ordinary months
    assert live_transitions(WATCH, months([*BASELINE, 17, 10]), "raised") == []
    assert [t.state for t in live_transitions(WATCH, months([*BASELINE, 17, 10, 12]), "raised")] == ["resolved"]


DEMO_STEADY = [14.0, 12.0, 15.0, 13.0, 16.0, 11.0, 14.0, 15.0, 12.0, 13.0, 17.0, 14.0] * 2
DEMO_RISE = [24.0, 21.0, 26.0, 23.0, 19.0, 25.0, 22.0, 24.0]
"""About x1.75 for 8 months, with ordinary month-to-month noise (a month of 19 among them)."""
DEMO_AFTER = [14.0, 12.0, 15.0, 13.0, 16.0, 11.0, 14.0, 13.0]


def test_a_sustained_rise_read_live_on_a_moving_window_raises_once_and_resolves_once() -> None:
    """Shaped like the demo's deliberate turn: two steady years, 8 months at about x1.75, then back. Read
    as the board feed reads it: each month end, the chart of the latest 24 months (limits on every point, the
    MDC default), against the state last published. The rise pulls the mean and limits up as it enters the
    window, so months within it stop firing a rule; they stay above the mean, so the alert stays raised. It
    resolves once the series is back, and is raised once."""
    watched = WatchedSeries("entered-care-month", "Children starting to be looked after", "lower")
    series = months([*DEMO_STEADY, *DEMO_RISE, *DEMO_AFTER])
    rise_from, rise_to = series[len(DEMO_STEADY)][0], series[len(DEMO_STEADY) + len(DEMO_RISE) - 1][0]
    published: list[tuple[str, date]] = []
    for end in range(1, len(series) + 1):
        last = published[-1][0] if published else None
        found = live_transitions(watched, series[max(0, end - 24) : end], last)  # type: ignore[arg-type]
        published.extend((t.state, t.at) for t in found if not published or t.state != published[-1][0])
    assert [state for state, _ in published] == ["raised", "resolved"]
    (_, raised_at), (_, resolved_at) = published
    assert rise_from <= raised_at <= rise_to < resolved_at
