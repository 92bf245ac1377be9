"""Replay: run the rules core over a file of events with a daily clock, no broker.

The same per-child :class:`~services.rules.core.kernel.Kernel` as the streaming service, walking the history
in the stream's order (:func:`~services.rules.core.order.interleave`: events in fold order, and each day,
after that day's events, a clock tick). A tick touches the children whose wake date has come
(:class:`~services.rules.core.order.WakeIndex`). So the output depends only on the events and the rules,
never on the order of lines in the file. The indicator deltas are summed into :attr:`ReplayResult.totals`
(the board's totals as of the last day).

With ``rebuild=True`` a child flagged by a deep correction (older than its re-fold log, see
:mod:`~services.rules.core.horizon`) is rebuilt at once from its events in the replay's input, exactly as
the stream worker rebuilds it from the event archive (:func:`~services.rules.core.rebuild.rebuild`), so a
replay of the archive and the stream give the same alerts and totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from schemas.alerts import AlertTransition
from schemas.deltas import NOTHING, Contribution
from schemas.events import CaseEvent, ClockTick, parse_event

from .core.config import RulesConfig
from .core.horizon import DEFAULT_HORIZON, Horizon
from .core.kernel import Kernel, Step
from .core.order import WakeIndex, interleave
from .core.rebuild import rebuild as rebuild_child
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
    rebuilt: int = 0
    """Children rebuilt after a deep correction (``rebuild=True``)."""
    events_after_until: int = 0
    ticks: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    totals: dict[str, Contribution] = field(default_factory=dict)
    """Every indicator delta summed: the board's totals as of ``until`` (indicators at zero left out)."""


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
                rejected.append(rejection(number, exc))
    return events, rejected


def rejection(line: int, error: ValidationError) -> Rejected:
    """A bad line's report: each problem's location and message."""
    problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(line)'}: {err['msg']}" for err in error.errors())
    return Rejected(line, problems)


def replay(
    events: Iterable[CaseEvent],
    until: date,
    config: RulesConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    reuse: bool = True,
    horizon: Horizon = DEFAULT_HORIZON,
    rebuild: bool = False,
) -> ReplayResult:
    """All alert transitions from the first event's date to ``until`` (inclusive), with daily ticks.

    ``progress(done_days, total_days)`` is called once a day when given; ``reuse=False`` evaluates every
    rule at every touch (the reference verdict reuse is tested against); ``rebuild=True`` rebuilds a
    child flagged by a deep correction from its events in ``events`` (see the module's docstring).
    """
    kernel = Kernel(config, reuse=reuse, horizon=horizon)
    history = list(events)
    result = ReplayResult(transitions=[], states={})
    states: dict[str, ChildState] = {}
    wakes = WakeIndex()
    totals = result.totals

    def record(step: Step) -> None:
        state = step.state
        states[state.child_id] = state
        if step.transitions:
            result.transitions.extend(step.transitions)
        for delta in step.deltas:
            total = totals.get(delta.indicator, NOTHING) + delta.new - delta.old
            if total:
                totals[delta.indicator] = total
            else:
                totals.pop(delta.indicator, None)
        wakes.set(state.child_id, step.wake_at)

    first_day: date | None = None
    by_child: defaultdict[str, list[CaseEvent]] | None = None
    for item in interleave(history, until):
        if isinstance(item, ClockTick):
            day = item.as_of
            for child_id in wakes.pop_due(day):
                record(kernel.on_tick(states[child_id], day))
                result.ticks += 1
            if progress is not None:
                first_day = first_day or day
                progress((day - first_day).days + 1, (until - first_day).days + 1)
            continue
        before = states.get(item.child_id)
        step = kernel.on_event(before, item, item.occurred_on)
        if rebuild and step.state.needs_rebuild:
            if by_child is None:
                by_child = defaultdict(list)
                for event in history:
                    by_child[event.child_id].append(event)
            rebuilt = rebuild_child(
                kernel,
                before,
                by_child[item.child_id],
                step.state.evaluated_as_of or item.occurred_on,
                item.occurred_on,
            )
            if rebuilt is not None:
                step = rebuilt
                result.rebuilt += 1
        record(step)
        result.events_applied += 1
    result.events_after_until = len(history) - result.events_applied
    # Stable sort on (at, fingerprint) only: one alert's transitions on the same day keep the order in
    # which they happened (a resolution and a new raise of the same alert on one day).
    result.transitions.sort(key=lambda t: (t.at, t.fingerprint))
    result.states = dict(sorted(states.items()))
    result.totals = dict(sorted(totals.items()))
    return result


def transitions_ndjson(transitions: Iterable[AlertTransition]) -> bytes:
    """The transitions as NDJSON bytes (stable: same transitions, same bytes)."""
    return b"".join(t.model_dump_json().encode() + b"\n" for t in transitions)
