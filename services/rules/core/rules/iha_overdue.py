"""iha-overdue: no initial health assessment within 20 working days of care starting."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_months, add_working_days
from ..definitions import full_care_since, initial_clocks_unknown
from ..state import ChildState
from .base import RuleParams, RuleSpec, Verdict, looked_after, overdue, period_subject

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "iha-overdue"


class Params(RuleParams):
    working_days: int
    prior_assessment_months: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No health assessment within ``working_days`` (20) working days of the start of the period of care.

    Basis: CPPCR 2010 reg 7 — assessment before the first placement or, if not reasonably practicable,
    before the first review (20 WD, reg 33); not required if one was done in the previous 3 months.
    Boundary: the deadline is the 20th working day after the day care started (that day not counted;
    weekends and England & Wales bank holidays skipped); any health assessment dated from
    ``prior_assessment_months`` before the start up to ``as_of`` satisfies it; overdue from the day after
    the deadline. Short-break children (LS V3/V4) are excluded; a child who moves from short breaks to a
    full order within the period is assessed from the day of that move (``definitions.full_care_since``:
    the clock is never back-dated to the start of the short breaks). Not checked for a period that began
    before the data (``definitions.initial_clocks_unknown``).
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    since = None if period is None else full_care_since(state, period, as_of)
    if period is None or since is None or initial_clocks_unknown(period, since):
        return Verdict()
    earliest_counted = add_months(since, -params.prior_assessment_months)
    if any(earliest_counted <= a.on <= as_of for a in state.health_assessments):
        return Verdict()
    deadline = add_working_days(since, params.working_days)
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=period_subject(period),
        deadline=deadline,
        as_of=as_of,
        summary=(
            f"Child {state.child_id} has had no initial health assessment {params.working_days} working days "
            f"after coming into care on {since.isoformat()}."
        ),
        event_ids=[period.start_event_id],
        dates={"care_started": since},
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="CPPCR 2010 reg 7 (health assessment before first review); statutory guidance 2015",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "health_assessments"),
)
