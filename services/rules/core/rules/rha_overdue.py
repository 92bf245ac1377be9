"""rha-overdue: review health assessment not done within 6 months (under 5) / 12 months (5 and over)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_months, add_years
from ..definitions import full_care_since
from ..state import ChildState
from .base import RuleParams, RuleSpec, Verdict, looked_after, overdue, period_subject

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "rha-overdue"


class Params(RuleParams):
    under_age_months: int
    over_age_months: int
    age_switch: int
    prior_assessment_months: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No health assessment within 6 months (child under 5) or 12 months (5 and over) of the last one.

    Basis: CPPCR 2010 reg 7; Promoting the health and well-being of looked-after children (2015).
    Boundary: the deadline is the last assessment date plus 6 calendar months (end-of-month clamp); if the
    child is already 5 on that day the 12-month interval applies instead (a child turning 5 between
    assessments moves to the yearly cycle). Overdue from the day after the deadline. Only applies once a
    first assessment exists (before that, iha-overdue); short-break children are excluded, and after a
    move to a full order only assessments from the initial one of that move on count.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    since = None if period is None else full_care_since(state, period, as_of)
    if period is None or since is None:
        return Verdict()
    earliest_counted = add_months(since, -params.prior_assessment_months)
    done = [a for a in state.health_assessments if earliest_counted <= a.on <= as_of]
    if not done:
        return Verdict()
    last = done[-1]
    deadline = add_months(last.on, params.under_age_months)
    if deadline >= add_years(period.date_of_birth, params.age_switch):
        deadline = add_months(last.on, params.over_age_months)
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=period_subject(period),
        deadline=deadline,
        as_of=as_of,
        summary=(
            f"Child {state.child_id} is overdue a review health assessment: the last was on "
            f"{last.on.isoformat()}, due again by {deadline.isoformat()}."
        ),
        event_ids=[last.event_id],
        dates={"last_assessment": last.on},
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="CPPCR 2010 reg 7; statutory guidance 2015 (6-monthly under 5, yearly from 5)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "health_assessments"),
)
