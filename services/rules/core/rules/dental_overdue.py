"""dental-overdue: no dental check within 12 months."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_months, add_years
from ..definitions import full_care_since
from ..state import ChildState
from .base import ONE_DAY, RuleParams, RuleSpec, Verdict, later_than, looked_after, overdue, period_subject

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "dental-overdue"


class Params(RuleParams):
    interval_months: int
    min_age: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No dental check within 12 months of the last one (children aged 1 and over).

    Basis: CPPCR 2010 Sch 1 para 1(4)(a) (health plan covers routine dental checks; no statutory interval)
    and the SSDA903 OC2 ``TEETH_CHECK`` indicator (a check in the year). Boundary: due by the last check
    (any date, before care too) + 12 calendar months; with no check, by 12 months after the later of the
    start of full care (``definitions.full_care_since``) and the 1st birthday; overdue from the day after.
    Short breaks (LS V3/V4) are outside the health clocks (as the OC2 cohort); after a move to a full order
    the clock with no check starts that day, never back-dated.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    since = None if period is None else full_care_since(state, period, as_of)
    if period is None or since is None:
        return Verdict()
    eligible_from = add_years(period.date_of_birth, params.min_age)
    if as_of < eligible_from:
        first_due = add_months(max(since, eligible_from), params.interval_months)
        # Overdue from the day after the first due date (as ``overdue`` says once the child is eligible).
        return Verdict(next_due=later_than(as_of, first_due + ONE_DAY))
    checks = [c for c in state.dental_checks if c.on <= as_of]
    if checks:
        last = checks[-1]
        reference, ref_id, what = last.on, last.event_id, f"the last was on {last.on.isoformat()}"
    else:
        reference, ref_id, what = max(since, eligible_from), period.start_event_id, "none is recorded"
    deadline = add_months(reference, params.interval_months)
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=period_subject(period),
        deadline=deadline,
        as_of=as_of,
        summary=f"Child {state.child_id} is overdue a dental check ({what}).",
        event_ids=[ref_id],
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="low",
    basis="CPPCR 2010 Sch 1 para 1(4)(a); SSDA903 OC2 TEETH_CHECK (check in the year)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "dental_checks"),
)
