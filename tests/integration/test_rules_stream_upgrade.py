"""The rules worker upgraded over a RocksDB store (rocksdict) that the previous release left: every stored child
is a JSON object around a format-5 state (no trailer). Started on those files, the worker reads them (the wake
index from the objects, each child through a full decode), processes the rest of the history without a bad
record, publishes exactly what replay computes for the whole history, and stores the children it writes in
the current format."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from carewatch.testing.rules_store import previous_value, read_children, rewrite_children
from carewatch.testing.stream import WorkerProcess, read_alerts
from schemas.events import CaseEvent, ClockTick
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import catalogue_version
from services.rules.core.order import interleave
from services.rules.replay import replay
from services.rules.stream.tests.history import UNTIL, hand_made, synthetic
from tests.integration.test_rules_stream import DEADLINE_SECONDS, PARTITIONS, canonical, difference, expected
from tests.integration.test_rules_stream_rocksdb import PROCESSED, STORE, send

pytestmark = pytest.mark.integration

BAD = "carewatch_rules_bad_records_total{"


def wait_handled(worker: WorkerProcess, records: int) -> None:
    """Until the worker has handled ``records`` records (processed, or skipped as bad)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while sum(worker.counter(prefix) for prefix in (*PROCESSED, BAD)) < records:
        worker.check_alive()
        assert time.monotonic() < deadline, f"the worker did not handle {records} records; log:\n{worker.log_tail()}"
        time.sleep(0.1)


def to_previous_release(child_id: str, partition: int, value: bytes) -> bytes:
    found = codec.trailer(value)
    assert found is not None and found.partition == partition, f"{child_id}: not a current value of {partition}"
    return previous_value(codec.loads(value), found.partition)


def test_a_worker_upgraded_on_the_previous_release_rocksdb_files_carries_on(fresh_broker: str, tmp_path: Path) -> None:
    events: list[CaseEvent] = hand_made() + synthetic(children=40)
    version = catalogue_version(RulesConfig.default())
    replayed = replay(events, UNTIL, RulesConfig.default())
    want = expected(replayed)
    items = list(interleave(events, UNTIL))
    half = len(items) // 2
    data, log = tmp_path / "data", tmp_path / "worker.log"

    # The first half through a worker, its stored children then rewritten as the previous release stored them.
    first = WorkerProcess(fresh_broker, PARTITIONS, data, log, store=STORE).start()
    try:
        first.wait_metrics()
        wait_handled(first, send(fresh_broker, items[:half]))
    finally:
        first.stop()
    stored = rewrite_children(data, PARTITIONS, to_previous_release)
    before = read_children(data, PARTITIONS)
    assert stored == len(before) >= 30
    assert not any(codec.trailer(value) for _, value in before.values())

    second = WorkerProcess(fresh_broker, PARTITIONS, data, log, store=STORE).start()
    try:
        second.wait_metrics()
        sent = send(fresh_broker, items[half:])
        wait_handled(second, sent)
        got = read_alerts(
            fresh_broker,
            lambda records: len(set(canonical(records))) >= len(want),
            DEADLINE_SECONDS,
            alive=second.check_alive,
        )
        assert second.counter(BAD) == 0, second.log_tail()
        # It read no record of the first half again: the children came from the previous release's values.
        assert sum(second.counter(prefix) for prefix in PROCESSED) == sent
    finally:
        second.stop()
    distinct = sorted(set(canonical(got)))
    assert distinct == want, difference(distinct, want)

    after = read_children(data, PARTITIONS)
    touched = {item.child_id for item in items[half:] if not isinstance(item, ClockTick)}
    assert touched and touched <= after.keys()
    assert all(codec.knows(after[child][1], version) for child in touched)
    for child in touched:
        partition, value = after[child]
        found = codec.trailer(value)
        assert found is not None and found.partition == partition
        assert codec.loads(value).processed_ids == replayed.states[child].processed_ids
