"""A busy child's history of any length: frequent visits and missing episodes, regular reviews, PEPs,
health and dental checks, SDQ scores, placement moves (some temporary, with returns), social-worker
changes and legal-status changes, all in one long period of care. Used to show the state does not grow
with the length of a history (tests and ``bench/kernel.py``)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

START = date(2014, 1, 6)
_PLACEMENTS = ("U1", "U4", "U6", "K2", "R2")


def busy_child(
    child: str = "busy-1",
    years: float = 10,
    *,
    visit_every: int = 10,
    missing_every: int = 25,
    interviewed: float = 0.9,
    start: date = START,
    seed: int = 1,
) -> list[dict[str, Any]]:
    """The child's events as JSON dicts, in date order (about 90 a year with the defaults; a visit every
    day and a missing episode every 2 days give about 900). A share ``interviewed`` of missing episodes
    has a return interview (the others stay open alerts for good)."""
    rng = random.Random(seed)
    last = start + timedelta(days=round(365.25 * years) - 1)
    out: list[dict[str, Any]] = []

    def emit(event_type: str, on: date, **fields: Any) -> None:
        if on <= last:
            out.append(
                {
                    "event_id": f"{child}-{len(out) + 1}",
                    "type": event_type,
                    "child_id": child,
                    "occurred_at": on.isoformat(),
                    **fields,
                }
            )

    dob = start - timedelta(days=4 * 365 + 100)  # four on arrival: every age-bound rule applies in turn
    emit("care.started", start, date_of_birth=dob.isoformat(), sex="F", legal_status="C2", team="east")
    emit("placement.started", start, placement_type="U4", provider="PR1")
    emit("health_assessment.completed", start + timedelta(days=10), kind="initial")
    day = start
    n = 0
    while day <= last:
        n += 1
        day += timedelta(days=1)
        offset = (day - start).days
        if offset % visit_every == 0:
            emit("visit.completed", day)
        if offset % missing_every == 0:
            episode = f"m{n}"
            emit("missing.started", day, episode_id=episode)
            emit("missing.ended", day + timedelta(days=1), episode_id=episode)
            if rng.random() < interviewed:
                emit("return_interview.completed", day + timedelta(days=2), episode_id=episode)
        if offset % 180 == 7 and not 2900 <= offset <= 3150:  # one review missed in the eighth year
            emit("review.held", day)
        if offset % 120 == 20:
            emit("pep.completed", day, kind="review")
        if offset % 365 == 100:
            emit("health_assessment.completed", day, kind="review")
            emit("dental_check.completed", day)
            emit("sdq.recorded", day, score=rng.randint(5, 25))
        if offset % 365 == 200:
            emit("legal_status.changed", day, legal_status=rng.choice(("C2", "J2")))
        if offset % 150 == 50:
            if rng.random() < 0.3:
                emit("placement.started", day, placement_type="T2", provider="PR1")
                emit("placement.started", day + timedelta(days=5), placement_type="U4", provider="PR1")
            else:
                emit("placement.started", day, placement_type=rng.choice(_PLACEMENTS), provider=f"PR{n % 5 + 1}")
        if offset % 160 == 90:
            emit("social_worker.changed", day, worker_id=f"sw{n % 13}", team="east")
    out.sort(key=lambda event: event["occurred_at"])
    return out
