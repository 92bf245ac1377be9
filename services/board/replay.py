"""Board figures from a file of events, with no broker: fold, then keep totals by deltas day by day.

This is the same core the live stream runs (:class:`~services.board.core.live.Tracker`), driven by a daily
clock: the snapshots of a replay are the snapshots the stream would have written had every event
arrived on the day it happened. Files are read with :func:`services.rules.replay.read_events`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from tqdm import tqdm

from schemas.events import CaseEvent
from services.board.core.aggregate import Aggregate
from services.board.core.live import Tracker
from services.rules.core.fold import apply
from services.rules.core.state import ChildState


def snapshots(events: Iterable[CaseEvent], days: Iterable[date], progress: bool = False) -> dict[date, Aggregate]:
    """The totals as of each of ``days``, replaying ``events`` in the order they happened.

    Events before the first day are folded first and every child evaluated once on it; from there a tick
    per day re-checks the children whose next change has come, then the day's events are applied.
    """
    wanted = sorted(set(days))
    if not wanted:
        return {}
    ordered = sorted(events, key=lambda e: e.occurred_on)
    states: dict[str, ChildState] = {}
    tracker = Tracker()
    first, last = wanted[0], wanted[-1]
    index = 0
    while index < len(ordered) and ordered[index].occurred_on < first:
        event = ordered[index]
        states[event.child_id], _ = apply(states.get(event.child_id), event)
        index += 1
    for state in states.values():
        tracker.update(state, first)
    result: dict[date, Aggregate] = {}
    remaining = set(wanted)
    day = first
    with tqdm(total=(last - first).days + 1, desc="replaying days", unit=" days", disable=not progress) as bar:
        while day <= last:
            tracker.tick(day, states.get)
            while index < len(ordered) and ordered[index].occurred_on <= day:
                event = ordered[index]
                states[event.child_id], _ = apply(states.get(event.child_id), event)
                tracker.update(states[event.child_id], day)
                index += 1
            if day in remaining:
                result[day] = Aggregate(dict(tracker.aggregate.totals))
            day += timedelta(days=1)
            bar.update()
    return result
