"""The demo's deliberate turn: the synthetic authority's entries to care rise for 8 months in the demo year,
and the board's early-warning reading of its history raises the authority alert on that series, which the
same history without the turn does not."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from schemas.alerts import AlertTransition
from schemas.events import parse_event
from services.board.core.authority_alerts import DEFAULT_WATCHED
from services.board.early_warning import authority_alerts
from services.demo.generator import TURN_FROM_MONTH, TURN_MONTHS, generate
from services.rules.core.calendar import add_months

UNTIL = date(2025, 6, 30)
START = UNTIL - timedelta(days=round(12 * 30.44))
WATCHED = tuple(w for w in DEFAULT_WATCHED if w.indicator_id == "entered-care-month")


@cache
def _alerts(turn: bool) -> tuple[AlertTransition, ...]:
    events = [
        parse_event(raw, received_at=None) for raw in generate(seed=1, months=12, start=START, bad_share=0.0, turn=turn)
    ]
    return tuple(authority_alerts(events, UNTIL, population=None, watched=WATCHED))


def test_the_turn_raises_the_entered_care_alert_during_the_turn() -> None:
    raised = [t for t in _alerts(True) if t.state == "raised"]
    # The signal may lapse and return within the turn (a month near the mean ends a run): each raise is
    # this series', and the first comes during the turn.
    assert raised and {t.rule for t in raised} == {"spc-entered-care-month"}
    alert = raised[0]
    turn_from = add_months(START, TURN_FROM_MONTH)
    assert turn_from <= alert.at < add_months(turn_from, TURN_MONTHS + 1)
    assert alert.scope == "authority" and alert.child_id is None and alert.subject == "entered-care-month"
    assert alert.summary.startswith("Children starting to be looked after:")
    assert any(point.signals for point in alert.points) and alert.limits["mean"] > 0


def test_the_same_authority_without_the_turn_raises_nothing() -> None:
    assert _alerts(False) == ()
