"""placement-distance: the current placement is far from home."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..state import ChildState, Finding
from .base import RuleParams, RuleSpec, Verdict, evidence, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "placement-distance"


class Params(RuleParams):
    miles: float


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Current placement more than 20 miles from the child's home.

    Basis: Children Act 1989 s22C(7)–(9) (placement near home, within the LA area, "so far as reasonably
    practicable"); DfE publishes the share placed over 20 miles away. Boundary: exactly 20 miles does not
    fire. A placement without a recorded distance never fires. One finding per placement.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of)
    if period is None:
        return Verdict()
    placements = [p for p in state.placements if period.start <= p.start <= as_of]
    if not placements:
        return Verdict()
    current = placements[-1]
    if current.distance_miles is None or current.distance_miles <= params.miles:
        return Verdict()
    finding = Finding(
        rule=ID,
        subject=f"placement:{current.event_id}",
        severity=SPEC.severity,
        summary=(
            f"Child {state.child_id} is placed {current.distance_miles:g} miles from home (more than {params.miles:g})."
        ),
        since=current.start,
        evidence=evidence(state, [current.event_id]),
    )
    return Verdict(findings=(finding,))


SPEC: Final = RuleSpec(
    id=ID,
    severity="low",
    basis="Children Act 1989 s22C(7)-(9) (placement near home); DfE indicator: placed over 20 miles",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "placements"),
)
