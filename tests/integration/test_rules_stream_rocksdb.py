"""The rules worker on faust's RocksDB store (rocksdict): stopped halfway through a history and started again on
its own files, it carries on and publishes exactly what replay computes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from carewatch.testing.stream import WorkerProcess, read_alerts
from schemas import topics
from schemas.events import CaseEvent, ClockTick
from services.rules.core.config import RulesConfig
from services.rules.core.order import interleave
from services.rules.replay import replay
from services.rules.stream.clock import event_value, make_producer, send_ticks
from services.rules.stream.tests.history import UNTIL, history
from tests.integration.test_rules_stream import DEADLINE_SECONDS, PARTITIONS, canonical, difference, expected

pytestmark = pytest.mark.integration

STORE = "rocksdb://"
PROCESSED = ("carewatch_rules_events_processed_total{", "carewatch_rules_ticks_total ")


def send(bootstrap: str, items: list[CaseEvent | ClockTick]) -> int:
    """Send events (keyed by child) and ticks (to every partition) in order; returns the records sent."""
    producer = make_producer(bootstrap)
    futures = []
    try:
        for item in items:
            if isinstance(item, ClockTick):
                futures += send_ticks(producer, item.as_of, PARTITIONS)
            else:
                futures.append(producer.send(topics.CASE_EVENTS, key=item.child_id.encode(), value=event_value(item)))
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
    return len(futures)


def wait_processed(worker: WorkerProcess, records: int) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while sum(worker.counter(prefix) for prefix in PROCESSED) < records:
        worker.check_alive()
        assert time.monotonic() < deadline, f"the worker did not process {records} records; log:\n{worker.log_tail()}"
        time.sleep(0.1)


def test_a_worker_restarted_on_its_rocksdb_files_carries_on_where_it_stopped(fresh_broker: str, tmp_path: Path) -> None:
    events = history()
    want = expected(replay(events, UNTIL, RulesConfig.default()))
    items = list(interleave(events, UNTIL))
    half = len(items) // 2
    data, log = tmp_path / "data", tmp_path / "worker.log"

    first = WorkerProcess(fresh_broker, PARTITIONS, data, log, store=STORE).start()
    try:
        first.wait_metrics()
        wait_processed(first, send(fresh_broker, items[:half]))
    finally:
        first.stop()
    stored = list((data / "rules-stream").rglob("*.sst")) + list((data / "rules-stream").rglob("*.log"))
    assert stored, "the rocksdb:// store wrote no files under the data directory"

    second = WorkerProcess(fresh_broker, PARTITIONS, data, log, store=STORE).start()
    try:
        second.wait_metrics()
        sent = send(fresh_broker, items[half:])
        wait_processed(second, sent)
        got = read_alerts(
            fresh_broker,
            lambda records: len(set(canonical(records))) >= len(want),
            DEADLINE_SECONDS,
            alive=second.check_alive,
        )
        # The second worker processed the second half only: it read no record of the first half again.
        assert sum(second.counter(prefix) for prefix in PROCESSED) == sent
    finally:
        second.stop()
    distinct = sorted(set(canonical(got)))
    assert distinct == want, difference(distinct, want)
