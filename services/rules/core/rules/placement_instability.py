"""placement-instability: several placement starts within a rolling year."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from schemas.alerts import Severity

from ..definitions import continues_stay, is_temporary
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
    and §2.4: T-placements are returns to the "normal placement"), unless ``count_temporary``. A change of
    placement with the same carer (903 RNE T/U) is never a move (``definitions.continues_stay``).
    """
    if count_temporary:
        return [p for p in placements if not p.same_carer]
    counted: list[Placement] = []
    normal: Placement | None = None  # the latest non-temporary placement
    after_temporary = False
    for placement in placements:
        if is_temporary(placement):
            after_temporary = True
            continue
        if not continues_stay(normal, placement, after_temporary=after_temporary):
            counted.append(placement)
        normal, after_temporary = placement, False
    return counted


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """Three or more placements during the last 365 days (high); two is an early warning (low).

    Basis: DfE stability indicator (CLA with 3+ placements *during* the year; reference §3.2), counted as
    the board's placements-3plus-12m does: the placement in progress on the window's first day counts,
    and so does every placement starting in the window. The window is (as_of − 365 days, as_of]: a
    placement that started exactly 365 days before ``as_of`` counts only while still in progress on the
    window's first day. Placements are counted across periods of care; temporary placements T0–T4, the
    return from one to the same placement type and provider, and a same-carer change (903 RNE T/U) are
    not counted (see counted_placements). Only for children looked after on ``as_of``. Remaining
    difference from the board: the window is ``window_days`` (365) days, the board's 12 calendar months
    (one day longer when it spans 29 February). A period that began before the data may hide earlier
    placements: the rule reports only what it sees (the board counts such a child as not known).
    """
    params = config.params(ID, Params)
    if looked_after(state, as_of) is None:
        return Verdict()
    window_start = as_of - timedelta(days=params.window_days)
    counted = counted_placements(
        [p for p in state.placements if p.start <= as_of], count_temporary=params.count_temporary
    )
    recent = [p for p in counted if p.start > window_start]
    in_progress = _in_progress(state, counted, window_start + timedelta(days=1))
    if in_progress is not None:
        recent.insert(0, in_progress)
    # A start leaves the window ``window_days`` after it, and the placement before it stops being the one
    # in progress on the window's first day a day earlier.
    next_due = later_than(
        as_of,
        *(p.start + timedelta(days=days) for p in recent for days in (params.window_days - 1, params.window_days)),
    )
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
        summary=(f"Child {state.child_id} has had {len(recent)} placements during the last {params.window_days} days."),
        since=max(reached.start, window_start + timedelta(days=1)),
        evidence=evidence(state, [p.event_id for p in recent]),
        dates={"window_start": window_start + timedelta(days=1)},
    )
    return Verdict(findings=(finding,), next_due=next_due)


def _in_progress(state: ChildState, counted: Sequence[Placement], first_day: date) -> Placement | None:
    """The counted placement the child was in on ``first_day`` (None when not looked after that day)."""
    period = state.looked_after_on(first_day)
    if period is None:
        return None
    before = [p for p in counted if period.start <= p.start <= first_day]
    # A placement starting on the first day itself is one of the window's starts already.
    return before[-1] if before and before[-1].start < first_day else None


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="DfE placement-stability measure (3+ placements in 12 months); 2nd placement as early warning",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "placements"),
)
