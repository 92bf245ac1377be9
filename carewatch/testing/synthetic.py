"""A synthetic local authority's case events, for board tests, the board-pack benchmark and examples.

Seeded and deterministic: the same (children, seed, period) gives the same events. Children enter care at
any age, move placements (with the odd temporary move and return), change social workers, have health,
dental, PEP and SDQ records, go missing (usually with a return interview), leave care, and care leavers
are contacted. The mix is plausible, not calibrated to any authority.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from schemas.codes import LONG_TERM_FOSTER_PLACEMENTS
from services.rules.core.calendar import add_years

_LEGAL = ("C2", "C2", "C2", "C1", "V2", "V2", "E1", "V4")
_PLACEMENTS = ("U6", "U6", "U4", "U4", "U3", "U1", "K2", "K2", "R1", "P1", "K3", "A4", "Z11")
_LEAVING = ("E4A", "E4A", "E11", "E45", "E5", "E8", "E13")
_ACTIVITY = ("F2", "F5", "P5", "F1", "G5", "G4", "G6")
_ACCOMMODATION = ("U1", "E1", "Z1", "B1", "D1", "W2", "S2", "R2")


def authority(children: int, seed: int, first: date, last: date) -> list[dict[str, Any]]:
    """Events of ``children`` children whose care histories fall between ``first`` and ``last``."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for number in range(children):
        events.extend(_child(rng, f"c{number:06d}", first, last))
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events


def _day(rng: random.Random, low: date, high: date) -> date:
    span = max(0, (high - low).days)
    return low + timedelta(days=rng.randint(0, span))


def _child(rng: random.Random, child: str, first: date, last: date) -> list[dict[str, Any]]:
    serial = 0
    out: list[dict[str, Any]] = []

    def emit(type_: str, on: date, **fields: Any) -> None:
        nonlocal serial
        if on > last:
            return
        serial += 1
        out.append({"event_id": f"{child}-{serial}", "type": type_, "child_id": child,
                    "occurred_at": on.isoformat(), **fields})  # fmt: skip

    start = _day(rng, first, last - timedelta(days=30))
    age_at_start = rng.choice((0, 1, 3, 6, 9, 11, 13, 14, 15, 15, 16, 16, 17))
    dob = start - timedelta(days=age_at_start * 365 + rng.randint(1, 360))
    uasc = age_at_start >= 14 and rng.random() < 0.15
    emit("care.started", start, date_of_birth=dob.isoformat(), sex=rng.choice("MF"),
         legal_status=rng.choice(_LEGAL), uasc=uasc)  # fmt: skip
    eighteenth = add_years(dob, 18)
    ends = start + timedelta(days=rng.randint(60, 2500))
    ended = min(ends, eighteenth)
    care_until = min(ended, last)

    day, placement, provider = start, rng.choice(_PLACEMENTS), "PR1"
    emit("placement.started", day, placement_type=placement, provider=provider)
    while True:
        day += timedelta(days=rng.randint(40, 900))
        if day >= care_until:
            break
        if rng.random() < 0.2:
            emit("placement.started", day, placement_type="T2", provider="PR1", reason_for_change="PLACE")
            day += timedelta(days=rng.randint(1, 14))
            if day >= care_until:
                break
            emit(
                "placement.started",
                day,
                placement_type=placement,
                provider=provider,
                reason_for_change="PLACE",
            )
            continue
        placement, provider = rng.choice(_PLACEMENTS), rng.choice(("PR1", "PR4"))
        emit("placement.started", day, placement_type=placement, provider=provider, reason_for_change="CARPL",
             intended_until_18=placement in LONG_TERM_FOSTER_PLACEMENTS)  # fmt: skip

    day, workers = start, 0
    while day < care_until:
        emit("social_worker.changed", day, worker_id=f"w{rng.randint(1, 40)}")
        workers += 1
        day += timedelta(days=rng.randint(60, 700))

    if rng.random() < 0.85:
        emit("health_assessment.completed", start + timedelta(days=rng.randint(5, 40)), kind="initial")
    day = start
    while True:
        day += timedelta(days=rng.randint(150, 420))
        if day >= care_until:
            break
        emit("health_assessment.completed", day, kind="review")
        if rng.random() < 0.8:
            emit("dental_check.completed", day + timedelta(days=rng.randint(0, 60)))
        if age_at_start + (day - start).days // 365 >= 4:
            emit("sdq.recorded", day + timedelta(days=rng.randint(0, 30)), score=rng.randint(0, 34))
    day = start + timedelta(days=rng.randint(10, 35))
    while day < care_until:
        emit("pep.completed", day, kind="review")
        day += timedelta(days=rng.randint(80, 160))

    if age_at_start >= 11 and rng.random() < 0.3:
        for episode in range(rng.randint(1, 4)):
            went = _day(rng, start, care_until)
            back = went + timedelta(days=rng.randint(0, 3))
            if back >= care_until:
                continue
            emit("missing.started", went, episode_id=f"m{episode}")
            emit("missing.ended", back, episode_id=f"m{episode}")
            if rng.random() < 0.7:
                emit(
                    "return_interview.completed",
                    back + timedelta(days=rng.randint(0, 6)),
                    episode_id=f"m{episode}",
                )

    if ended <= last:
        emit("care.ended", ended, reason="E17" if ended == eighteenth else rng.choice(_LEAVING))
        if (ended - dob).days >= 16 * 365:
            contact_day = ended
            while True:
                contact_day += timedelta(days=rng.randint(90, 400))
                if contact_day > last or contact_day >= add_years(dob, 22):
                    break
                in_touch = rng.random() < 0.85
                fields: dict[str, Any] = {"in_touch": in_touch}
                if in_touch:
                    fields |= {"activity": rng.choice(_ACTIVITY), "accommodation": rng.choice(_ACCOMMODATION)}
                emit("care_leaver.contact", contact_day, **fields)
    return out
