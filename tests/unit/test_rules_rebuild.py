"""Rebuilding a child from its archived history: a deep correction ends exact (the same open alerts and
board totals as the history without the retracted event), the stream's processor and replay agree, and a
restored state that misses the child's last event is found and rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from schemas.alerts import AlertTransition
from schemas.deltas import NOTHING
from schemas.events import CaseEvent, ClockTick, event_to_json, parse_event
from services.alerts.lifecycle import Occurrence, apply_transition
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel
from services.rules.core.order import in_fold_order, interleave
from services.rules.core.rebuild import knows, stale
from services.rules.core.state import LoggedEvent
from services.rules.core.tests.deep import RETRACTED_ON, UNTIL, deep_child, steady_child
from services.rules.replay import replay
from services.rules.stream.clock import tick_value
from services.rules.stream.metrics import RulesMetrics
from services.rules.stream.processor import Processor, Step

CONFIG = RulesConfig.default()


def parsed(raw: list[dict[str, Any]]) -> list[CaseEvent]:
    return [parse_event(event, received_at=None) for event in raw]


def open_alerts(transitions: Iterable[AlertTransition]) -> set[tuple[str, str, str]]:
    """(fingerprint, rule, severity) of the alerts open once the transitions are applied in order."""
    newest: dict[str, AlertTransition] = {}
    for t in sorted(transitions, key=lambda t: (t.at, t.state == "resolved")):
        newest[t.fingerprint] = t
    return {(t.fingerprint, t.rule, t.severity) for t in newest.values() if t.state == "raised"}


class MemoryArchive:
    """The archive as the worker reads it, over a list (the SQL reader is tested on PostgreSQL)."""

    def __init__(self, events: Sequence[CaseEvent]) -> None:
        self.rows = list(events)

    def events(self, child_id: str) -> list[CaseEvent]:
        return [event for event in self.rows if event.child_id == child_id]

    def last_events(self, child_ids: Iterable[str]) -> Mapping[str, tuple[str, date]]:
        wanted, found = set(child_ids), {}
        for event in in_fold_order(self.rows):
            if event.child_id in wanted:
                found[event.child_id] = (event.event_id, event.occurred_on)
        return found


def feed(processor: Processor, events: list[CaseEvent], until: date) -> list[Step]:
    steps = []
    for item in interleave(events, until):
        if isinstance(item, ClockTick):
            batch = [processor.plan(0, None, tick_value(item.as_of))]
        else:
            batch = [processor.plan(0, item.child_id.encode(), orjson.dumps(event_to_json(item)))]
        for step in batch:
            processor.commit(step)
            steps.append(step)
    return steps


def test_a_deep_retraction_rebuilt_gives_the_alerts_and_totals_of_the_history_without_it() -> None:
    events = parsed(deep_child() + steady_child())
    flagged = replay(events, UNTIL, CONFIG)
    rebuilt = replay(events, UNTIL, CONFIG, rebuild=True)
    withdrawn = {"deep-1-7", "deep-1-9"}  # the care ending and its retraction
    exact = replay([e for e in events if e.event_id not in withdrawn], UNTIL, CONFIG)
    assert flagged.states["deep-1"].needs_rebuild and flagged.rebuilt == 0
    assert rebuilt.rebuilt == 1 and not rebuilt.states["deep-1"].needs_rebuild
    assert open_alerts(rebuilt.transitions) == open_alerts(exact.transitions)
    assert rebuilt.totals == exact.totals
    # Without the rebuild the child's care looks ended: the statutory alerts are missing.
    assert open_alerts(flagged.transitions) != open_alerts(exact.transitions)
    assert flagged.totals != exact.totals
    # The rebuilt state remembers the retraction: the withdrawn event coming again changes nothing.
    state = rebuilt.states["deep-1"]
    again = Kernel(CONFIG).on_event(state, next(e for e in events if e.event_id == "deep-1-7"), UNTIL)
    assert again.transitions == () and again.deltas == () and not again.state.needs_rebuild


def test_the_stream_processor_rebuilds_from_its_archive_and_agrees_with_replay() -> None:
    events = parsed(deep_child() + steady_child())
    processor = Processor(Kernel(CONFIG), {}, {}, MemoryArchive(events))
    steps = feed(processor, events, UNTIL)
    assert sum(step.rebuilt for step in steps) == 1
    replayed = replay(events, UNTIL, CONFIG, rebuild=True)
    got = sorted(orjson.dumps(t.model_dump(mode="json")) for s in steps for t in s.transitions)
    want = sorted(orjson.dumps(t.model_dump(mode="json")) for t in replayed.transitions)
    assert got == want
    totals: dict[str, Any] = {}
    for step in steps:
        for delta in step.deltas:
            totals[delta.indicator] = totals.get(delta.indicator, NOTHING) + delta.new - delta.old
    assert {k: v for k, v in totals.items() if v} == replayed.totals
    # Without an archive the child stays flagged (and approximate).
    bare = Processor(Kernel(CONFIG), {}, {})
    assert sum(step.rebuilt for step in feed(bare, events, UNTIL)) == 0


def alerts_after(transitions: Iterable[AlertTransition]) -> dict[str, list[Occurrence]]:
    """Each fingerprint's occurrences once the alerts service's lifecycle has applied ``transitions`` in
    the order given (the order of publication)."""
    stored: dict[str, list[Occurrence]] = {}
    for t in transitions:
        occurrences = stored.setdefault(t.fingerprint, [])
        outcome = apply_transition(occurrences[-1] if occurrences else None, t)
        if outcome.occurrence is None:
            continue
        if occurrences and outcome.occurrence.number == occurrences[-1].number:
            occurrences[-1] = outcome.occurrence
        else:
            occurrences.append(outcome.occurrence)
    return stored


def test_a_deep_correction_reaching_the_worker_late_is_dated_as_replay_dates_it() -> None:
    # The retraction is processed after the partition's clock passed its date (it was recorded late, or
    # the worker was behind): the rebuild's raises must not take the clock's date, or the alerts differ
    # from a replay of the same archive (which meets the retraction on its own day).
    events = parsed(deep_child() + steady_child())
    retraction = next(e for e in events if e.event_id == "deep-1-9")
    processor = Processor(Kernel(CONFIG), {}, {}, MemoryArchive(events))
    steps = feed(processor, [e for e in events if e is not retraction], UNTIL)
    assert processor.clock(0) == UNTIL > RETRACTED_ON
    late = processor.plan(0, retraction.child_id.encode(), orjson.dumps(event_to_json(retraction)))
    processor.commit(late)
    assert late.rebuilt == 1 and {t.state for t in late.transitions} == {"raised"}
    assert {t.at for t in late.transitions} == {RETRACTED_ON}  # not the clock's UNTIL
    replayed = replay(events, UNTIL, CONFIG, rebuild=True)
    published = [t for step in [*steps, late] for t in step.transitions]
    assert sorted(published, key=AlertTransition.sort_key) == sorted(replayed.transitions, key=AlertTransition.sort_key)
    assert alerts_after(published) == alerts_after(replayed.transitions)
    # Every raise is dated as the kernel dates the raise of a late change: the day the finding became true
    # in the corrected history, not before the correction could be known.
    exact = replay([e for e in events if e.event_id not in {"deep-1-7", "deep-1-9"}], UNTIL, CONFIG)
    became_true = {t.fingerprint: t.at for t in exact.transitions if t.state == "raised"}
    assert all(t.at == max(became_true[t.fingerprint], RETRACTED_ON) for t in late.transitions)


def test_a_restored_state_missing_its_last_event_is_found_and_rebuilt() -> None:
    events = parsed(steady_child() + deep_child())
    steady = [e for e in events if e.child_id == "steady-1"]
    last = parse_event(
        {
            "event_id": "steady-1-3",
            "type": "care.ended",
            "child_id": "steady-1",
            "occurred_at": "2023-06-20",
            "reason": "E4A",
        },
        received_at=None,
    )
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    # The table as a restore that stopped one update short leaves it: the care ending is not in it.
    published = feed(Processor(Kernel(CONFIG), children, clocks), steady, UNTIL)
    assert open_alerts(t for s in published for t in s.transitions)  # statutory alerts are open
    archive = MemoryArchive([*steady, last])
    restarted = Processor(Kernel(CONFIG), children, clocks, archive)
    assert restarted.needs_check(0)
    before = restarted._state("steady-1")
    assert before is not None and stale(before, "steady-1-3", last.occurred_on)
    checked = restarted.check(0)
    restarted.commit(checked)
    assert checked.kind == "check" and checked.rebuilt == 1 and not restarted.needs_check(0)
    after = restarted._state("steady-1")
    assert after is not None and knows(after, "steady-1-3", last.occurred_on)
    # The check published what closes the gap: the alerts and contributions are replay's.
    replayed = replay([*steady, last], UNTIL, CONFIG)
    every = [t for s in [*published, checked] for t in s.transitions]
    assert open_alerts(every) == open_alerts(replayed.transitions) == set()
    assert {t.state for t in checked.transitions} == {"resolved"}
    # Dated as a replay that never missed the care ending dates them: on its day (not on the clock's), and
    # an alert the stale state raised after that day is resolved on its raise's day, never before it.
    raised = {t.fingerprint: t.at for t in every if t.state == "raised"}
    cleared = {t.fingerprint: t.at for t in replayed.transitions if t.state == "resolved"}
    assert cleared and set(cleared.values()) == {last.occurred_on}
    assert {t.fingerprint: t.at for t in checked.transitions} == {fp: cleared.get(fp, at) for fp, at in raised.items()}
    stored = alerts_after(every)
    assert {fp: stored[fp] for fp in cleared} == alerts_after(replayed.transitions)
    assert Kernel.contributions(after) == Kernel.contributions(replayed.states["steady-1"])
    assert checked.deltas
    # Checked once per assignment; a second check finds nothing.
    assert restarted.check(0).rebuilt == 0
    # An archived event dated after the partition's clock is not looked for: the stream will get to it.
    future = parse_event(
        {"event_id": "steady-1-4", "type": "visit.completed", "child_id": "steady-1", "occurred_at": "2024-05-01"},
        received_at=None,
    )
    archive.rows.append(future)
    assert Processor(Kernel(CONFIG), children, clocks, archive).check(0).rebuilt == 0


def test_a_rebuild_resolves_an_alert_on_the_day_the_corrected_history_resolves_it() -> None:
    # The restored state misses two updates: an SDQ score (the first day the history changed) and, later, the
    # care ending that clears the overdue visit. The resolution takes the care ending's day, as in a replay
    # that never missed them, not the first missed day.
    events = parsed(steady_child())
    missed = [
        parse_event(
            {"event_id": "steady-1-3", "type": "sdq.recorded", "child_id": "steady-1", "occurred_at": "2023-06-02"}
            | {"score": 5},
            received_at=None,
        ),
        parse_event(
            {"event_id": "steady-1-4", "type": "care.ended", "child_id": "steady-1", "occurred_at": "2023-06-20"}
            | {"reason": "E4A"},
            received_at=None,
        ),
    ]
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    published = feed(Processor(Kernel(CONFIG), children, clocks), events, UNTIL)
    checked = Processor(Kernel(CONFIG), children, clocks, MemoryArchive([*events, *missed])).check(0)
    assert checked.rebuilt == 1
    replayed = replay([*events, *missed], UNTIL, CONFIG)
    cleared = {t.fingerprint: t.at for t in replayed.transitions if t.state == "resolved"}
    assert set(cleared.values()) == {date(2023, 6, 20)}
    assert {fp: at for fp, at in ((t.fingerprint, t.at) for t in checked.transitions) if fp in cleared} == cleared
    stored = alerts_after([t for step in [*published, checked] for t in step.transitions])
    assert {fp: stored[fp] for fp in cleared} == alerts_after(replayed.transitions)


def test_the_check_leaves_a_state_that_has_every_archived_event() -> None:
    events = parsed(steady_child())
    children: dict[str, Any] = {}
    feed(Processor(Kernel(CONFIG), children, {}), events, UNTIL)
    processor = Processor(Kernel(CONFIG), children, {}, MemoryArchive(events))
    step = processor.check(0)
    assert (step.rebuilt, step.writes, step.transitions) == (0, {}, [])
    assert LoggedEvent.order_of(events[-1])[0] == date(2023, 6, 1)


class UnreadableArchive(MemoryArchive):
    """An archive whose database is down: every read fails as SQLAlchemy's would."""

    def events(self, child_id: str) -> list[CaseEvent]:
        raise ConnectionError("archive down")

    def last_events(self, child_ids: Iterable[str]) -> Mapping[str, tuple[str, date]]:
        raise ConnectionError("archive down")


def test_an_unreadable_archive_leaves_the_child_flagged_and_the_record_processed() -> None:
    events = parsed(deep_child())
    processor = Processor(Kernel(CONFIG), {}, {}, UnreadableArchive(events))
    steps = feed(processor, events, UNTIL)
    assert all(step.kind != "bad" for step in steps)
    assert sum(step.unrebuilt for step in steps) == 1 and sum(step.rebuilt for step in steps) == 0
    state = processor._state("deep-1")
    assert state is not None and state.needs_rebuild  # its next event tries again
    checked = processor.check(0)
    assert (checked.errors, checked.rebuilt) == (1, 0)


def test_the_check_reads_the_staged_states_not_only_the_tables() -> None:
    # The agent writes a state only once the broker has its outputs, so the tables can be behind the
    # states the next records are planned from: the check must compare those, or it would "rebuild" a
    # child from an older state than the one already published, and write it over the newer one.
    events = parsed(steady_child())
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    processor = Processor(Kernel(CONFIG), children, clocks, MemoryArchive(events))
    items = list(interleave(events, UNTIL))
    last = max(number for number, item in enumerate(items) if not isinstance(item, ClockTick))
    for number, item in enumerate(items[: last + 3]):  # the child's last event, and the ticks after it
        if isinstance(item, ClockTick):
            step = processor.plan(0, None, tick_value(item.as_of))
        else:
            step = processor.plan(0, item.child_id.encode(), orjson.dumps(event_to_json(item)))
        processor.stage(step)
        if number < last:
            processor.write(step)  # acknowledged and written; from the last event on, still in flight
    assert processor.staged == 1 and "steady-1" in children  # the table's state misses the last event
    clock = processor.clock(0)
    assert clock is not None and clock >= max(event.occurred_on for event in events)
    # Read from the tables alone (at the same clock), the child looks stale.
    behind = Processor(Kernel(CONFIG), dict(children), {0: clock.isoformat()}, MemoryArchive(events))
    assert behind.check(0).rebuilt == 1
    checked = processor.check(0)
    assert (checked.rebuilt, checked.writes, checked.transitions) == (0, {}, [])


def test_a_check_discarded_before_it_was_written_runs_again() -> None:
    events = parsed(steady_child())
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    feed(Processor(Kernel(CONFIG), children, clocks), events[:-1], UNTIL)
    archive = MemoryArchive(events)  # the table misses the last event
    processor = Processor(Kernel(CONFIG), children, clocks, archive)
    checked = processor.check(0)
    assert checked.rebuilt == 1 and not processor.needs_check(0)
    processor.stage(checked)
    processor.discard_staged()  # e.g. the agent stopped before the broker acknowledged the rebuild's outputs
    assert processor.needs_check(0)
    again = processor.check(0)
    assert again.rebuilt == 1
    processor.stage(again)
    processor.write(again)
    processor.discard_staged()
    assert not processor.needs_check(0)
    assert processor.check(0).rebuilt == 0


def test_the_check_counts_its_rebuilds_and_is_not_counted_as_an_event_processed() -> None:
    # The scale-out and restart tests hold the events counted to the events sent.
    metrics = RulesMetrics(CollectorRegistry())

    def processed() -> float:
        return sum(s.value for family in metrics.events.collect() for s in family.samples if s.name.endswith("_total"))

    metrics.observe(Step("check", 0, rebuilt=1), 0.01)
    assert processed() == 0
    metrics.observe(Step("event", 0, event_type="care.started", rebuilt=1, unrebuilt=1), 0.01)
    assert processed() == 1
    rebuilds = {
        s.labels["cause"]: s.value for f in metrics.rebuilds.collect() for s in f.samples if s.name.endswith("_total")
    }
    assert rebuilds == {"stale": 1, "deep": 1, "incomplete": 1}


def test_a_partition_that_leaves_and_comes_back_is_checked_again() -> None:
    # While the partition is away its table may be changed by the worker that holds it, and the restore that
    # comes with its return can stop short of the last update again: the check must run once more.
    events = parsed(steady_child())
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    feed(Processor(Kernel(CONFIG), children, clocks), events, UNTIL)
    processor = Processor(Kernel(CONFIG), children, clocks, MemoryArchive(events))
    assert processor.needs_check(0) and processor.needs_check(1)
    processor.commit(processor.check(0))
    processor.commit(processor.check(1))
    assert not processor.needs_check(0) and not processor.needs_check(1)
    processor.forget({0})  # revoked: partition 1 stays here and is not checked again
    assert processor.needs_check(0) and not processor.needs_check(1)
    # Meanwhile the other worker processed the care ending; the restore on the way back stops one update short.
    ended = parse_event(
        {"event_id": "steady-1-3", "type": "care.ended", "child_id": "steady-1", "occurred_at": "2023-06-20"}
        | {"reason": "E4A"},
        received_at=None,
    )
    assert isinstance(processor.archive, MemoryArchive)
    processor.archive.rows.append(ended)
    checked = processor.check(0)
    assert checked.rebuilt == 1 and {t.state for t in checked.transitions} == {"resolved"}
    processor.commit(checked)
    state = processor._state("steady-1")
    assert state is not None and knows(state, "steady-1-3", ended.occurred_on)
    assert not processor.needs_check(0)


class CountingScans(dict[str, Any]):
    """A children table that counts full scans."""

    scans = 0

    def items(self) -> Any:
        self.scans += 1
        return super().items()


def test_the_restored_state_check_and_the_wake_indexes_read_the_table_once_at_start() -> None:
    events = parsed(steady_child() + deep_child())
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    feed(Processor(Kernel(CONFIG), children, clocks), events, UNTIL)
    stored = CountingScans(children)
    restarted = Processor(Kernel(CONFIG), stored, clocks, MemoryArchive(events))
    checked = restarted.check(0)
    restarted.commit(checked)
    assert checked.rebuilt == 0 and checked.errors == 0
    restarted.commit(restarted.plan(0, None, tick_value(UNTIL)))
    assert stored.scans == 1
    # The check compared every child of the partition with the archive: a child missing its last archived
    # event (one added to the archive now) is found from the same pass.
    newer = parse_event(
        {"event_id": "steady-1-9", "type": "visit.completed", "child_id": "steady-1", "occurred_at": str(UNTIL)},
        received_at=None,
    )
    again = Processor(Kernel(CONFIG), stored, clocks, MemoryArchive([*events, newer]))
    assert again.check(0).rebuilt == 1 and stored.scans == 2
