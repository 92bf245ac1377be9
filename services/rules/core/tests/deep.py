"""A child whose care ended, then a retraction of that ending dated long after it: a deep correction even
in date order (the ending left the re-fold log before the retraction came). Exact, the child has been in
care all along with no visits or reviews since: statutory alerts are due that the flagged state misses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

UNTIL = date(2024, 3, 31)
RETRACTED_ON = date(2024, 2, 1)


def deep_child(child: str = "deep-1") -> list[dict[str, Any]]:
    start = date(2023, 1, 2)

    def event(n: int, type_: str, on: date, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"{child}-{n}", "type": type_, "child_id": child, "occurred_at": on.isoformat(), **fields}

    events = [
        event(1, "care.started", start, date_of_birth="2012-05-01", sex="F", legal_status="C2", team="east"),
        event(2, "placement.started", start, placement_type="U4", provider="PR1"),
        event(3, "health_assessment.completed", start + timedelta(days=10), kind="initial"),
        event(4, "visit.completed", start + timedelta(days=5)),
        event(5, "visit.completed", start + timedelta(days=40)),
        event(6, "review.held", start + timedelta(days=19)),
        event(7, "care.ended", date(2023, 4, 1), reason="E4A"),
        event(8, "sdq.recorded", date(2024, 1, 10), score=12),
        event(9, "event.retracted", RETRACTED_ON, retracted_event_id=f"{child}-7"),
    ]
    return events


def steady_child(child: str = "steady-1") -> list[dict[str, Any]]:
    """A child with no correction (its alerts must come out the same whatever happens to the other)."""
    start = date(2023, 6, 1)
    return [
        {
            "event_id": f"{child}-1",
            "type": "care.started",
            "child_id": child,
            "occurred_at": start.isoformat(),
            "date_of_birth": "2010-02-01",
            "sex": "M",
            "legal_status": "C2",
            "team": "west",
        },
        {
            "event_id": f"{child}-2",
            "type": "placement.started",
            "child_id": child,
            "occurred_at": start.isoformat(),
            "placement_type": "U4",
            "provider": "PR2",
        },
    ]
