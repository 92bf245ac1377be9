"""Replay: run the rules core over a file of events with a daily clock, no broker.

The same :class:`~services.rules.core.engine.Engine` as the streaming service, walking the history in the
stream's order (:func:`~services.rules.core.order.interleave`: events in fold order, and each day, after
that day's events, a clock tick). A tick evaluates the children whose next due date has come (a heap of
due dates, stale entries skipped). So the output depends only on the events and the rules, never on the
order of lines in the file.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from schemas.alerts import AlertTransition
from schemas.events import CaseEvent, ClockTick, parse_event

from .core.config import RulesConfig
from .core.engine import Engine, Outcome
from .core.order import interleave
from .core.state import ChildState


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ReplayResult:
    transitions: list[AlertTransition]
    """Every transition, sorted by (at, fingerprint), same-day transitions of one alert in order."""
    states: dict[str, ChildState]
    """Each child's final state, by child id (sorted)."""
    events_applied: int = 0
    events_after_until: int = 0
    ticks: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def read_events(path: Path) -> tuple[list[CaseEvent], list[Rejected]]:
    """Parse an NDJSON file; a bad line is reported with its number and reason, never fatal."""
    events: list[CaseEvent] = []
    rejected: list[Rejected] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                events.append(parse_event(raw, received_at=None))
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or '(line)'}: {err['msg']}" for err in exc.errors()
                )
                rejected.append(Rejected(number, problems))
    return events, rejected


def replay(
    events: Iterable[CaseEvent],
    until: date,
    config: RulesConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """All alert transitions from the first event's date to ``until`` (inclusive), with daily ticks.

    ``progress(done_days, total_days)`` is called once a day when given.
    """
    engine = Engine(config)
    history = list(events)
    result = ReplayResult(transitions=[], states={})
    states: dict[str, ChildState] = {}
    due: dict[str, date] = {}
    heap: list[tuple[date, str]] = []

    def record(child_id: str, outcome: Outcome) -> None:
        states[child_id] = outcome.state
        result.transitions.extend(outcome.transitions)
        next_due = outcome.next_due
        if next_due is None:
            due.pop(child_id, None)
        elif due.get(child_id) != next_due:
            due[child_id] = next_due
            heapq.heappush(heap, (next_due, child_id))

    first_day: date | None = None
    for item in interleave(history, until):
        if isinstance(item, ClockTick):
            day = item.as_of
            while heap and heap[0][0] <= day:
                when, child_id = heapq.heappop(heap)
                if due.get(child_id) != when:
                    continue  # superseded by a later evaluation
                outcome = engine.on_tick(states[child_id], day)
                result.ticks += 1
                record(child_id, outcome)
            if progress is not None:
                first_day = first_day or day
                progress((day - first_day).days + 1, (until - first_day).days + 1)
            continue
        outcome = engine.on_event(states.get(item.child_id), item, item.occurred_on)
        record(item.child_id, outcome)
        result.events_applied += 1
    result.events_after_until = len(history) - result.events_applied
    # Stable sort on (at, fingerprint) only: one alert's transitions on the same day keep the order in
    # which they happened (a resolution and a new raise of the same alert on one day).
    result.transitions.sort(key=lambda t: (t.at, t.fingerprint))
    result.states = dict(sorted(states.items()))
    return result


def transitions_ndjson(transitions: Iterable[AlertTransition]) -> bytes:
    """The transitions as NDJSON bytes (stable: same transitions, same bytes)."""
    return b"".join(t.model_dump_json().encode() + b"\n" for t in transitions)


def summarise(states: Iterable[ChildState], as_of: date, threshold: int) -> dict[str, object]:
    """Board indicator values as of ``as_of`` (from the board's core when it is installed)."""
    try:
        from services.board.core.indicators import summarise as board_summarise
    except ImportError:
        return {"as_of": as_of.isoformat(), "indicators": {}}
    return dict(board_summarise(states, as_of, threshold))
