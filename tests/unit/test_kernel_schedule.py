"""The kernel's scheduling is exact: waking a child only at its wake date (and re-computing its
contributions only when a fact they read changed or their next-change date came) gives the very
transitions and indicator deltas, on the very days, of a reference that re-computes every child's
contributions on every day."""

from __future__ import annotations

import random
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
    every = set(range(len(indicators.DEFINITIONS)))
    groups = len(indicators.schedule(ChildState(child_id="any"), date(2020, 1, 1))[1])

    def daily(state: ChildState, as_of: date, *_: object) -> tuple[set[int], indicators.Schedule]:
        return set(every), (as_of + DAY,) * groups

    monkeypatch.setattr(indicators, "schedule", daily)


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


def _irregular(seed: int) -> list[CaseEvent]:
    """Children whose latest-read facts come at irregular gaps, some shorter and some longer than the
    intervals they are read against: a long-term placement's visits, a move between short breaks and a
    full order, checks of a child under 5, reviews, PEPs, scores, workers, and a care leaver's contacts
    and pathway plan reviews."""
    rng = random.Random(seed)
    raws: list[dict[str, Any]] = []

    def emit(child: str, event_type: str, on: date, **fields: Any) -> None:
        raws.append(
            {"event_id": f"{child}-{len(raws)}", "type": event_type, "child_id": child, "occurred_at": on.isoformat()}
            | fields
        )

    start = date(2021, 1, 4)
    for c, born in enumerate((date(2018, 6, 1), date(2007, 2, 1), date(2011, 9, 1))):
        child = f"irregular-{c}"
        emit(child, "care.started", start, date_of_birth=born.isoformat(), sex="F", legal_status="V3" if c else "C2")
        emit(child, "placement.started", start, placement_type="U4", intended_until_18=True)
        for event_type, low, high, fields in (
            ("visit.completed", 10, 120, {}),
            ("review.held", 20, 230, {}),
            ("health_assessment.completed", 60, 420, {"kind": "review"}),
            ("dental_check.completed", 200, 420, {}),
            ("pep.completed", 40, 150, {"kind": "review"}),
            ("sdq.recorded", 200, 420, {}),
            ("legal_status.changed", 40, 300, {}),
            ("social_worker.changed", 30, 300, {}),
            ("placement.started", 90, 500, {}),
        ):
            day = start + timedelta(days=rng.randint(0, low))
            while day < date(2024, 1, 1):
                more = dict(fields)
                if event_type == "sdq.recorded":
                    more["score"] = rng.randint(10, 25)
                elif event_type == "legal_status.changed":
                    more["legal_status"] = rng.choice(("C2", "J2", "V3"))
                elif event_type == "social_worker.changed":
                    more["worker_id"] = rng.choice(("w1", "w2", "w3", "w4"))
                elif event_type == "placement.started":
                    more |= {"placement_type": rng.choice(("U4", "U6", "K2", "T1")), "intended_until_18": True}
                emit(child, event_type, day, **more)
                day += timedelta(days=rng.randint(low, high))
    # The 17-year-old leaves care at once: contacts and pathway plan reviews at irregular gaps.
    left = date(2024, 2, 1)
    emit("irregular-1", "care.ended", left, reason="E8")
    for event_type, low, high in (("care_leaver.contact", 60, 500), ("pathway_plan.reviewed", 60, 260)):
        day = left + timedelta(days=rng.randint(1, low))
        while day < date(2026, 6, 1):
            fields = {"in_touch": rng.random() < 0.7} if event_type == "care_leaver.contact" else {}
            emit("irregular-1", event_type, day, **fields)
            day += timedelta(days=rng.randint(low, high))
    return [parse_event(raw, received_at=None) for raw in raws]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_irregular_gaps_give_the_same_transitions_and_deltas_as_daily_recomputation(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _irregular(seed)
    until = date(2026, 6, 30)
    scheduled = _output(events, until)
    _daily(monkeypatch)
    reference = _output(events, until)
    assert scheduled[0] == reference[0]
    assert scheduled[1] == reference[1]
    assert len(reference[1]) > 100
