"""The kernel's scheduling is exact: waking a child only at its wake date (and re-computing its
contributions only when a fact they read changed or their next-change date came) gives the very
transitions and indicator deltas, on the very days, of a reference that re-computes every child's
contributions on every day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from schemas.deltas import Delta
from schemas.events import CaseEvent, ClockTick, parse_event
from services.demo.generator import generate
from services.rules.core import indicators
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel, Step
from services.rules.core.order import WakeIndex, interleave
from services.rules.core.state import ChildState
from services.rules.replay import replay, transitions_ndjson
from tests.unit.test_rules_properties import UNTIL, histories

CONFIG = RulesConfig.default()
DAY = timedelta(days=1)


def _walk(events: list[CaseEvent], until: date) -> Iterator[tuple[date, Step, dict[str, ChildState]]]:
    """Drive the kernel as replay does, yielding (day, step, states) after each step."""
    kernel = Kernel(CONFIG)
    states: dict[str, ChildState] = {}
    wakes = WakeIndex()
    for item in interleave(events, until):
        if isinstance(item, ClockTick):
            for child_id in wakes.pop_due(item.as_of):
                step = kernel.on_tick(states[child_id], item.as_of)
                states[child_id] = step.state
                wakes.set(child_id, step.wake_at)
                yield item.as_of, step, states
            continue
        step = kernel.on_event(states.get(item.child_id), item, item.occurred_on)
        states[item.child_id] = step.state
        wakes.set(item.child_id, step.wake_at)
        yield item.occurred_on, step, states


def _output(events: list[CaseEvent], until: date) -> tuple[bytes, list[tuple[date, Delta]]]:
    transitions = []
    deltas = []
    for day, step, _ in _walk(events, until):
        transitions.extend(step.transitions)
        deltas.extend((day, delta) for delta in step.deltas)
    transitions.sort(key=lambda t: (t.at, t.fingerprint))
    return transitions_ndjson(transitions), deltas


def _daily(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference schedule: every child's contributions (each definition's) are due again the next day."""
    monkeypatch.setattr(indicators, "next_change", lambda state, as_of: as_of + DAY)
    every = frozenset(range(len(indicators.DEFINITIONS)))
    monkeypatch.setattr(indicators, "due_definitions", lambda state, since, as_of: every)


def _demo(children: int, months: int) -> list[CaseEvent]:
    events = []
    for raw in generate(seed=11, children=children, months=months, start=date(2022, 4, 1)):
        try:
            events.append(parse_event(orjson.dumps(raw), received_at=None))
        except ValidationError:
            continue  # the generator's deliberately invalid records
    return events


def test_a_generated_authority_gives_the_same_transitions_deltas_and_totals_as_daily_recomputation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = _demo(children=12, months=36)
    until = max(e.occurred_on for e in events)
    scheduled = _output(events, until)
    totals = replay(events, until, CONFIG).totals
    _daily(monkeypatch)
    reference = _output(events, until)
    assert scheduled[0] == reference[0]
    assert scheduled[1] == reference[1]
    assert len(reference[1]) > 50  # the history moves the board
    assert replay(events, until, CONFIG).totals == totals


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_published_contributions_are_those_of_the_day_on_every_day(events: list[dict[str, Any]]) -> None:
    parsed = [parse_event(e, received_at=None) for e in events]
    last: dict[str, tuple[date, ChildState]] = {}
    checked = 0
    day: date | None = None

    def check_through(until: date) -> int:
        # Every child's published contributions, on every day up to ``until``, are those computed afresh.
        count = 0
        for child_id, (since, state) in last.items():
            current = since
            while current <= until:
                assert state.contributions == indicators.contribution_rows(state, current), (child_id, current)
                current += DAY
                count += 1
            last[child_id] = (current, state)
        return count

    for when, step, _ in _walk(parsed, UNTIL):
        if day is not None and when > day:
            checked += check_through(when - DAY)
        day = when
        last[step.state.child_id] = (when, step.state)
    checked += check_through(UNTIL)
    assert checked > 0
