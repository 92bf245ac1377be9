"""under16-unregulated: a child under 16 in a setting not allowed for under-16s."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from schemas import codes

from ..calendar import add_years
from ..definitions import UNREGULATED_BAN_FROM
from ..state import ChildState, Finding
from .base import RuleParams, RuleSpec, Verdict, evidence, later_than, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "under16-unregulated"


class Params(RuleParams):
    age: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Child under 16 whose current placement type is one not allowed under 16 (``NOT_ALLOWED_UNDER_16``:
    unregulated/other arrangements, supported accommodation, independent living).

    Basis: CPPCR 2010 as amended (ban on placing under-16s in unregulated accommodation, 9 Sept 2021);
    SSDA903 validation rules 370/371. Boundary: fires from the later of the placement start and the day
    the ban took effect (``definitions.UNREGULATED_BAN_FROM``, 9 September 2021; nothing before it) while
    the child is under 16; resolves on the 16th birthday (29 Feb birthdays: 1 March in non-leap years).
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of)
    if period is None:
        return Verdict()
    placements = [p for p in state.placements if period.start <= p.start <= as_of]
    if not placements or placements[-1].placement_type not in codes.NOT_ALLOWED_UNDER_16:
        return Verdict()
    current = placements[-1]
    sixteenth = add_years(period.date_of_birth, params.age)
    if as_of >= sixteenth:
        return Verdict()
    if as_of < UNREGULATED_BAN_FROM:
        # Nothing before the ban; a child 16 by the day it took effect is never caught by it.
        return Verdict(next_due=UNREGULATED_BAN_FROM if sixteenth > UNREGULATED_BAN_FROM else None)
    finding = Finding(
        rule=ID,
        subject=f"placement:{current.event_id}",
        severity=SPEC.severity,
        summary=(
            f"Child {state.child_id}, aged under {params.age}, is in a placement of type "
            f"{current.placement_type}, which is not allowed under {params.age}."
        ),
        since=max(current.start, UNREGULATED_BAN_FROM),
        evidence=evidence(state, [current.event_id]),
        dates={"birthday": sixteenth},
    )
    return Verdict(findings=(finding,), next_due=later_than(as_of, sixteenth))


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="CPPCR 2010 as amended 2021 (no under-16s in unregulated settings); SSDA903 rules 370/371",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "placements"),
)
