"""visit-overdue: statutory social-worker visit not made in time (CPPCR 2010 reg 28)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from ..calendar import add_months, add_years
from ..state import ChildState
from .base import ONE_DAY, RuleParams, RuleSpec, Verdict, looked_after, overdue

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "visit-overdue"


class Params(RuleParams):
    first_visit_days: int
    interval_weeks: int
    long_term_interval_months: int
    long_term_after_years: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No visit within 7 days of a placement starting, then gaps longer than 6 weeks; 3 months once the
    placement has lasted a year and is intended to last until the child is 18.

    Basis: CPPCR 2010 reg 28(2)(a)–(c). The clock restarts at every placement start (temporary placements
    included: reg 28(2)(a) says "any placement"). Boundaries (calendar days): the first visit is due by the
    placement start + 7 days (a visit on the start day counts); afterwards the next is due by the last
    visit + 42 days, or + 3 calendar months when the last visit was on or after the placement's first
    anniversary and the placement is intended until 18. Overdue from the day after the due date. Not
    modelled: reg 28(3)/(4) weekly visits, reg 28(3A) reduced visits. Short breaks excluded.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    if period is None:
        return Verdict()
    # The last placement of the period and the last visit since it (by position, as the collections
    # are kept): scanned from the end, as the rule runs on every visit and every due date.
    placement = next((p for p in reversed(state.placements) if period.start <= p.start <= as_of), None)
    if placement is None:
        return Verdict()
    last = next((v for v in reversed(state.visits) if placement.start <= v.on <= as_of), None)
    if last is None:
        deadline = placement.start + timedelta(days=params.first_visit_days)
        what, last_id = "a first visit", placement.event_id
    else:
        long_term = bool(placement.intended_until_18) and last.on >= add_years(
            placement.start, params.long_term_after_years
        )
        if long_term:
            deadline = add_months(last.on, params.long_term_interval_months)
        else:
            deadline = last.on + timedelta(weeks=params.interval_weeks)
        what, last_id = "a visit", last.event_id
    if as_of <= deadline:
        return Verdict(next_due=deadline + ONE_DAY)  # what overdue() gives, without composing the summary
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=f"placement:{placement.event_id}",
        deadline=deadline,
        as_of=as_of,
        summary=(f"Child {state.child_id} is overdue {what} from their social worker (due by {deadline.isoformat()})."),
        event_ids=[placement.event_id, last_id] if last_id != placement.event_id else [placement.event_id],
        dates={"placement_start": placement.start},
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="CPPCR 2010 reg 28(2): 1 week after a placement starts, then 6-weekly; 3-monthly after year 1 "
    "if intended until 18",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "placements", "visits"),
)
