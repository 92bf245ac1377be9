"""Reusing verdicts changes nothing: an engine that reuses them and one that evaluates every rule every
time give the same transitions, next due dates and states, for a history in order (replay), and for the
same history arriving out of order, with duplicates and retractions, ticked now and then."""

from __future__ import annotations

import random
from datetime import date

from schemas.events import CaseEvent, ClockTick, parse_event
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine, Outcome
from services.rules.core.order import interleave
from services.rules.core.state import ChildState
from services.rules.replay import replay

from .history import UNTIL, events


def _arrival(seed: int) -> list[CaseEvent | ClockTick]:
    """The history in stream order, then disturbed: some events retracted, some late, some repeated."""
    rnd = random.Random(seed)
    history = list(events())
    retractions = [
        parse_event(
            {
                "type": "event.retracted",
                "event_id": f"retraction-{index}",
                "child_id": event.child_id,
                "occurred_at": event.occurred_on.isoformat(),
                "retracted_event_id": event.event_id,
            },
            received_at=None,
        )
        for index, event in enumerate(history)
        if event.type != "care.started" and rnd.random() < 0.03
    ]
    stream = list(interleave(history + retractions, UNTIL))
    for _ in range(len(stream) // 20):
        index = rnd.randrange(len(stream) - 41)
        if not isinstance(stream[index], ClockTick):
            stream.insert(index + rnd.randrange(1, 40), stream.pop(index))
    for _ in range(30):
        index = rnd.randrange(len(stream))
        if not isinstance(stream[index], ClockTick):
            stream.insert(min(len(stream), index + rnd.randrange(1, 200)), stream[index])
    return stream


def _run(engine: Engine, stream: list[CaseEvent | ClockTick]) -> tuple[list[Outcome], dict[str, ChildState]]:
    outcomes: list[Outcome] = []
    states: dict[str, ChildState] = {}
    clock: date | None = None
    for item in stream:
        if isinstance(item, ClockTick):
            clock = item.as_of
            if item.as_of.day in (1, 15):
                for child_id in sorted(states):
                    state = states[child_id]
                    evaluated = state.evaluated_as_of
                    outcome = engine.on_tick(state, max(item.as_of, evaluated) if evaluated else item.as_of)
                    states[child_id] = outcome.state
                    outcomes.append(outcome)
            continue
        before = states.get(item.child_id)
        days = [day for day in (clock, item.occurred_on, before and before.evaluated_as_of) if day]
        outcome = engine.on_event(before, item, max(days))
        states[item.child_id] = outcome.state
        outcomes.append(outcome)
    return outcomes, states


def test_reuse_changes_nothing_when_events_arrive_out_of_order() -> None:
    stream = _arrival(seed=3)
    reused, reused_states = _run(Engine(RulesConfig.default()), stream)
    fresh, fresh_states = _run(Engine(RulesConfig.default(), reuse=False), stream)
    assert len(reused) == len(fresh)
    for mine, reference in zip(reused, fresh, strict=True):
        assert mine.transitions == reference.transitions
        assert mine.next_due == reference.next_due
        assert mine.state == reference.state
    assert reused_states == fresh_states
    assert sum(len(outcome.transitions) for outcome in fresh) > 100


def test_reuse_changes_nothing_in_replay() -> None:
    config = RulesConfig.default()
    reused = replay(events(), UNTIL, config)
    fresh = replay(events(), UNTIL, config, reuse=False)
    assert reused.transitions == fresh.transitions
    assert reused.states == fresh.states
    assert reused.ticks == fresh.ticks
    assert len(fresh.transitions) > 100
