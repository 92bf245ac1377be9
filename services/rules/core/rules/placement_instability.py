"""placement-instability: several placement starts within a rolling year."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from schemas import codes
from schemas.alerts import Severity

from ..state import ChildState, Finding, Placement
from .base import RuleParams, RuleSpec, Verdict, evidence, later_than, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "placement-instability"


class Params(RuleParams):
    window_days: int
    high_count: int
    warning_count: int
    count_temporary: bool


def counted_placements(placements: Sequence[Placement], *, count_temporary: bool) -> list[Placement]:
    """Placement starts that count as a move.

    Temporary placements (T0–T4: hospital, holiday, respite while carers are away) are not moves, and
    neither is the return after one to the same kind of placement with the same provider (reference §1.10
    and §2.4: T-placements are returns to the "normal placement"), unless ``count_temporary``.
    """
    if count_temporary:
        return list(placements)
    counted: list[Placement] = []
    normal: Placement | None = None  # the latest non-temporary placement
    after_temporary = False
    for placement in placements:
        if placement.placement_type in codes.TEMPORARY_PLACEMENTS:
            after_temporary = True
            continue
        returning = (
            after_temporary
            and normal is not None
            and (normal.placement_type, normal.provider) == (placement.placement_type, placement.provider)
        )
        if not returning:
            counted.append(placement)
        normal, after_temporary = placement, False
    return counted


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Three or more placement starts within the last 365 days (high); two is an early warning (low).

    Basis: DfE stability indicator (CLA with 3+ placements in the year; reference §3.2). The window is
    (as_of − 365 days, as_of]: a start exactly 365 days before ``as_of`` has left it. Starts are counted
    across periods of care, the first placement of a period included; temporary placements T0–T4 and the
    return from one to the same placement type and provider are not counted (see counted_placements).
    Only for children looked after on ``as_of``.
    """
    params = config.params(ID, Params)
    if looked_after(state, as_of) is None:
        return Verdict()
    window_start = as_of - timedelta(days=params.window_days)
    counted = counted_placements(
        [p for p in state.placements if p.start <= as_of], count_temporary=params.count_temporary
    )
    recent = [p for p in counted if p.start > window_start]
    next_due = later_than(as_of, *(p.start + timedelta(days=params.window_days) for p in recent))
    severity: Severity
    if len(recent) >= params.high_count:
        severity, reached = "high", recent[params.high_count - 1]
    elif len(recent) >= params.warning_count:
        severity, reached = "low", recent[params.warning_count - 1]
    else:
        return Verdict(next_due=next_due)
    finding = Finding(
        rule=ID,
        subject="rolling-year",
        severity=severity,
        summary=(
            f"Child {state.child_id} has had {len(recent)} placements starting in the last {params.window_days} days."
        ),
        since=reached.start,
        evidence=evidence(state, [p.event_id for p in recent]),
        dates={"window_start": window_start + timedelta(days=1)},
    )
    return Verdict(findings=(finding,), next_due=next_due)


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="DfE placement-stability measure (3+ placements in 12 months); 2nd placement as early warning",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "placements"),
)
