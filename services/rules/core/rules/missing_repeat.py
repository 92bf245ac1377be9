"""missing-repeat: repeated missing episodes within a short window."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from ..state import ChildState, Finding
from .base import RuleParams, RuleSpec, Verdict, evidence, later_than, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "missing-repeat"


class Params(RuleParams):
    window_days: int
    count: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Three or more missing episodes started within the last 90 days.

    Basis: DfE missing guidance (2014) and Ofsted Annex A: repeat missing is a risk marker (CSE/CCE).
    Window: starts in (as_of − 90 days, as_of]; an episode that started exactly 90 days ago has left it.
    Only for children looked after on ``as_of``, and only episodes that started while looked after
    (missing and away alike: both are risk markers here; the board's DfE count takes missing only).
    """
    params = config.params(ID, Params)
    if looked_after(state, as_of) is None:
        return Verdict()
    window_start = as_of - timedelta(days=params.window_days)
    recent = sorted(
        (
            e
            for e in state.missing_episodes
            if e.start is not None and window_start < e.start <= as_of and state.looked_after_on(e.start)
        ),
        key=lambda e: (e.start, e.episode_id),
    )
    next_due = later_than(as_of, *(e.start + timedelta(days=params.window_days) for e in recent if e.start is not None))
    if len(recent) < params.count:
        return Verdict(next_due=next_due)
    reached = recent[params.count - 1].start
    assert reached is not None
    finding = Finding(
        rule=ID,
        subject="rolling-window",
        severity=SPEC.severity,
        summary=(f"Child {state.child_id} has gone missing {len(recent)} times in the last {params.window_days} days."),
        since=reached,
        evidence=evidence(state, [e.start_event_id for e in recent]),
        dates={"window_start": window_start + timedelta(days=1)},
    )
    return Verdict(findings=(finding,), next_due=next_due)


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="DfE statutory guidance on missing children (2014); Ofsted ILACS Annex A",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "missing_episodes"),
)
