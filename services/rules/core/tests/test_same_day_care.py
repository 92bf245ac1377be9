"""Care ending and starting on one day, worked by hand: a same-day restart (one period ends on D and the
next begins on D, SSDA903 rule 431) and a one-day period (started and ended on D), whatever the order in
which the events arrive, within the re-fold log and once the day has left it for the base."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import permutations
from typing import Any

from schemas.events import parse_event
from services.rules.core import codec
from services.rules.core.fold import Change, apply, refold
from services.rules.core.horizon import Horizon
from services.rules.core.indicators import contributions
from services.rules.core.order import in_fold_order
from services.rules.core.state import ChildState

from .factory import ev, fold, parsed, started

DOB = date(2010, 5, 1)
FIRST = date(2024, 9, 2)
D = date(2025, 3, 10)
WIDE = Horizon(log_days=400)
"""A log holding every event of these histories: every late event re-folds exactly."""


def _restart() -> list[dict[str, Any]]:
    return [
        started(FIRST, DOB, event_id="p1-start"),
        ev("placement.started", FIRST, event_id="p1-place", placement_type="U4"),
        ev("care.ended", D, event_id="p1-end", reason="E13"),
        started(D, DOB, event_id="p2-start"),
        ev("placement.started", D, event_id="p2-place", placement_type="K2"),
    ]


def _one_day() -> list[dict[str, Any]]:
    return [
        ev("care.ended", D, event_id="d-end", reason="E4A"),
        started(D, DOB, event_id="d-start"),
        ev("placement.started", D, event_id="d-place", placement_type="U4"),
    ]


def _spans(state: ChildState) -> list[tuple[date, date | None]]:
    return [(p.start, p.end) for p in state.periods]


def test_a_same_day_restart_in_fold_order_ends_the_old_period_and_opens_the_new() -> None:
    ordered = in_fold_order(parsed(_restart()))
    # The log's order puts the day's care.started before its care.ended ...
    assert [e.event_id for e in ordered][2:] == ["p2-start", "p2-place", "p1-end"]
    state: ChildState | None = None
    changes = []
    for event in ordered:
        state, change = apply(state, event, WIDE)
        changes.append(change)
    assert state is not None
    # ... and the care.ended, arriving last, re-folds the day with the ending first.
    assert changes[-1] is Change.REFOLDED
    assert _spans(state) == [(FIRST, D), (D, None)]
    assert [p.start_event_id for p in state.periods] == ["p1-start", "p2-start"]
    assert state.periods[0].end_event_id == "p1-end"
    assert state.anomalies == ()
    placement = state.current_placement()
    assert placement is not None and placement.event_id == "p2-place"
    # Looked after on every day: by the old period up to the day before, by the new one from D.
    assert state.looked_after_on(D - timedelta(days=1)) is state.periods[0]
    assert state.looked_after_on(D) is state.periods[1]
    assert "cla-count" in contributions(state, D + timedelta(days=30))
    assert refold(state, WIDE) == state


def test_a_same_day_restart_folds_the_same_in_every_arrival_order() -> None:
    expected = fold(_restart(), WIDE)
    assert _spans(expected) == [(FIRST, D), (D, None)]
    for order in permutations(_restart()):
        state = fold(order, WIDE)
        assert codec.encode(state) == codec.encode(expected), [e["event_id"] for e in order]


def test_a_one_day_period_folds_the_same_in_every_arrival_order() -> None:
    for order in permutations(_one_day()):
        state = fold(order, WIDE)
        assert _spans(state) == [(D, D)], [e["event_id"] for e in order]
        assert state.periods[0].end_event_id == "d-end"
        assert state.anomalies == ()  # the placement on D is in the period
        # The end date itself is not looked after: a one-day period covers no whole day.
        assert state.looked_after_on(D) is None
        assert refold(state, WIDE) == state


def test_a_one_day_period_after_an_earlier_period_ended() -> None:
    history = [
        started(FIRST, DOB, event_id="p1-start"),
        ev("care.ended", D - timedelta(days=20), event_id="p1-end", reason="E4A"),
        *_one_day(),
    ]
    for order in permutations(history):
        state = fold(order, WIDE)
        assert _spans(state) == [(FIRST, D - timedelta(days=20)), (D, D)]
        assert state.anomalies == ()


def test_a_restart_and_the_new_period_ending_the_same_day() -> None:
    # Three care events on D: the open period ends, a new one starts and ends (its ending recorded later).
    history = [
        started(FIRST, DOB, event_id="p1-start"),
        ev("care.ended", D, event_id="end-a", reason="E13"),
        started(D, DOB, event_id="p2-start"),
        ev("care.ended", D, event_id="end-b", reason="E4A"),
    ]
    for order in permutations(history):
        state = fold(order, WIDE)
        assert _spans(state) == [(FIRST, D), (D, D)], [e["event_id"] for e in order]
        assert [p.end_event_id for p in state.periods] == ["end-a", "end-b"]
        assert state.anomalies == ()


def test_care_ending_on_a_day_without_a_new_start_still_folds_the_days_events_first() -> None:
    # The exception needs both: a placement recorded on the day care ends stays in the period.
    state = fold(
        [
            started(FIRST, DOB),
            ev("care.ended", D, event_id="end", reason="E4A"),
            ev("visit.completed", D, event_id="visit"),
        ]
    )
    assert _spans(state) == [(FIRST, D)]
    assert state.anomalies == ()


def test_a_start_while_looked_after_without_an_ending_that_day_is_still_ignored() -> None:
    # The exception needs a care.ended on the day: a start alone, or a second start on the day a period
    # began, comes while the child is looked after and is ignored as before.
    for history in (
        [started(FIRST, DOB, event_id="a-first"), started(D, DOB, event_id="b-second")],
        [started(FIRST, DOB, event_id="a-first"), started(FIRST, DOB, event_id="b-second")],
    ):
        state = fold(history)
        assert _spans(state) == [(FIRST, None)]
        assert [(a.event_id, a.reason) for a in state.anomalies] == [
            ("b-second", "care started while already looked after (ignored)")
        ]


def test_retracting_either_half_of_a_restart() -> None:
    no_end = fold([*_restart(), ev("event.retracted", D + timedelta(days=3), retracted_event_id="p1-end")], WIDE)
    assert _spans(no_end) == [(FIRST, None)]  # the new start is ignored: the child was looked after anyway
    assert [a.event_id for a in no_end.anomalies] == ["p2-start"]
    no_start = fold([*_restart(), ev("event.retracted", D + timedelta(days=3), retracted_event_id="p2-start")], WIDE)
    assert _spans(no_start) == [(FIRST, D)]
    assert no_start.anomalies == ()  # the placement on D folds before the day's ending, as on any day


def test_a_restart_day_that_left_the_log_is_in_the_base_as_it_was_folded() -> None:
    # A short log: the restart day leaves the log for the base as later events come.
    short = Horizon(log_days=30)
    later = [ev("visit.completed", D + timedelta(days=n), event_id=f"v{n}") for n in (10, 40, 80)]
    first, day = _restart()[:2], _restart()[2:]
    for order in ([*first, *day, *later], [*first, *day[::-1], *later]):
        state = fold(order, short)
        assert state.log_from is not None and state.log_from > D
        assert _spans(state) == [(FIRST, D), (D, None)]
        assert state.base is not None and _spans(state.base) == [(FIRST, D), (D, None)]
        assert state.anomalies == () and not state.needs_rebuild


def test_a_late_restart_end_within_the_log_refolds_what_came_after() -> None:
    # The care.ended of the restart arrives weeks late, after later events of the new period.
    history = [e for e in _restart() if e["event_id"] != "p1-end"]
    history += [ev("visit.completed", D + timedelta(days=14), event_id="visit")]
    before = fold(history)
    assert _spans(before) == [(FIRST, None)]
    state, change = apply(before, parse_event(_restart()[2], received_at=None))
    assert change is Change.REFOLDED
    assert _spans(state) == [(FIRST, D), (D, None)]
    assert state.anomalies == ()
