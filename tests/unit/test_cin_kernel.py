"""The CIN/CP rules driven by the per-child kernel: replay (and so the stream worker, which runs the same
kernel) raises and resolves their alerts with wake dates, like the care rules; the state keeps the facts
through late events, the log horizon and the stored form.

2026 England bank holidays used below: Good Friday 3 Apr, Easter Monday 6 Apr, early May 4 May.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from schemas.events import CaseEvent, parse_event
from services.rules.core import codec
from services.rules.core.cin.facts import fold_child
from services.rules.core.config import RulesConfig
from services.rules.core.fold import Change, apply
from services.rules.core.kernel import Kernel
from services.rules.core.state import ChildState
from services.rules.replay import replay
from services.rules.stream.tests.history import UNTIL, cin_hand_made

CONFIG = RulesConfig.default()
CIN_RULES = {"assessment-overdue", "icpc-overdue", "cp-review-overdue", "cp-visit-overdue"}


def ev(event_id: str, kind: str, child: str, on: str, **fields: Any) -> CaseEvent:
    data = {"event_id": event_id, "type": kind, "child_id": child, "occurred_at": on, **fields}
    return parse_event(data, received_at=None)


def test_replay_raises_and_resolves_each_cin_rule_on_the_hand_worked_days() -> None:
    # e5: 45 working days from Mon 2 Mar 2026: Mar 3–6 (4), 9–13 (9), 16–20 (14), 23–27 (19), Mar 30–Apr 2
    # (23; Good Friday and Easter Monday skipped), Apr 7–10 (27), 13–17 (32), 20–24 (37), Apr 27–May 1
    # (42), 4 May skipped, May 5, 6, 7 (45): overdue from Fri 8 May, completed Tue 12 May.
    # f6: 15 working days from Mon 1 Jun: Jun 2–5 (4), 8–12 (9), 15–19 (14), 22 (15): overdue from Tue 23
    # Jun, ICPC Thu 25 Jun. Plan from 25 Jun: visit by Thu 9 Jul (Jun 26, 29, 30, Jul 1–3, 6–9), visited
    # then; next by Thu 23 Jul (Jul 10, 13–17, 20–23): overdue from Fri 24 Jul, still open on 31 Jul.
    # g7: plan Wed 14 Jan 2026, first review by Tue 14 Apr (3 months): overdue from Wed 15 Apr, held Thu
    # 16 Apr; weekly visits (never 10 working days apart); the plan ends 30 Apr.
    result = replay(cin_hand_made(), UNTIL, CONFIG)
    got = [(t.child_id, t.rule, t.state, t.at) for t in result.transitions]
    assert got == [
        ("g7", "cp-review-overdue", "raised", date(2026, 4, 15)),
        ("g7", "cp-review-overdue", "resolved", date(2026, 4, 16)),
        ("e5", "assessment-overdue", "raised", date(2026, 5, 8)),
        ("e5", "assessment-overdue", "resolved", date(2026, 5, 12)),
        ("f6", "icpc-overdue", "raised", date(2026, 6, 23)),
        ("f6", "icpc-overdue", "resolved", date(2026, 6, 25)),
        ("f6", "cp-visit-overdue", "raised", date(2026, 7, 24)),
    ]
    raised = {t.rule: t for t in result.transitions if t.state == "raised"}
    assert raised["assessment-overdue"].team == "east"  # routed by the referral's team
    assert [e.event_id for e in raised["icpc-overdue"].evidence] == ["f6-2"]
    assert raised["cp-visit-overdue"].dates == {"last_visit": date(2026, 7, 9), "deadline": date(2026, 7, 23)}
    assert [f.rule for f in result.states["f6"].findings] == ["cp-visit-overdue"]


def test_the_kernel_wakes_a_child_on_the_day_a_cin_clock_runs_out() -> None:
    kernel = Kernel(CONFIG)
    events = cin_hand_made()
    step = kernel.on_event(None, events[0], date(2026, 3, 2))
    assert step.wake_at is None  # a referral alone starts no clock (no assessment asked for yet)
    step = kernel.on_event(step.state, events[1], date(2026, 3, 3))
    assert step.wake_at == date(2026, 5, 8) and step.transitions == ()
    assert kernel.on_tick(step.state, date(2026, 5, 7)).transitions == ()
    (raised,) = kernel.on_tick(step.state, date(2026, 5, 8)).transitions
    assert (raised.rule, raised.state, raised.at) == ("assessment-overdue", "raised", date(2026, 5, 8))


def test_a_cin_rule_switched_off_in_the_rules_file_raises_nothing() -> None:
    quiet = RulesConfig.from_mapping({"rules": {"icpc-overdue": {"enabled": False}}})
    rules = {t.rule for t in replay(cin_hand_made(), UNTIL, quiet).transitions}
    assert rules == CIN_RULES - {"icpc-overdue"}
    longer = RulesConfig.from_mapping({"rules": {"assessment-overdue": {"working_days": 60}}})
    late = [t for t in replay(cin_hand_made(), UNTIL, longer).transitions if t.rule == "assessment-overdue"]
    assert late == []  # completed on the 47th working day: within 60


def _weekly_plan(child: str, weeks: int) -> list[CaseEvent]:
    start = date(2025, 1, 8)
    visits = [
        ev(f"{child}-v{n}", "cp_visit.completed", child, (start + timedelta(days=7 * n)).isoformat(), plan_id="P")
        for n in range(1, weeks + 1)
    ]
    return [ev(f"{child}-p", "cp_plan.started", child, start.isoformat(), plan_id="P", category="NEG"), *visits]


def test_the_facts_outlive_the_log_and_a_late_visit_refolds_to_the_in_order_facts() -> None:
    # A year of weekly visits: the plan's start left the re-fold log long ago (it lives in the base).
    events = _weekly_plan("h8", 52)
    late = events.pop(45)  # arrives last, dated within the log
    state: ChildState | None = None
    for event in [*events, late]:
        state, change = apply(state, event)
    assert state is not None and change is Change.REFOLDED
    assert state.base is not None and state.base.cin is not None
    in_order: ChildState | None = None
    for event in sorted([*events, late], key=lambda e: e.occurred_on):
        in_order, _ = apply(in_order, event)
    assert in_order is not None and state.cin == in_order.cin
    # The visits before the log's first month were pruned but the latest; the plan is the full fold's.
    full = fold_child("h8", [*events, late])
    (kept,), (every,) = state.cin.cp_plans, full.cp_plans
    assert kept.visits == every.visits[-len(kept.visits) :] and len(kept.visits) < len(every.visits)
    assert (kept.plan_id, kept.start, kept.ref) == (every.plan_id, every.start, every.ref)
    # A redelivered old visit that left the log is still known while a fact cites it: nothing changes.
    cited = next(e for e in events if e.event_id == kept.visits[0].event_id)
    assert state.log_from is not None and cited.occurred_on < state.log_from
    again, change = apply(state, cited)
    assert change is Change.DUPLICATE and again.cin == state.cin
    # One pruned away is no longer known: taken for a deep correction (flagged for a rebuild), as for the
    # care facts the horizon prunes.
    again, change = apply(state, events[3])
    assert change is Change.DEEP and again.needs_rebuild


def test_the_stored_state_keeps_the_cin_facts() -> None:
    states = replay(cin_hand_made(), UNTIL, CONFIG).states
    assert all(state.cin is not None for state in states.values())
    for state in states.values():
        back = codec.loads(codec.dumps(state))
        assert back == state and back.cin == state.cin
