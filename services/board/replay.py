"""Board figures from a file of events, with no broker: the rules kernel, driven day by day.

The same per-child kernel as the live stream (:class:`services.rules.core.kernel.Kernel`), walked in the
stream's one order (:func:`services.rules.core.order.interleave`: a day's events in fold order, then that
day's tick) with the one wake-up index; the totals are its indicator deltas summed. The snapshots of a
replay are therefore the snapshots the stream would have written had every event arrived on the day it
happened. Files are read with :func:`services.rules.replay.read_events`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from tqdm import tqdm

from schemas.events import CaseEvent, ClockTick
from services.board.core.aggregate import Aggregate
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel, Step
from services.rules.core.order import WakeIndex, interleave
from services.rules.core.state import ChildState


def snapshots(
    events: Iterable[CaseEvent],
    days: Iterable[date],
    progress: bool = False,
    config: RulesConfig | None = None,
) -> dict[date, Aggregate]:
    """The totals at the end of each of ``days`` (every event dated on or before it applied, every child's
    contributions as of it), replaying ``events`` in the order they happened."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    kernel = Kernel(config or RulesConfig.default())
    states: dict[str, ChildState] = {}
    wakes = WakeIndex()
    aggregate = Aggregate()
    last = wanted[-1]
    remaining = set(wanted)
    result: dict[date, Aggregate] = {}

    def record(step: Step) -> None:
        states[step.state.child_id] = step.state
        aggregate.apply_all(step.deltas)
        wakes.set(step.state.child_id, step.wake_at)

    history = list(events)
    with tqdm(desc="replaying days", unit=" days", disable=not progress) as bar:
        for item in interleave(history, last):
            if isinstance(item, ClockTick):
                day = item.as_of
                for child_id in wakes.pop_due(day):
                    record(kernel.on_tick(states[child_id], day))
                if day in remaining:
                    result[day] = Aggregate(dict(aggregate.totals))
                bar.update()
                continue
            record(kernel.on_event(states.get(item.child_id), item, item.occurred_on))
    # A day before the first event has nothing to count yet.
    return {day: result.get(day, Aggregate()) for day in wanted}
