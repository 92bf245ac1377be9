"""pathway-plan-overdue: a care leaver's pathway plan not reviewed within 6 months."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_months
from ..state import ChildState
from .base import RuleSpec, Verdict, earliest, overdue
from .leaving import CareLeaverParams, age_out, leaver

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "pathway-plan-overdue"


class Params(CareLeaverParams):
    interval_months: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Care leaver with no pathway plan review within 6 months of the last (or of leaving care).

    Basis: Care Leavers (England) Regulations 2010 and Children Act 1989 s23E: pathway plan reviewed at
    least every six months. Who: a care leaver as defined in ``base.care_leaver`` (left care aged 16+,
    13 weeks after 14, not adopted/SGO/died, under ``max_age`` = 21). Boundary: due by the later of the
    last review (reviews while still in care count) and the date care ended, + 6 calendar months;
    overdue from the day after; stops on the ``max_age`` birthday.
    """
    params = config.params(ID, Params)
    found = leaver(state, as_of, params)
    if found is None:
        return Verdict()
    reviews = [r for r in state.pathway_plan_reviews if r.on <= as_of]
    if reviews and reviews[-1].on >= found.end:
        reference: date = reviews[-1].on
        ref_id: str | None = reviews[-1].event_id
    else:
        reference, ref_id = found.end, found.period.end_event_id
    verdict = overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=f"leaver:{found.period.start.isoformat()}",
        deadline=add_months(reference, params.interval_months),
        as_of=as_of,
        summary=(f"Care leaver {state.child_id} has had no pathway plan review since {reference.isoformat()}."),
        event_ids=[ref_id],
        dates={"care_ended": found.end},
    )
    return Verdict(verdict.findings, earliest(verdict.next_due, age_out(state, found, as_of, params)))


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="Children Act 1989 s23E; Care Leavers (England) Regulations 2010: pathway plan reviewed 6-monthly",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "pathway_plan_reviews"),
)
