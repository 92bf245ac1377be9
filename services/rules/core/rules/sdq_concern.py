"""sdq-concern: the latest SDQ score is in the 'cause for concern' band."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..state import ChildState, Finding
from .base import RuleParams, RuleSpec, Verdict, evidence, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "sdq-concern"


class Params(RuleParams):
    threshold: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Latest SDQ total difficulties score 17 or more (0–13 normal, 14–16 borderline, 17+ concern).

    Basis: Promoting the health and well-being of looked-after children (2015); SSDA903 OC2 SDQ_SCORE.
    Boundary: a score equal to the threshold fires. The latest score dated on or before ``as_of`` counts;
    a later lower score resolves. Only while looked after.
    """
    params = config.params(ID, Params)
    if looked_after(state, as_of) is None:
        return Verdict()
    scores = [s for s in state.sdq_scores if s.on <= as_of]
    if not scores or scores[-1].score < params.threshold:
        return Verdict()
    latest = scores[-1]
    finding = Finding(
        rule=ID,
        subject="latest",
        severity=SPEC.severity,
        summary=(
            f"Child {state.child_id}'s latest SDQ score is {latest.score} (concern at {params.threshold} or more)."
        ),
        since=latest.on,
        evidence=evidence(state, [latest.event_id]),
    )
    return Verdict(findings=(finding,))


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="DH/DfE statutory guidance 2015 (SDQ); SDQ bands: 17+ cause for concern",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "sdq_scores"),
)
