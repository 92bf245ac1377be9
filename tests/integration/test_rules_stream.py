"""The rules faust worker on a real broker (Tansu), held against replay: same input, same transitions."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from carewatch.testing.stream import WorkerProcess, read_alerts, read_partitioned
from carewatch.testing.synthetic import authority
from schemas import topics
from schemas.dead_letters import DeadLetter
from schemas.events import parse_event
from services.board.core.aggregate import Aggregate, DeltaBatch
from services.board.core.daily import DailyTotals
from services.board.core.indicators import contributions
from services.rules.core.config import RulesConfig
from services.rules.replay import ReplayResult, replay
from services.rules.stream.clock import feed, make_producer
from services.rules.stream.tests.history import UNTIL, history

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the fresh_broker fixture's topics
DEADLINE_SECONDS = 180.0


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) for record in records)


def difference(got: list[bytes], want: list[bytes]) -> str:
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    return f"extra {len(extra)}: {extra[:5]}\nmissing {len(missing)}: {missing[:5]}"


def expected(result: ReplayResult) -> list[bytes]:
    return canonical([t.model_dump(mode="json") for t in result.transitions])


@pytest.fixture
def worker(fresh_broker: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        process.wait_metrics()
        yield process
    finally:
        process.stop()


def metric(process: WorkerProcess, line_prefix: str) -> float:
    for line in process.metrics().splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_stream_publishes_exactly_what_replay_computes(fresh_broker: str, worker: WorkerProcess) -> None:
    events = history()
    replayed = replay(events, UNTIL, RulesConfig.default())
    want = expected(replayed)
    producer = make_producer(fresh_broker)
    try:
        # A record that is not JSON, ahead of the history: counted, skipped, and nothing else changes.
        producer.send(topics.CASE_EVENTS, key=b"a1", value=b"\x00 not an event").get(timeout=30)
        sent_events, _ = feed(producer, events, UNTIL)
    finally:
        producer.close()
    assert sent_events == len(events)

    got = read_alerts(
        fresh_broker, lambda records: len(records) >= len(want), DEADLINE_SECONDS, alive=worker.check_alive
    )
    assert canonical(got) == want, difference(canonical(got), want)
    # Nothing more arrives once every transition is in (no duplicates without a crash).
    assert len(read_alerts(fresh_broker, lambda _: False, 3.0)) == len(want)

    # The board's daily totals, fed the indicator deltas as its feed does, complete the last day with
    # every child's contribution as of that day.
    want_totals = Aggregate.of(contributions(state, UNTIL) for state in replayed.states.values()).totals

    def daily(records: list[tuple[int, dict[str, Any]]]) -> dict[date, Aggregate]:
        totals = DailyTotals(partitions=PARTITIONS)
        for partition, record in records:
            totals.add(partition, DeltaBatch.model_validate(record))
        return totals.complete_days()

    batches = read_partitioned(fresh_broker, topics.INDICATOR_DELTAS, lambda r: UNTIL in daily(r), DEADLINE_SECONDS)
    days = daily(batches)
    assert UNTIL in days
    assert days[UNTIL].totals == want_totals

    deadline = time.monotonic() + 30
    while metric(worker, 'carewatch_rules_bad_records_total{reason="json"}') < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(worker, 'carewatch_rules_bad_records_total{reason="json"}') == 1
    assert metric(worker, 'carewatch_dead_letters_total{stage="rules"}') == 1
    # The poison record is on the dead-letter topic with where it was and why, and nothing else is.
    [dead] = read_partitioned(fresh_broker, topics.CASE_EVENTS_DLQ, lambda r: len(r) >= 1, DEADLINE_SECONDS)
    letter = DeadLetter.model_validate(dead[1])
    assert (letter.stage, letter.reason, letter.source_topic) == ("rules", "json", topics.CASE_EVENTS)
    assert letter.source_offset is not None and letter.source_partition == dead[0]
    assert (letter.original(), letter.key()) == (b"\x00 not an event", b"a1")
    assert metric(worker, 'carewatch_rules_events_processed_total{type="care.started"}') == sum(
        e.type == "care.started" for e in events
    )
    # Operations: the worker reports how far behind it is per partition (caught up now) and its last tick.
    scrape = worker.metrics()
    lag = re.findall(r'^carewatch_consumer_lag_records\{consumer="rules",partition="(\d+)"\} (\S+)$', scrape, re.M)
    assert lag, "lag is reported for the partitions the worker read"
    assert {float(value) for _, value in lag} == {0.0}
    assert metric(worker, "carewatch_rules_last_tick_timestamp_seconds") > time.time() - 600
    assert metric(worker, "process_resident_memory_bytes") > 0
    child_ids = {event.child_id for event in events}
    assert child_ids.isdisjoint(re.findall(r"[A-Za-z0-9_-]+", worker.log_path.read_text()))  # none logged


# rocksdb://: the killed worker's files are reopened unclosed, their states ahead of the committed offsets (the
# records since are processed again on states that already hold them) and their persisted changelog offsets
# possibly behind the changelog.
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_after_a_crash_mid_stream_nothing_is_missing_and_repeats_are_identical(
    fresh_broker: str, tmp_path: Path, store: str
) -> None:
    events = [parse_event(data, received_at=None) for data in authority(150, 11, date(2025, 7, 1), date(2026, 6, 30))]
    want = expected(replay(events, UNTIL, RulesConfig.default()))
    log = tmp_path / "worker.log"
    first = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "data", log, store=store).start()
    second: WorkerProcess | None = None
    producer = make_producer(fresh_broker)
    feeder = threading.Thread(target=feed, args=(producer, events, UNTIL), daemon=True)
    try:
        first.wait_metrics()
        feeder.start()
        seen = read_alerts(
            fresh_broker,
            lambda records: len(records) >= len(want) // 4,
            DEADLINE_SECONDS,
            alive=first.check_alive,
        )
        first.kill()
        assert len(set(canonical(seen))) < len(want), "the worker finished before it could be killed mid-stream"
        feeder.join(timeout=DEADLINE_SECONDS)
        assert not feeder.is_alive()

        second = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "data", log, store=store).start()
        got: list[dict[str, Any]] = read_alerts(
            fresh_broker,
            lambda records: len(set(canonical(records))) >= len(want),
            DEADLINE_SECONDS,
            alive=second.check_alive,
        )
    finally:
        first.kill()
        if second is not None:
            second.stop()
        producer.close()

    # Repeats (records read again after the crash) are allowed only as identical copies: any copy that
    # differed would show up here as a transition replay does not have.
    distinct = sorted(set(canonical(got)))
    assert distinct == want, difference(distinct, want)
