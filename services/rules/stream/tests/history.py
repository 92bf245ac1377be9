"""Small case histories for the rules stream tests: a few hand-made children and a synthetic authority."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from carewatch.testing.synthetic import authority
from schemas.events import CaseEvent, parse_event

UNTIL = date(2026, 7, 31)


def _event(event_id: str, type_: str, child: str, on: str, **fields: Any) -> CaseEvent:
    data = {"event_id": event_id, "type": type_, "child_id": child, "occurred_at": on, **fields}
    return parse_event(data, received_at=None)


def hand_made() -> list[CaseEvent]:
    """Children whose alerts are known: an IHA done late, a third placement, a missing episode whose
    return interview comes late, and an SDQ recorded in error then retracted."""
    return [
        # a1: no initial health assessment until well after the 20 working days
        _event("a1-1", "care.started", "a1", "2026-01-05", date_of_birth="2015-03-01", sex="F",
               legal_status="C2", team="north"),
        _event("a1-2", "placement.started", "a1", "2026-01-05", placement_type="U4"),
        _event("a1-3", "health_assessment.completed", "a1", "2026-02-20", kind="initial"),
        # b2: three placements within a year
        _event("b2-1", "care.started", "b2", "2026-01-12", date_of_birth="2011-07-14", sex="M",
               legal_status="C2", team="south"),
        _event("b2-2", "placement.started", "b2", "2026-01-12", placement_type="U4"),
        _event("b2-3", "placement.started", "b2", "2026-03-02", placement_type="U6", reason_for_change="CARPL"),
        _event("b2-4", "placement.started", "b2", "2026-05-18", placement_type="K2", reason_for_change="CARPL"),
        # c3: missing, back, return interview only after 72 hours
        _event("c3-1", "care.started", "c3", "2026-02-02", date_of_birth="2010-11-30", sex="F",
               legal_status="V2"),
        _event("c3-2", "placement.started", "c3", "2026-02-02", placement_type="U6"),
        _event("c3-3", "missing.started", "c3", "2026-04-10", episode_id="m1"),
        _event("c3-4", "missing.ended", "c3", "2026-04-11", episode_id="m1"),
        _event("c3-5", "return_interview.completed", "c3", "2026-04-20", episode_id="m1"),
        # d4: a worrying SDQ entered in error, then retracted
        _event("d4-1", "care.started", "d4", "2026-01-20", date_of_birth="2014-05-05", sex="M",
               legal_status="C1"),
        _event("d4-2", "sdq.recorded", "d4", "2026-03-01", score=24),
        _event("d4-3", "event.retracted", "d4", "2026-03-09", retracted_event_id="d4-2"),
        *cin_hand_made(),
    ]  # fmt: skip


def cin_hand_made() -> list[CaseEvent]:
    """Children in need and child protection: an assessment completed late, an initial conference held
    late and a plan whose visits then lapse, and a plan whose first review conference is late (the
    expected alerts are worked out in ``services/rules/core/cin/tests/test_cin_kernel.py``)."""
    g7_visits = [
        _event(f"g7-v{n}", "cp_visit.completed", "g7", (date(2026, 1, 14) + timedelta(days=7 * n)).isoformat(),
               plan_id="g7-P1", seen_alone=True)
        for n in range(1, 16)
    ]  # fmt: skip
    return [
        # e5: referral Mon 2 Mar 2026, assessment completed Tue 12 May (deadline Thu 7 May)
        _event("e5-1", "referral.received", "e5", "2026-03-02", referral_id="e5-R1", source="2A", team="east"),
        _event("e5-2", "assessment.started", "e5", "2026-03-03", assessment_id="e5-A1", referral_id="e5-R1"),
        _event("e5-3", "assessment.completed", "e5", "2026-05-12", assessment_id="e5-A1", referral_id="e5-R1",
               child_in_need=True, factors=["3B"]),
        # f6: s47 Mon 1 Jun 2026, ICPC Thu 25 Jun (deadline Mon 22 Jun); one visit on 9 Jul, then none
        _event("f6-1", "referral.received", "f6", "2026-05-29", referral_id="f6-R1", source="6"),
        _event("f6-2", "s47.started", "f6", "2026-06-01", enquiry_id="f6-S1"),
        _event("f6-3", "icpc.held", "f6", "2026-06-25", enquiry_id="f6-S1", plan_decided=True),
        _event("f6-4", "cp_plan.started", "f6", "2026-06-25", plan_id="f6-P1", category="NEG", previous_plans=0),
        _event("f6-5", "cp_visit.completed", "f6", "2026-07-09", plan_id="f6-P1", seen_alone=True),
        # g7: plan Wed 14 Jan 2026, weekly visits, first review Thu 16 Apr (due by Tue 14 Apr), ended 30 Apr
        _event("g7-1", "cp_plan.started", "g7", "2026-01-14", plan_id="g7-P1", category="EMO", previous_plans=1),
        *g7_visits,
        _event("g7-2", "cp_review.held", "g7", "2026-04-16", plan_id="g7-P1"),
        _event("g7-3", "cp_plan.ended", "g7", "2026-04-30", plan_id="g7-P1"),
        _event("g7-4", "case.closed", "g7", "2026-05-01", reason="RC7"),
    ]  # fmt: skip


def synthetic(children: int = 12, seed: int = 7) -> list[CaseEvent]:
    """A small synthetic authority (the board's generator), about a year of care histories."""
    return [
        parse_event(data, received_at=None) for data in authority(children, seed, date(2025, 7, 1), date(2026, 6, 30))
    ]


def history() -> list[CaseEvent]:
    return hand_made() + synthetic()
