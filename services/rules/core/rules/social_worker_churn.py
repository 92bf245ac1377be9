"""social-worker-churn: a third different social worker within a rolling year."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from ..state import ChildState, Finding
from .base import RuleParams, RuleSpec, Verdict, evidence, later_than, looked_after

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "social-worker-churn"


class Params(RuleParams):
    window_days: int
    count: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Three or more different social workers within the last 365 days.

    Basis: DfE stability measures (children with 3+ social workers in the year; SSDA903 SWEpisodes).
    Counted: the worker allocated at the start of the window (as_of − 364 days) plus every worker whose
    allocation started inside the window; the same worker allocated twice counts once. Only for
    children looked after on ``as_of``.
    """
    params = config.params(ID, Params)
    if looked_after(state, as_of) is None:
        return Verdict()
    window_start = as_of - timedelta(days=params.window_days - 1)
    changes = [w for w in state.social_workers if w.start <= as_of]
    before = [w for w in changes if w.start < window_start]
    inside = [w for w in changes if w.start >= window_start]
    allocations = ([before[-1]] if before else []) + inside
    distinct: dict[str, str] = {}
    for allocation in allocations:
        distinct.setdefault(allocation.worker_id, allocation.event_id)
    next_due = later_than(as_of, *(w.start + timedelta(days=params.window_days) for w in inside))
    if len(distinct) < params.count:
        return Verdict(next_due=next_due)
    reached = [w for w in allocations if distinct[w.worker_id] == w.event_id][params.count - 1]
    finding = Finding(
        rule=ID,
        subject="rolling-year",
        severity=SPEC.severity,
        summary=(
            f"Child {state.child_id} has had {len(distinct)} different social workers in the last "
            f"{params.window_days} days."
        ),
        since=max(reached.start, window_start),
        evidence=evidence(state, list(distinct.values())),
        dates={"window_start": window_start},
    )
    return Verdict(findings=(finding,), next_due=next_due)


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="DfE stability measures: 3+ social workers in 12 months (SSDA903 SWEpisodes, 2023/24 on)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "social_workers"),
)
