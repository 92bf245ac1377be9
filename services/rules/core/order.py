"""The processing order of a recorded history: events in fold order, a clock tick after each day.

Replay, the board's rebuild and the stream feeder all walk a history through :func:`interleave`, so the
stream sees exactly the order in which replay evaluates it; and all of them find the children due at a
tick with one :class:`WakeIndex`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from schemas.events import CaseEvent, ClockTick

from .state import LoggedEvent

ONE_DAY = timedelta(days=1)


def in_fold_order(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    """The events sorted by (occurred date, same-day rank, recorded_at, event_id)."""
    return sorted(events, key=lambda event: LoggedEvent.order_of(event))


def interleave(events: Iterable[CaseEvent], until: date) -> Iterator[CaseEvent | ClockTick]:
    """A history as a stream: events dated after ``until`` are dropped; the rest come in fold order, and
    for each day from the first event's date to ``until`` inclusive come that day's events followed by
    one tick for the day. An event is then evaluated as of its own date (the clock is the day before) and
    each tick evaluates the children due by its date.
    """
    ordered = in_fold_order(event for event in events if event.occurred_on <= until)
    if not ordered:
        return
    position = 0
    day = ordered[0].occurred_on
    while day <= until:
        while position < len(ordered) and ordered[position].occurred_on == day:
            yield ordered[position]
            position += 1
        yield ClockTick(as_of=day)
        day += ONE_DAY


class WakeIndex:
    """When each child next needs a tick: a heap of (wake date, child id), invalidated lazily.

    :meth:`set` records a child's current wake date (one push); :meth:`pop_due` yields, in (date, child
    id) order, the children whose current wake date has come, skipping heap entries superseded since.
    The one index every driver of the kernel uses (stream partition, replay, board rebuild).
    """

    __slots__ = ("_heap", "_wake")

    def __init__(self) -> None:
        self._heap: list[tuple[date, str]] = []
        self._wake: dict[str, date] = {}

    def __len__(self) -> int:
        return len(self._wake)

    def __contains__(self, child_id: object) -> bool:
        return child_id in self._wake

    def get(self, child_id: str) -> date | None:
        return self._wake.get(child_id)

    def set(self, child_id: str, wake_at: date | None) -> None:
        """The child's wake date is now ``wake_at`` (None: not until its next event)."""
        if wake_at is None:
            self._wake.pop(child_id, None)
        elif self._wake.get(child_id) != wake_at:
            self._wake[child_id] = wake_at
            heapq.heappush(self._heap, (wake_at, child_id))

    def pop_due(self, as_of: date) -> Iterator[str]:
        """The children due on or before ``as_of``, each once, in (wake date, child id) order; each is
        removed from the index (the driver sets its next wake date after the tick)."""
        heap, wake = self._heap, self._wake
        while heap and heap[0][0] <= as_of:
            when, child_id = heapq.heappop(heap)
            if wake.get(child_id) != when:
                continue  # superseded by a later set
            del wake[child_id]
            yield child_id
