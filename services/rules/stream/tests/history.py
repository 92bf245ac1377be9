"""Small case histories for the rules stream tests: a few hand-made children and a synthetic authority."""

from __future__ import annotations

from datetime import date
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
    ]  # fmt: skip


def synthetic(children: int = 12, seed: int = 7) -> list[CaseEvent]:
    """A small synthetic authority (the board's generator), about a year of care histories."""
    return [
        parse_event(data, received_at=None) for data in authority(children, seed, date(2025, 7, 1), date(2026, 6, 30))
    ]


def history() -> list[CaseEvent]:
    return hand_made() + synthetic()
