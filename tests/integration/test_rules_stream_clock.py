"""The live clock: the scheduler sends today's tick to every partition of the case-events topic."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from carewatch.settings import Settings
from carewatch.testing.stream import read_partitioned
from schemas import topics
from schemas.events import ClockTick
from services.rules.stream.clock import england_today, run_scheduler

pytestmark = pytest.mark.integration


def test_the_scheduler_ticks_every_partition_until_stopped(fresh_broker: str, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=fresh_broker, topic_partitions=4, tick_interval_seconds=0.2, data_dir=tmp_path)
    stop = threading.Event()
    rounds: list[int] = []
    before = england_today()
    scheduler = threading.Thread(target=lambda: rounds.append(run_scheduler(settings, stop)))
    scheduler.start()
    try:
        records = read_partitioned(
            fresh_broker, topics.CASE_EVENTS, lambda r: {p for p, _ in r} == {0, 1, 2, 3} and len(r) >= 8, 60
        )
    finally:
        stop.set()
        scheduler.join(timeout=30)
    assert not scheduler.is_alive()
    ticks = [(partition, ClockTick.model_validate(record)) for partition, record in records]
    assert {partition for partition, _ in ticks} == {0, 1, 2, 3}
    assert {tick.as_of for _, tick in ticks} <= {before, england_today()}
    assert rounds and rounds[0] >= 2
