"""Sample ingest input for checks and benchmarks: valid events and every kind of bad line.

Deterministic (no randomness, no clock): item ``n`` is always the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

import orjson


def good_event(n: int) -> dict[str, Any]:
    """A valid event of one of several types; child ids repeat so children have several events."""
    child = f"child-{n % 997:04d}"
    base: dict[str, Any] = {"event_id": f"ev-{n:08d}", "child_id": child, "occurred_at": "2024-03-01"}
    match n % 6:
        case 0:
            return {**base, "type": "care.started", "date_of_birth": "2012-05-17", "sex": "F", "legal_status": "C2"}
        case 1:
            return {**base, "type": "placement.started", "placement_type": "U1", "distance_miles": 3.5}
        case 2:
            return {**base, "type": "sdq.recorded", "score": n % 41, "source": "lcs"}
        case 3:
            return {**base, "type": "visit.completed", "seen_alone": n % 2 == 0}
        case 4:
            return {**base, "type": "missing.started", "occurred_at": "2024-03-01T22:15:00", "episode_id": f"m{n}"}
        case _:
            return {**base, "type": "review.held", "recorded_at": "2024-03-02T09:00:00+00:00"}


def good_line(n: int) -> bytes:
    return orjson.dumps(good_event(n))


def _future(n: int) -> bytes:
    return orjson.dumps({**good_event(n), "occurred_at": "2999-01-01"})


BAD_LINES: Final[dict[str, Callable[[int], bytes]]] = {
    "truncated JSON": lambda n: good_line(n)[:-7],
    "not an object": lambda n: b"[1, 2, 3]",
    "unknown type": lambda n: orjson.dumps({**good_event(n), "type": "tea.drunk"}),
    "SDQ out of range": lambda n: orjson.dumps({**good_event(2), "event_id": f"ev-{n:08d}", "score": 99}),
    "missing child_id": lambda n: orjson.dumps({k: v for k, v in good_event(n).items() if k != "child_id"}),
    "unknown field": lambda n: orjson.dumps({**good_event(n), "name": "Jane"}),
    "bad legal status code": lambda n: orjson.dumps({**good_event(0), "event_id": f"ev-{n:08d}", "legal_status": "ZZ"}),
    "internal clock tick": lambda n: b'{"type": "clock.tick", "as_of": "2024-03-01"}',
    "dated in the future": _future,
    "not UTF-8": lambda n: b'{"event_id": "\xff\xfe"}',
}
"""Kinds of bad line → maker (``n`` is the line's position, used for a unique event_id where it has one)."""

DUPLICATE: Final = "duplicate of an earlier event_id"


def mixed_lines(count: int, *, bad_every: int) -> Iterator[tuple[bytes, str | None]]:
    """``count`` NDJSON lines, one in ``bad_every`` bad (cycling through every kind of badness, duplicates
    included): yields ``(line, kind of badness or None)``."""
    kinds = [*BAD_LINES, DUPLICATE]
    bad_seen = 0
    for n in range(count):
        if n % bad_every != bad_every - 1:
            yield good_line(n), None
            continue
        kind = kinds[bad_seen % len(kinds)]
        bad_seen += 1
        yield (good_line(n - 1) if kind == DUPLICATE else BAD_LINES[kind](n)), kind
