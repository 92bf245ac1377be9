"""Two rules workers on one case-events topic: they share its partitions, and together publish exactly the
transitions and board totals that replay computes (the single-worker test, tests/integration/test_rules_stream.py,
holds one worker to the same replay of the same history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from carewatch.testing.stream import WorkerProcess, read_alerts, read_partitioned, wait_for_split
from schemas import topics
from services.board.core.aggregate import Aggregate, DeltaBatch
from services.board.core.daily import DailyTotals
from services.board.core.indicators import contributions
from services.rules.core.config import RulesConfig
from services.rules.replay import replay
from services.rules.stream.clock import feed, make_producer, send_ticks
from services.rules.stream.tests.history import UNTIL, history
from tests.integration.test_rules_stream import DEADLINE_SECONDS, PARTITIONS, canonical, difference, expected

pytestmark = pytest.mark.integration

SPLIT_SECONDS = 120.0
EVENTS = "carewatch_rules_events_processed_total{"
TICKS = "carewatch_rules_ticks_total "


@pytest.fixture
def workers(fresh_broker: str, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started = [
        WorkerProcess(fresh_broker, PARTITIONS, tmp_path / f"data{n}", tmp_path / f"worker{n}.log").start()
        for n in (1, 2)
    ]
    try:
        for worker in started:
            worker.wait_metrics()
        yield started
    finally:
        for worker in started:
            worker.stop()


def test_two_workers_share_the_partitions_and_publish_what_replay_computes(
    fresh_broker: str, workers: list[WorkerProcess]
) -> None:
    events = history()
    replayed = replay(events, UNTIL, RulesConfig.default())
    want = expected(replayed)

    def alive() -> None:
        for worker in workers:
            worker.check_alive()

    producer = make_producer(fresh_broker)
    try:
        # A day before the history: the clock it leaves changes nothing (an event is evaluated as of the later
        # of the clock and its own date), and it carries no child.
        warm_up_day = min(event.occurred_on for event in events) - timedelta(days=1)

        def warm_up() -> None:
            for future in send_ticks(producer, warm_up_day, PARTITIONS):
                future.get(timeout=30)

        owned = wait_for_split(workers, PARTITIONS, warm_up, SPLIT_SECONDS)
        ticks_before = [worker.counter(TICKS) for worker in workers]
        sent_events, tick_days = feed(producer, events, UNTIL, partitions=PARTITIONS)
    finally:
        producer.close()
    assert sent_events == len(events)

    got = read_alerts(fresh_broker, lambda records: len(records) >= len(want), DEADLINE_SECONDS, alive=alive)
    assert canonical(got) == want, difference(canonical(got), want)
    assert len(read_alerts(fresh_broker, lambda _: False, 3.0)) == len(want)  # and nothing twice

    # Every partition's deltas, ticks included, reach the board: the last day is complete with every child's
    # contribution as of that day, whichever worker computed it.
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

    # The split held: each worker read only its own partitions, each event and each partition's tick was
    # processed exactly once, and both workers did part of the work.
    assert [set(worker.lags()) for worker in workers] == owned
    per_worker_events = [worker.counter(EVENTS) for worker in workers]
    assert sum(per_worker_events) == len(events)
    assert all(count > 0 for count in per_worker_events)
    ticks = [worker.counter(TICKS) - before for worker, before in zip(workers, ticks_before, strict=True)]
    assert ticks == [tick_days * len(partitions) for partitions in owned]
