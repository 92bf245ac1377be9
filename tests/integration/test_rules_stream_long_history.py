"""A child with a very long history streams through the real broker (Tansu) without error: its stored state
stays small (it used to pass Kafka's 1 MB record limit at about 4,000 events and stop the worker), and the
worker publishes exactly what replay computes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from carewatch.testing.stream import WorkerProcess, read_alerts, read_partitioned
from schemas import topics
from schemas.deltas import DeltaBatch
from schemas.events import parse_event
from services.board.core.aggregate import Aggregate
from services.board.core.daily import DailyTotals
from services.rules.core.config import RulesConfig
from services.rules.core.indicators import contributions
from services.rules.core.tests.busy import busy_child
from services.rules.replay import replay
from services.rules.stream.app import APP_ID, CHILDREN_TABLE
from services.rules.stream.clock import feed, make_producer

pytestmark = pytest.mark.integration

PARTITIONS = 4
DEADLINE_SECONDS = 900.0


@pytest.fixture
def worker(fresh_broker: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        process.wait_metrics()
        yield process
    finally:
        process.stop()


def _changelog_sizes(bootstrap: str) -> list[int]:
    """The size of every value written to the children table's changelog."""
    topic = f"{APP_ID}-{CHILDREN_TABLE}-changelog"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [len(record.value) for record in consumer if record.value is not None]
    finally:
        consumer.close()


@pytest.mark.timeout(1500)  # 10,000 events and 16,000 ticks through one worker on a shared machine
def test_a_child_with_ten_thousand_events_streams_without_error(fresh_broker: str, worker: WorkerProcess) -> None:
    # Every missing episode interviewed: no alert stays open for good, so nothing should grow with the years.
    raw = busy_child("long-1", years=11.2, visit_every=1, missing_every=2, interviewed=1.0)
    events = [parse_event(data, received_at=None) for data in raw]
    assert len(events) >= 10_000
    until = date.fromisoformat(raw[-1]["occurred_at"])
    replayed = replay(events, until, RulesConfig.default())
    want = sorted(orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) for t in replayed.transitions)
    assert want

    producer = make_producer(fresh_broker)
    try:
        sent, _ = feed(producer, events, until, partitions=PARTITIONS)
    finally:
        producer.close()
    assert sent == len(events)

    got = read_alerts(fresh_broker, lambda r: len(r) >= len(want), DEADLINE_SECONDS, alive=worker.check_alive)
    assert sorted(orjson.dumps(t, option=orjson.OPT_SORT_KEYS) for t in got) == want

    def daily(records: list[tuple[int, dict[str, Any]]]) -> dict[date, Aggregate]:
        totals = DailyTotals(partitions=PARTITIONS)
        for partition, record in records:
            totals.add(partition, DeltaBatch.model_validate(record))
        return totals.complete_days()

    batches = read_partitioned(fresh_broker, topics.INDICATOR_DELTAS, lambda r: until in daily(r), DEADLINE_SECONDS)
    final = replayed.states["long-1"]
    assert daily(batches)[until].totals == Aggregate.of([contributions(final, until)]).totals
    worker.check_alive()

    sizes = _changelog_sizes(fresh_broker)
    assert len(sizes) >= len(events)  # one write per event at least
    # Bounded: the largest stored state (about 2.5 events a day, 120 days of them in the log) stays far
    # from the 1 MB record limit, and the last year's states are no larger than the second year's.
    assert max(sizes) < 300_000, max(sizes)
    per_year = len(sizes) // 11
    assert max(sizes[-per_year:]) <= 1.2 * max(sizes[per_year : 2 * per_year])
