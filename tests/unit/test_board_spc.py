"""XmR chart and its special-cause rules (MDC), each rule with a series that just meets it and one that
just misses it; readings; authority alert transitions.

Most series use a fixed baseline of 12, 10, 12, 10: mean 11, mean moving range 2, so the process limits
are 11 ± 2.66 × 2 = 5.68 … 16.32 and the two-sigma lines 11 ± 3.5467 = 7.4533 … 14.5467.
"""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from schemas.alerts import AlertTransition
from services.board.core.authority_alerts import WatchedSeries, series_transitions
from services.board.core.spc import Chart, Signal, SpcConfig, concerning_signals, limits_of, reading, xmr

BASELINE = [12.0, 10.0, 12.0, 10.0]
FIXED = SpcConfig(min_points=4, baseline_points=4)


def months(values: list[float], start_year: int = 2024) -> list[tuple[date, float]]:
    return [(date(start_year + (i // 12), i % 12 + 1, 1), v) for i, v in enumerate(values)]


def chart(extra: list[float], better: str = "neither", config: SpcConfig = FIXED, **kw: float) -> Chart:
    return xmr(months(BASELINE + extra), better, config=config, **kw)  # type: ignore[arg-type]


def flagged(c: Chart, rule: str) -> list[int]:
    return [i for i, p in enumerate(c.points) if any(s.rule == rule for s in p.signals)]


def test_limits_hand_worked() -> None:
    limits = limits_of(BASELINE)
    assert limits.mean == 11
    assert limits.mean_moving_range == 2
    assert limits.upper == pytest.approx(16.32)
    assert limits.lower == pytest.approx(5.68)
    assert limits.upper_two_sigma == pytest.approx(11 + 3.546666, abs=1e-5)
    assert limits.lower_two_sigma == pytest.approx(11 - 3.546666, abs=1e-5)


def test_limits_on_all_points_by_default_and_thirteen_points_needed() -> None:
    values = [10.0, 12.0] * 6
    short = xmr(months(values), "higher")
    assert short.limits is None and short.variation == "insufficient-data"
    assert "12 of 13" in reading(short)
    full = xmr(months([*values, 10.0]), "higher")
    assert full.limits is not None
    assert full.limits.mean == pytest.approx(142 / 13)
    assert full.limits.mean_moving_range == 2
    assert full.variation == "common-cause"


def test_outside_limits_just_meets_and_just_misses() -> None:
    assert flagged(chart([16.4]), "outside-limits") == [4]
    assert flagged(chart([16.3]), "outside-limits") == []
    assert flagged(chart([5.6]), "outside-limits") == [4]
    assert chart([5.6]).points[4].signals == (Signal("outside-limits", "low"),)
    assert flagged(chart([5.7]), "outside-limits") == []


def test_shift_of_seven_just_meets() -> None:
    c = chart([12, 13, 12, 13, 12, 13, 12])
    assert flagged(c, "shift") == list(range(4, 11))
    assert all(Signal("shift", "high") in c.points[i].signals for i in range(4, 11))


def test_shift_of_six_just_misses() -> None:
    assert flagged(chart([12, 13, 12, 13, 12, 13, 10]), "shift") == []


def test_point_on_the_mean_breaks_a_shift() -> None:
    assert flagged(chart([12, 13, 12, 11, 12, 13, 12]), "shift") == []


def test_shift_length_is_configurable() -> None:
    six = SpcConfig(min_points=4, baseline_points=4, shift_points=6)
    assert flagged(chart([12, 13, 12, 13, 12, 13, 10], config=six), "shift") == list(range(4, 10))


def test_trend_of_six_just_meets() -> None:
    c = chart([9, 10, 11, 12, 13, 14])
    assert flagged(c, "trend") == list(range(4, 10))
    assert c.points[-1].signals == (Signal("trend", "high"),)


def test_trend_of_five_just_misses_an_equal_value_breaks_it() -> None:
    assert flagged(chart([9, 10, 11, 12, 13, 13]), "trend") == []


def test_falling_trend_and_configurable_length() -> None:
    falling = chart([13, 12, 11, 10, 9, 8])
    assert flagged(falling, "trend") == list(range(4, 10))
    assert Signal("trend", "low") in falling.points[-1].signals
    seven = SpcConfig(min_points=4, baseline_points=4, trend_points=7)
    assert flagged(chart([9, 10, 11, 12, 13, 14], config=seven), "trend") == []


def test_two_of_three_just_meets() -> None:
    c = chart([15, 12, 15])
    assert flagged(c, "two-of-three") == [4, 6]


def test_two_of_three_just_misses_with_one_near_point() -> None:
    assert flagged(chart([15, 12, 14.5]), "two-of-three") == []


def test_two_of_three_needs_all_three_on_one_side() -> None:
    assert flagged(chart([15, 10.9, 15]), "two-of-three") == []


def test_two_of_three_does_not_count_points_beyond_the_limit() -> None:
    c = chart([17, 12, 15])
    assert flagged(c, "two-of-three") == []
    assert flagged(c, "outside-limits") == [4]


def test_two_of_three_low_side() -> None:
    assert flagged(chart([7, 10, 7]), "two-of-three") == [4, 6]


def test_variation_reading_depends_on_the_better_direction() -> None:
    rising = [12, 13, 12, 13, 12, 13, 12]
    assert chart(rising, "higher").variation == "special-cause-improving"
    assert chart(rising, "lower").variation == "special-cause-concerning"
    assert chart(rising, "neither").variation == "special-cause-neither"
    assert chart([12, 13, 12, 13, 12, 13, 10], "lower").variation == "common-cause"
    assert "7 months above the mean" in reading(chart(rising, "lower"))


def test_conflicting_signals_read_as_improvement() -> None:
    # below the mean for 8 points (shift low) while rising for 7 (trend high)
    c = chart([6, 7, 8, 9, 10, 10.5, 10.8], "higher")
    assert {s.rule for s in c.points[-1].signals} == {"shift", "trend"}
    assert c.variation == "special-cause-improving"
    assert concerning_signals(c) == ()
    assert chart([6, 7, 8, 9, 10, 10.5, 10.8], "lower").variation == "special-cause-improving"


def test_assurance_reading() -> None:
    assert chart([11], "higher", target=12).assurance == "hit-and-miss"
    assert chart([11], "higher", target=5).assurance == "consistently-passing"
    assert chart([11], "higher", target=17).assurance == "consistently-failing"
    assert chart([11], "lower", target=17).assurance == "consistently-passing"
    assert chart([11], "lower", target=5).assurance == "consistently-failing"
    assert chart([11], "neither", target=5).assurance == "none"
    assert chart([11], "higher").assurance == "none"


def test_series_must_be_in_order() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        xmr([(date(2024, 2, 1), 1.0), (date(2024, 1, 1), 2.0)], "higher")


WATCH = WatchedSeries("entered-care-month", "Children starting to be looked after", "lower", config=FIXED)


def test_authority_alert_raises_on_the_seventh_month_and_resolves_two_months_after_the_shift_ends() -> None:
    series = months([*BASELINE, 12, 13, 12, 13, 12, 13, 12, 10, 10])
    transitions = series_transitions(WATCH, series)
    assert [(t.state, t.at) for t in transitions] == [("raised", date(2024, 11, 1)), ("resolved", date(2025, 1, 1))]
    raised = transitions[0]
    assert raised.scope == "authority" and raised.child_id is None
    assert raised.rule == "spc-entered-care-month" and raised.subject == "entered-care-month"
    assert raised.summary == "Children starting to be looked after: 7 months above the mean."
    assert [p.value for p in raised.points] == [12, 10, 12, 10, 12, 13, 12, 13, 12, 13, 12]
    assert raised.points[-1].signals == ("shift:high",)
    assert raised.limits["mean"] == 11
    assert transitions[1].fingerprint == raised.fingerprint
    assert AlertTransition.model_validate_json(raised.model_dump_json()) == raised


def test_no_authority_alert_when_the_signal_is_an_improvement() -> None:
    improving = WatchedSeries("entered-care-month", "Children starting to be looked after", "higher", config=FIXED)
    assert series_transitions(improving, months([*BASELINE, 12, 13, 12, 13, 12, 13, 12, 10])) == []


def test_six_months_above_raise_nothing() -> None:
    assert series_transitions(WATCH, months([*BASELINE, 12, 13, 12, 13, 12, 13, 10])) == []


def test_alert_scope_rules() -> None:
    base = {"fingerprint": "f", "rule": "r", "state": "raised", "at": "2025-01-01", "severity": "low", "summary": "s"}
    with pytest.raises(ValidationError, match="child_id is required"):
        AlertTransition.model_validate(base)
    with pytest.raises(ValidationError, match="no child_id"):
        AlertTransition.model_validate({**base, "scope": "authority", "child_id": "C1"})
    assert AlertTransition.model_validate({**base, "child_id": "C1"}).scope == "child"


def test_watched_series_are_configuration() -> None:
    from services.board.core.authority_alerts import DEFAULT_WATCHED, watched_from_config

    watched = watched_from_config(
        {
            "re-referrals-12m": {"enabled": False},
            "entered-care-month": {"shift_points": 6, "severity": "high", "target": 10},
            "cin-rate-per-10k": {"title": "Children in need", "better": "lower"},
        }
    )
    by_id = {w.indicator_id: w for w in watched}
    assert "re-referrals-12m" not in by_id and len(watched) == len(DEFAULT_WATCHED)
    assert by_id["entered-care-month"].config.shift_points == 6
    assert by_id["entered-care-month"].config.trend_points == 6
    assert (by_id["entered-care-month"].severity, by_id["entered-care-month"].target) == ("high", 10)
    assert by_id["cin-rate-per-10k"].rule == "spc-cin-rate-per-10k"
    with pytest.raises(ValueError, match="unknown setting"):
        watched_from_config({"entered-care-month": {"colour": "red"}})
    with pytest.raises(ValueError, match="needs a title"):
        watched_from_config({"new-series": {"better": "lower"}})
    with pytest.raises(ValueError, match="better must be"):
        watched_from_config({"entered-care-month": {"better": "up"}})


def test_authority_alert_from_the_events_of_children_starting_care() -> None:
    """Care starts per month: 2, 3, 2, 3 … for 13 months, then 6. Read as of month 14 the chart has mean
    38/14 = 2.714, mean moving range (12 × 1 + 4)/13 = 1.231, upper limit 2.714 + 2.66 × 1.231 = 5.988: the
    6 is beyond it, a concerning special cause for a measure where lower is better."""
    from schemas.events import parse_event
    from services.board.core.authority_alerts import DEFAULT_WATCHED, authority_transitions
    from services.rules.core.cin.facts import fold_all

    counts = [2, 3] * 6 + [2, 6]
    events = []
    for month, starts in enumerate(counts):
        for n in range(starts):
            day = date(2024 + month // 12, month % 12 + 1, 10)
            events.append(
                parse_event(
                    {
                        "event_id": f"e{month}-{n}",
                        "type": "care.started",
                        "child_id": f"c{month}-{n}",
                        "occurred_at": day.isoformat(),
                        "date_of_birth": "2015-01-01",
                        "sex": "F",
                        "legal_status": "C2",
                    },
                    received_at=None,
                )
            )
    watched = [w for w in DEFAULT_WATCHED if w.indicator_id == "entered-care-month"]
    transitions = authority_transitions(
        fold_all(events).values(), date(2024, 1, 1), date(2025, 2, 28), population=None, watched=watched
    )
    (raised,) = transitions
    assert raised.state == "raised" and raised.at == date(2025, 2, 1)
    assert raised.summary == "Children starting to be looked after: above the upper process limit."
    assert raised.limits["upper_process_limit"] == pytest.approx(38 / 14 + 2.66 * 16 / 13)
    assert [p.value for p in raised.points] == counts
