"""The processing order of a recorded history: events in fold order, a clock tick after each day.

Replay and the stream feeder both walk a history through :func:`interleave`, so the stream sees exactly
the order in which replay evaluates it.
"""

from __future__ import annotations

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
