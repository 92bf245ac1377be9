"""The rules stream's record handling without a broker: decoding, bad records, the clock, the deadline
index and restarts, held against replay (the same core, no stream)."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from schemas.events import ClockTick, event_to_json
from services.board.core.aggregate import Aggregate
from services.rules.core import codec
from services.rules.core import indicators as indicator_rows
from services.rules.core.config import RulesConfig
from services.rules.core.indicators import contributions
from services.rules.core.kernel import Kernel
from services.rules.core.order import WakeIndex
from services.rules.replay import replay
from services.rules.stream.clock import interleave, tick_value
from services.rules.stream.processor import Processor, Step
from services.rules.stream.tests.history import UNTIL, hand_made, history

PARTITIONS = 3
CONFIG = RulesConfig.default()


def records(events: list[Any], until: date) -> list[tuple[int, bytes | None, bytes]]:
    """(partition, key, value) in feed order; a child's partition is a stable function of its id."""
    out: list[tuple[int, bytes | None, bytes]] = []
    for item in interleave(events, until):
        if isinstance(item, ClockTick):
            out += [(p, None, tick_value(item.as_of)) for p in range(PARTITIONS)]
        else:
            partition = sum(item.child_id.encode()) % PARTITIONS
            out.append((partition, item.child_id.encode(), orjson.dumps(event_to_json(item))))
    return out


def run(processor: Processor, batch: list[tuple[int, bytes | None, bytes]]) -> list[Step]:
    steps = []
    for partition, key, value in batch:
        step = processor.plan(partition, key, value)
        processor.commit(step)
        steps.append(step)
    return steps


def dumped(steps: list[Step]) -> list[dict[str, Any]]:
    return sorted((t.model_dump(mode="json") for s in steps for t in s.transitions), key=lambda d: orjson.dumps(d))


def expected(events: list[Any]) -> list[dict[str, Any]]:
    result = replay(events, UNTIL, CONFIG)
    return sorted((t.model_dump(mode="json") for t in result.transitions), key=lambda d: orjson.dumps(d))


def restored(children: dict[str, bytes]) -> dict[str, bytes]:
    """The children table as a new process finds it: equal values, none of them the objects written."""
    return {child_id: bytes(bytearray(value)) for child_id, value in children.items()}


def new_processor(children: dict[str, Any] | None = None, clocks: dict[int, str] | None = None) -> Processor:
    return Processor(Kernel(CONFIG), {} if children is None else children, {} if clocks is None else clocks)


def test_stream_order_gives_exactly_the_transitions_of_replay() -> None:
    events = history()
    steps = run(new_processor(), records(events, UNTIL))
    assert dumped(steps) == expected(events)
    assert len(dumped(steps)) > 20


def test_the_indicator_deltas_add_up_to_every_child_s_contribution_at_the_end() -> None:
    events = history()
    steps = run(new_processor(), records(events, UNTIL))
    live = Aggregate()
    live.apply_all(delta for step in steps for delta in step.deltas)
    final_states = replay(events, UNTIL, CONFIG).states.values()
    assert live.totals == Aggregate.of(contributions(state, UNTIL) for state in final_states).totals
    assert live.get("cla-count").numerator > 0


def test_a_restarted_processor_rebuilds_its_index_from_the_tables_and_carries_on() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    half = len(batch) // 2
    first = run(new_processor(children, clocks), batch[:half])
    # A new process: only the tables survive (new copies of the stored bytes, as from a changelog).
    children = restored(children)
    clocks = {int(k): v for k, v in orjson.loads(orjson.dumps({str(k): v for k, v in clocks.items()})).items()}
    second = run(new_processor(children, clocks), batch[half:])
    assert dumped(first + second) == expected(events)


class CountingScans(dict[str, Any]):
    """A children table that counts full scans."""

    scans = 0

    def items(self) -> Any:
        self.scans += 1
        return super().items()


def test_a_restarted_processor_reads_its_stored_children_once_for_every_partition() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    half = len(batch) // 2
    first = run(new_processor(children, clocks), batch[:half])
    stored = CountingScans(restored(children))
    assert {codec.trailer(value).partition for value in stored.values()} == set(range(PARTITIONS))  # type: ignore[union-attr]
    restarted = new_processor(stored, dict(clocks))
    second = run(restarted, batch[half:])
    assert dumped(first + second) == expected(events)
    assert stored.scans == 1
    # A partition assigned again is read again (another worker may have changed it meanwhile).
    restarted.forget({1})
    restarted.index(1)
    assert stored.scans == 2


def test_records_processed_again_after_a_crash_repeat_identical_transitions_only() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    cut = len(batch) * 2 // 3
    first = run(new_processor(children, clocks), batch[:cut])
    # The committed offset lagged: the last 200 records are delivered again to a new process.
    again = run(new_processor(children, clocks), batch[cut - 200 :])
    everything = dumped(first + again)
    distinct = sorted({orjson.dumps(d): d for d in everything}.values(), key=lambda d: orjson.dumps(d))
    assert distinct == expected(events)


def test_children_ahead_of_the_clock_after_a_crash_are_not_evaluated_back_in_time() -> None:
    # faust writes tables as it goes but commits offsets later: after a crash the children table can hold
    # states newer than the records read again (and than the clocks table, a changelog of its own).
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    committed = len(batch) // 2
    first = run(new_processor(children, clocks), batch[:committed])
    clocks_at_commit = dict(clocks)
    first += run(new_processor(children, clocks), batch[committed : committed + 400])
    again = run(new_processor(children, clocks_at_commit), batch[committed:])
    distinct = sorted({orjson.dumps(d): d for d in dumped(first + again)}.values(), key=lambda d: orjson.dumps(d))
    assert distinct == expected(events)


def test_a_tick_evaluates_only_the_children_that_are_due() -> None:
    processor = new_processor()
    run(processor, records(hand_made(), date(2026, 1, 20)))
    # Nothing is due the day after a tick that evaluated everything due.
    quiet = processor.plan(0, None, tick_value(date(2026, 1, 21)))
    assert quiet.kind == "tick" and quiet.writes == {}
    # a1 (care started 5 Jan) reaches its IHA deadline on 2 Feb: its partition's tick evaluates it.
    partition = sum(b"a1") % PARTITIONS
    due = processor.plan(partition, None, tick_value(date(2026, 2, 3)))
    assert "a1" in due.writes
    assert "iha-overdue" in {t.rule for t in due.transitions if t.child_id == "a1"}


def test_each_day_s_tick_sent_twice_to_every_partition_evaluates_every_child_once() -> None:
    # Two rules processes with their own clock schedulers both tick every partition each day.
    events = history()
    batch = records(events, UNTIL)
    doubled = [copy for record in batch for copy in ([record, record] if record[1] is None else [record])]
    steps = run(new_processor(), doubled)
    assert dumped(steps) == expected(events)
    ticks = [step for step in steps if step.kind == "tick"]
    assert len(ticks) == 2 * sum(key is None for _, key, _ in batch)
    for first, second in zip(ticks[::2], ticks[1::2], strict=True):
        assert (first.partition, first.as_of) == (second.partition, second.as_of)
        assert (second.writes, second.transitions, second.deltas) == ({}, [], [])


def test_an_old_tick_changes_nothing() -> None:
    processor = new_processor()
    run(processor, records(hand_made(), date(2026, 3, 1)))
    step = processor.plan(0, None, tick_value(date(2026, 2, 1)))
    assert (step.kind, step.writes, step.transitions, step.clock) == ("tick", {}, [], None)
    assert processor.clock(0) == date(2026, 3, 1)


def test_an_event_is_evaluated_as_of_the_partition_clock_when_it_is_later() -> None:
    processor = new_processor()
    run(processor, [(0, None, tick_value(date(2026, 5, 1)))])
    event = hand_made()[0]  # care started 5 Jan: by 1 May the IHA is long overdue
    step = processor.plan(0, b"a1", orjson.dumps(event_to_json(event)))
    assert step.as_of == date(2026, 5, 1)
    assert "iha-overdue" in {t.rule for t in step.transitions}


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"a1", b"{not json", "json"),
        (b"a1", b"", "json"),
        (b"a1", b'{"type": "care.started", "child_id": "a1"}', "invalid"),
        (b"a1", b'{"type": "clock.tick", "as_of": "yesterday"}', "invalid"),
        (b"a1", b"[1, 2]", "invalid"),
        (b"zz", orjson.dumps(event_to_json(hand_made()[0])), "key"),
        (None, orjson.dumps(event_to_json(hand_made()[0])), "key"),
    ],
)
def test_a_bad_record_is_reported_and_changes_nothing(key: bytes | None, value: bytes, reason: str) -> None:
    processor = new_processor()
    step = processor.plan(0, key, value)
    assert (step.kind, step.bad_reason, step.writes, step.transitions) == ("bad", reason, {}, [])
    assert "a1" not in step.detail  # no child id in what gets logged
    processor.commit(step)
    assert processor.children == {} and processor.clocks == {}


def test_the_wake_index_yields_due_children_in_date_order_skipping_superseded_entries() -> None:
    index = WakeIndex()
    for due, child in [(date(2026, 3, 1), "b"), (date(2026, 1, 1), "a"), (date(2026, 2, 1), "c")]:
        index.set(child, due)
    index.set("d", date(2026, 1, 15))
    index.set("d", date(2026, 4, 1))  # superseded: its January entry is skipped
    index.set("c", None)  # not due until its next event
    assert list(index.pop_due(date(2026, 2, 15))) == ["a"]
    assert len(index) == 2 and "a" not in index
    assert list(index.pop_due(date(2026, 12, 31))) == ["b", "d"]


def test_after_a_deploy_one_tick_per_partition_re_evaluates_every_child_and_completes_the_totals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = history()
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    old_config = RulesConfig.from_mapping({"rules": {"visit-overdue": {"enabled": False}}})
    before = run(Processor(Kernel(old_config), children, clocks), records(events, UNTIL))
    # The new release adds an indicator every child contributes to, and turns visit-overdue back on.
    rows = indicator_rows.rows_of
    monkeypatch.setattr(indicator_rows, "INDICATORS_VERSION", "with-a-new-indicator")
    monkeypatch.setattr(indicator_rows, "rows_of", lambda parts: tuple(sorted((*rows(parts), ("new", 1, 0)))))
    restarted = Processor(Kernel(CONFIG), restored(children), clocks)
    next_day = date.fromordinal(UNTIL.toordinal() + 1)
    after = run(restarted, [(p, None, tick_value(next_day)) for p in range(PARTITIONS)])
    touched = {child for step in after for child in step.writes}
    assert touched == set(children)
    assert all(codec.knows(value, restarted.kernel.version) for value in restarted.children.values())
    live = Aggregate()
    live.apply_all(delta for step in before + after for delta in step.deltas)
    assert live.get("new").numerator == len(children)
    # visit-overdue is raised for the children replay under the new rules has it active for.
    expected_active = {
        (f.rule, child) for child, state in replay(events, next_day, CONFIG).states.items() for f in state.findings
    }
    raised = {(t.rule, t.child_id) for step in after for t in step.transitions if t.state == "raised"}
    visit = {pair for pair in expected_active if pair[0] == "visit-overdue"}
    assert visit and visit <= raised
    # And the next tick has nothing left to sweep.
    quiet = run(restarted, [(p, None, tick_value(next_day)) for p in range(PARTITIONS)])
    assert all(step.writes == {} for step in quiet)


def test_staged_steps_are_read_by_the_next_plans_and_reach_the_tables_only_when_written() -> None:
    # The agent pipelines: it plans record after record from staged states and writes each step to the
    # tables, in record order, only once the broker has acknowledged that step's outputs (here: 50 behind).
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    processor = new_processor(children, clocks)
    steps: list[Step] = []
    unwritten: list[Step] = []
    for number, (partition, key, value) in enumerate(batch):
        step = processor.plan(partition, key, value)
        processor.stage(step)
        steps.append(step)
        unwritten.append(step)
        if number == 40:
            assert children == {} and clocks == {}, "nothing is written before its outputs are acknowledged"
            assert processor.staged > 0
        if number == len(batch) // 2:
            # A wake index built again (a partition assigned again) reads the staged wake dates too.
            assert processor.staged > 0
            processor.forget(set(range(PARTITIONS)))
        if len(unwritten) > 50:
            processor.write(unwritten.pop(0))
    for step in unwritten:
        processor.write(step)
    assert processor.staged == 0
    assert dumped(steps) == expected(events)
    # The tables end as a processor that committed every step at once leaves them.
    reference_children: dict[str, Any] = {}
    reference_clocks: dict[int, str] = {}
    run(new_processor(reference_children, reference_clocks), batch)
    assert clocks == reference_clocks
    assert children == reference_children


def test_discarded_staged_steps_leave_the_tables_as_last_written_and_are_computed_again() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, Any] = {}
    clocks: dict[int, str] = {}
    processor = new_processor(children, clocks)
    cut = len(batch) // 3
    first = run(processor, batch[:cut])
    tables_before = (dict(children), dict(clocks))
    for partition, key, value in batch[cut : 2 * cut]:
        processor.stage(processor.plan(partition, key, value))
    processor.discard_staged()  # e.g. the agent stopped with these outputs unacknowledged
    assert (dict(children), dict(clocks)) == tables_before
    assert processor.staged == 0
    again = run(processor, batch[cut:])
    assert dumped(first + again) == expected(events)


def previous_release(children: dict[str, bytes]) -> dict[str, bytes]:
    """The children table as the previous release stored it: a JSON object around a format-5 state."""
    out = {}
    for child_id, value in children.items():
        state, found = codec.loads(value), codec.trailer(value)
        assert found is not None
        wake = Kernel.wake_at(state)
        envelope = {
            "state": [5, *codec.encode(state)[1:17]],
            "wake": wake.isoformat() if wake else None,
            "catalogue": state.catalogue,
            "partition": found.partition,
        }
        out[child_id] = orjson.dumps(envelope)
    return out


def test_a_restarted_processor_builds_its_wake_indexes_from_the_trailers_without_decoding_a_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, bytes] = {}
    clocks: dict[int, str] = {}
    run(new_processor(children, clocks), batch[: len(batch) // 2])
    restarted = new_processor(restored(children), dict(clocks))

    def no_decode(*args: Any) -> Any:
        raise AssertionError("a state was decoded to build the wake index")

    with monkeypatch.context() as patched:
        patched.setattr(codec, "decode", no_decode)
        patched.setattr(codec, "loads", no_decode)
        indexes = [restarted.index(p) for p in range(PARTITIONS)]
    due = {child_id: index.get(child_id) for index in indexes for child_id in children if child_id in index}
    want = {child_id: Kernel.wake_at(codec.loads(value)) for child_id, value in children.items()}
    assert due == {child_id: wake for child_id, wake in want.items() if wake is not None}
    assert len(due) > 10


def test_a_table_stored_by_the_previous_release_is_read_through_a_full_decode_and_carries_on() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, bytes] = {}
    clocks: dict[int, str] = {}
    half = len(batch) // 2
    first = run(new_processor(children, clocks), batch[:half])
    older = previous_release(children)
    assert all(codec.trailer(value) is None for value in older.values())
    restarted = new_processor(dict(older), dict(clocks))
    for partition in range(PARTITIONS):  # the index from the envelopes' wake dates: what the trailers say
        index = restarted.index(partition)
        for child_id, value in children.items():
            found = codec.trailer(value)
            assert found is not None
            if found.partition == partition:
                assert index.get(child_id) == found.wake
    second = run(restarted, batch[half:])
    assert dumped(first + second) == expected(events)
    rewritten = [value for child_id, value in restarted.children.items() if value is not older.get(child_id)]
    assert rewritten and all(codec.knows(value, restarted.kernel.version) for value in rewritten)


def test_a_child_of_the_previous_release_under_another_catalogue_is_due_at_once() -> None:
    events = history()
    batch = records(events, UNTIL)
    children: dict[str, bytes] = {}
    old_config = RulesConfig.from_mapping({"rules": {"visit-overdue": {"enabled": False}}})
    run(Processor(Kernel(old_config), children, {}), batch[: len(batch) // 2])
    for table in (restored(children), previous_release(children)):
        restarted = new_processor(table, {})
        due = [child for p in range(PARTITIONS) for child in restarted.index(p).pop_due(date.min)]
        assert sorted(due) == sorted(children)
