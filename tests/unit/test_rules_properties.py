"""Properties of the rules core over generated case histories."""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.alerts import AlertTransition
from schemas.events import CaseEvent, ClockTick, parse_event
from services.rules.core import codec
from services.rules.core.calendar import add_months, add_working_days
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine
from services.rules.core.horizon import Horizon
from services.rules.core.kernel import Kernel
from services.rules.core.order import interleave
from services.rules.core.rebuild import rebuild
from services.rules.core.state import ChildState, LoggedEvent
from services.rules.replay import replay, transitions_ndjson

CONFIG = RulesConfig.default()
START = date(2025, 1, 6)
UNTIL = date(2026, 6, 30)
KINDS = (
    "visit",
    "review",
    "placement",
    "pep",
    "health",
    "dental",
    "sdq",
    "sw",
    "missing",
    "ended",
    "restart",
    "retract",
)


@st.composite
def histories(draw: st.DrawFn, distinct_dates: bool = False) -> list[dict[str, Any]]:
    children = draw(st.integers(min_value=1, max_value=3))
    events: list[dict[str, Any]] = []
    used: set[tuple[str, int]] = set()
    for c in range(children):
        child = f"child-{c}"
        dob = date(2008 + c * 4, 3, 1)
        events.append(
            _event(
                child,
                f"{child}-start",
                0,
                "care.started",
                date_of_birth=dob.isoformat(),
                sex="M",
                legal_status="C2",
                team=f"team-{c}",
            )
        )
        used.add((child, 0))
        items = draw(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 420)), max_size=25))
        for n, (kind, offset) in enumerate(items):
            if distinct_dates and (child, offset) in used:
                continue
            used.add((child, offset))
            eid = f"{child}-{n}"
            if kind == "visit":
                events.append(_event(child, eid, offset, "visit.completed"))
            elif kind == "review":
                events.append(_event(child, eid, offset, "review.held"))
            elif kind == "placement":
                ptype = draw(st.sampled_from(["U4", "U6", "K2", "T1", "K3"]))
                events.append(
                    _event(
                        child,
                        eid,
                        offset,
                        "placement.started",
                        placement_type=ptype,
                        distance_miles=draw(st.sampled_from([None, 5.0, 35.0])),
                    )
                )
            elif kind == "pep":
                events.append(_event(child, eid, offset, "pep.completed", kind="review"))
            elif kind == "health":
                events.append(_event(child, eid, offset, "health_assessment.completed", kind="initial"))
            elif kind == "dental":
                events.append(_event(child, eid, offset, "dental_check.completed"))
            elif kind == "sdq":
                events.append(_event(child, eid, offset, "sdq.recorded", score=draw(st.integers(0, 40))))
            elif kind == "sw":
                events.append(
                    _event(
                        child,
                        eid,
                        offset,
                        "social_worker.changed",
                        worker_id=draw(st.sampled_from(["w1", "w2", "w3", "w4"])),
                    )
                )
            elif kind == "missing":
                events.append(_event(child, eid, offset, "missing.started", episode_id=eid))
                if not distinct_dates or (child, offset + 2) not in used:
                    used.add((child, offset + 2))
                    events.append(_event(child, f"{eid}-end", offset + 2, "missing.ended", episode_id=eid))
            elif kind == "ended":
                events.append(_event(child, eid, offset, "care.ended", reason="E5"))
            elif kind == "restart" and START + timedelta(days=offset) >= dob.replace(year=dob.year + 18):
                continue  # no period of care starts on or after the 18th birthday (the contract refuses it)
            elif kind == "restart":  # care ends and a new period starts on one day (SSDA903 rule 431)
                events.append(_event(child, f"{eid}-end", offset, "care.ended", reason="E13"))
                events.append(
                    _event(
                        child, eid, offset, "care.started", date_of_birth=dob.isoformat(), sex="M", legal_status="C2"
                    )
                )
            elif kind == "retract" and n > 0 and items[n - 1][0] != "restart":
                events.append(_event(child, eid, offset, "event.retracted", retracted_event_id=f"{child}-{n - 1}"))
    return events


def _event(child: str, event_id: str, offset: int, event_type: str, **fields: Any) -> dict[str, Any]:
    on = START + timedelta(days=offset)
    return {
        "event_id": event_id,
        "type": event_type,
        "child_id": child,
        "occurred_at": on.isoformat(),
        **{k: v for k, v in fields.items() if v is not None},
    }


def _output(events: list[dict[str, Any]]) -> bytes:
    parsed = [parse_event(e, received_at=None) for e in events]
    return transitions_ndjson(replay(parsed, UNTIL, CONFIG).transitions)


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(histories(), st.randoms(use_true_random=False))
def test_duplicates_change_nothing(events: list[dict[str, Any]], rnd: random.Random) -> None:
    duplicated = events + [dict(e) for e in rnd.sample(events, k=min(len(events), 5))]
    assert _output(duplicated) == _output(events)


@FAST
@given(histories())
def test_replay_is_byte_identical(events: list[dict[str, Any]]) -> None:
    assert _output(events) == _output(list(events))


def _final(order: list[dict[str, Any]], engine: Engine) -> dict[str, ChildState]:
    """Live: the events arriving in ``order``, the clock the latest date seen, then a tick at the end."""
    states: dict[str, ChildState] = {}
    clock = START
    for data in order:
        event = parse_event(data, received_at=None)
        clock = max(clock, event.occurred_on)
        states[event.child_id] = engine.on_event(states.get(event.child_id), event, clock).state
    return {cid: engine.on_tick(s, UNTIL).state for cid, s in sorted(states.items())}


def _assert_same_level_state(first: dict[str, ChildState], second: dict[str, ChildState]) -> None:
    def active(states: dict[str, ChildState]) -> dict[str, list[tuple[str, str, str]]]:
        # The level state: which alerts are active (their wording is frozen at the time they were raised).
        return {c: [(f.rule, f.subject, f.severity) for f in s.findings] for c, s in states.items()}

    assert active(first) == active(second)
    assert {c: s.periods for c, s in first.items()} == {c: s.periods for c, s in second.items()}


@FAST
@given(histories(distinct_dates=True), st.randoms(use_true_random=False))
def test_arrival_order_does_not_matter(events: list[dict[str, Any]], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert _output(shuffled) == _output(events)
    # Live, in any order: exact when the log horizon covers the lateness (these histories span 420 days;
    # an event later than the log is a deep correction, see services/rules/core/tests/test_horizon.py).
    engine = Engine(CONFIG, horizon=Horizon(log_days=500))
    _assert_same_level_state(_final(events, engine), _final(shuffled, engine))


@FAST
@given(histories(distinct_dates=True), st.randoms(use_true_random=False))
def test_arrival_up_to_100_days_late_does_not_matter_with_the_default_horizon(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    in_order = sorted(events, key=lambda e: e["occurred_at"])  # the generated lists are in no order
    lateness = {e["event_id"]: rnd.randint(0, 100) for e in events}
    arrival = sorted(events, key=lambda e: date.fromisoformat(e["occurred_at"]).toordinal() + lateness[e["event_id"]])
    engine = Engine(CONFIG)
    first, second = _final(in_order, engine), _final(arrival, engine)
    # Exact for every child, except one flagged for a rebuild from the archive in either run: only a
    # retraction of an event that had left the log is such a deep correction, and it is one whatever its
    # lateness (a retraction dated more than the log after its target is deep even in date order).
    flagged = {child for run in (first, second) for child, state in run.items() if state.needs_rebuild}
    retracting = {e["child_id"] for e in events if e["type"] == "event.retracted"}
    assert flagged <= retracting
    _assert_same_level_state(
        {c: s for c, s in first.items() if c not in flagged}, {c: s for c, s in second.items() if c not in flagged}
    )


def test_a_retraction_dated_beyond_the_log_after_its_target_is_deep_even_in_date_order() -> None:
    # Found by the late-arrival property: care ended on day 2 and again on day 123, and on day 124 the first
    # ending is retracted. In date order the second ending came while the child was not looked after (an
    # anomaly) and the retracted one had already left the 120-day log, so the child is flagged for a rebuild;
    # a log long enough to hold the whole history gives the exact answer: care ended on day 123.
    child = "child-1"
    events = [
        _event(child, "start", 0, "care.started", date_of_birth="2012-03-01", sex="M", legal_status="C2"),
        _event(child, "visit", 1, "visit.completed"),
        _event(child, "first-end", 2, "care.ended", reason="E5"),
        _event(child, "second-end", 123, "care.ended", reason="E5"),
        _event(child, "retraction", 124, "event.retracted", retracted_event_id="first-end"),
    ]
    approximate = _final(events, Engine(CONFIG))[child]
    exact = _final(events, Engine(CONFIG, horizon=Horizon(log_days=500)))[child]
    assert approximate.needs_rebuild
    assert not exact.needs_rebuild
    assert [(p.end, p.end_event_id) for p in exact.periods] == [(START + timedelta(days=123), "second-end")]


def _final_rebuilt(order: list[dict[str, Any]], kernel: Kernel) -> dict[str, ChildState]:
    """Live as :func:`_final`, a child flagged by a deep correction rebuilt at once from the events received
    so far (what the stream worker does with the event archive)."""
    states: dict[str, ChildState] = {}
    received: dict[str, list[CaseEvent]] = {}
    clock = START
    for data in order:
        event = parse_event(data, received_at=None)
        received.setdefault(event.child_id, []).append(event)
        clock = max(clock, event.occurred_on)
        before = states.get(event.child_id)
        step = kernel.on_event(before, event, clock)
        if step.state.needs_rebuild:
            rebuilt = rebuild(kernel, before, received[event.child_id], step.state.evaluated_as_of or clock)
            assert rebuilt is not None
            step = rebuilt
        states[event.child_id] = step.state
    return {cid: kernel.engine.on_tick(s, UNTIL).state for cid, s in sorted(states.items())}


@FAST
@given(histories(distinct_dates=True), st.randoms(use_true_random=False))
def test_any_arrival_order_with_rebuilds_from_the_archive_gives_the_in_order_level_state(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    in_order = sorted(events, key=lambda e: e["occurred_at"])
    shuffled = list(events)
    rnd.shuffle(shuffled)  # lateness up to the whole history: deep corrections for the default log of 120 days
    kernel = Kernel(CONFIG)
    first, second = _final_rebuilt(in_order, kernel), _final_rebuilt(shuffled, kernel)
    assert not any(state.needs_rebuild for run in (first, second) for state in run.values())
    _assert_same_level_state(first, second)


@FAST
@given(histories())
def test_no_overdue_alert_for_a_deadline_that_was_met(events: list[dict[str, Any]]) -> None:
    parsed = [parse_event(e, received_at=None) for e in events]
    result = replay(parsed, UNTIL, CONFIG)
    for transition in result.transitions:
        if transition.state != "raised":
            continue
        state = result.states[transition.child_id]
        deadline = transition.dates.get("deadline")
        if transition.rule == "iha-overdue":
            start = transition.dates["care_started"]
            assert deadline == add_working_days(start, 20)
            assert not [a for a in state.health_assessments if add_months(start, -3) <= a.on <= deadline]
        elif transition.rule == "review-overdue" and "first" in transition.summary:
            start = transition.dates["care_started"]
            assert not [r for r in state.reviews if start <= r.on <= add_working_days(start, 20)]
        elif transition.rule == "visit-overdue" and "a first visit" in transition.summary:
            placed = transition.dates["placement_start"]
            assert not [v for v in state.visits if placed <= v.on <= placed + timedelta(days=7)]
        elif transition.rule == "rhi-overdue":
            evidence_ids = {e.event_id for e in transition.evidence}
            (episode,) = [e for e in state.missing_episodes if e.end_event_id in evidence_ids]
            assert deadline is not None
            assert not [i for i in episode.return_interviews if i.on <= deadline]
        if deadline is not None:
            assert transition.at > deadline  # never before the clock ran out (later after a late event)


@FAST
@given(histories())
def test_next_due_index_misses_nothing(events: list[dict[str, Any]]) -> None:
    """Replay ticks only children whose next_due has come; ticking every child every day gives the same."""
    parsed = sorted((parse_event(e, received_at=None) for e in events), key=lambda e: LoggedEvent.of(e).order)
    engine = Engine(CONFIG)
    states: dict[str, ChildState] = {}
    found = []
    day, pending = parsed[0].occurred_on, list(parsed)
    while day <= UNTIL:
        while pending and pending[0].occurred_on == day:
            event = pending.pop(0)
            outcome = engine.on_event(states.get(event.child_id), event, day)
            states[event.child_id] = outcome.state
            found.extend(outcome.transitions)
        for child_id in sorted(states):
            outcome = engine.on_tick(states[child_id], day)
            states[child_id] = outcome.state
            found.extend(outcome.transitions)
        day += timedelta(days=1)
    found.sort(key=lambda t: (t.at, t.fingerprint))
    assert transitions_ndjson(found) == _output(events)


@FAST
@given(histories())
def test_each_alert_alternates_raised_and_resolved(events: list[dict[str, Any]]) -> None:
    parsed = [parse_event(e, received_at=None) for e in events]
    by_alert: dict[str, list[AlertTransition]] = {}
    for transition in replay(parsed, UNTIL, CONFIG).transitions:
        by_alert.setdefault(transition.fingerprint, []).append(transition)
    for history in by_alert.values():
        assert history[0].state == "raised"
        for previous, current in pairwise(history):
            if current.state == "resolved":
                assert previous.state == "raised"
            elif previous.state == "raised":
                assert previous.severity != current.severity  # re-raised only as an update


@FAST
@given(histories(), st.integers(min_value=0, max_value=codec.MAX_PARTITION))
def test_the_stored_trailer_gives_the_wake_date_of_the_full_decode_for_every_state(
    events: list[dict[str, Any]], partition: int
) -> None:
    """Every state a history passes through (after each event and each tick): the wake date read from the tail
    of its stored bytes is the wake date of the state decoded from them, and of the state itself."""
    kernel = Kernel(CONFIG)
    states: dict[str, ChildState] = {}
    seen = 0
    for item in interleave([parse_event(e, received_at=None) for e in events], UNTIL):
        if isinstance(item, ClockTick):
            touched = [kernel.on_tick(state, item.as_of) for state in states.values()]
        else:
            touched = [kernel.on_event(states.get(item.child_id), item, item.occurred_on)]
        for step in touched:
            states[step.state.child_id] = step.state
            raw = codec.dumps(step.state, partition=partition)
            found = codec.trailer(raw)
            assert found is not None and found.partition == partition
            assert found.wake == Kernel.wake_at(codec.loads(raw)) == step.wake_at
            assert codec.knows(raw, kernel.version) and not codec.knows(raw, "another catalogue")
            seen += 1
    assert seen >= len(events)


@given(
    st.one_of(st.none(), st.dates()),
    st.one_of(st.none(), st.dates()),
    st.text(max_size=40),
    st.integers(min_value=0, max_value=codec.MAX_PARTITION),
)
def test_the_trailer_reads_back_any_due_dates_catalogue_and_partition(
    rules_due: date | None, indicators_due: date | None, catalogue: str, partition: int
) -> None:
    state = ChildState(child_id="c-1", rules_due=rules_due, indicators_due=indicators_due, catalogue=catalogue)
    raw = codec.dumps(state, partition=partition)
    found = codec.trailer(raw)
    assert found is not None
    assert (
        found.wake
        == Kernel.wake_at(codec.loads(raw))
        == min((d for d in (rules_due, indicators_due) if d), default=None)
    )
    assert found.partition == partition
    assert codec.knows(raw, catalogue) and not codec.knows(raw, catalogue + "x")
