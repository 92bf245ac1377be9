"""The board feed on a real broker and PostgreSQL: snapshots survive a database outage, poison is dead-lettered."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, create_engine, text

from carewatch.broker import read_topic
from carewatch.db import make_engine, migrate
from schemas import topics
from schemas.dead_letters import DeadLetter
from services.board import store
from services.board.core.aggregate import NOTHING, Contribution, Delta, DeltaBatch
from services.board.feed import DeltaFeed

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the fresh_broker fixture's topics
FIRST = date(2025, 3, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(5)]
INDICATOR = store.STORED_INDICATORS[0]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def allow_connections(url: str, allowed: bool) -> None:
    """Make the test's database refuse (or accept again) every connection, as an outage would."""
    base, _, name = url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
    admin.dispose()


def send_days(bootstrap: str, days: list[date], *, poison: bool = False) -> None:
    """One child joins the indicator on each day (partition 0); every partition ticks every day."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    if poison:
        producer.send(topics.INDICATOR_DELTAS, value=b'{"as_of": "not a date"}', partition=1)
    for day in days:
        child = f"B{uuid.uuid4().hex[:6]}"
        joined = Delta(child, INDICATOR, NOTHING, Contribution(1, 1))
        producer.send(
            topics.INDICATOR_DELTAS, value=DeltaBatch.of(day, [joined]).model_dump_json().encode(), partition=0
        )
        for partition in range(PARTITIONS):
            producer.send(
                topics.INDICATOR_DELTAS, value=DeltaBatch.of(day, []).model_dump_json().encode(), partition=partition
            )
    producer.flush()
    producer.close()


def run_until(feed: DeltaFeed, done: object, timeout: float = 60.0) -> int:
    """Run the feed as its service loop does (errors are retried); returns how many polls failed."""
    failures = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            feed.run_once(timeout_ms=300)
        except Exception:
            failures += 1
        if done():  # type: ignore[operator]
            return failures
    raise AssertionError("the board feed did not get there within the deadline")


def test_days_completed_during_a_database_outage_are_saved_when_it_ends(
    fresh_broker: str, engine: Engine, postgres_url: str
) -> None:
    feed = DeltaFeed(fresh_broker, engine)
    try:
        send_days(fresh_broker, DAYS[:2])
        run_until(feed, lambda: set(store.load(engine)) == set(DAYS[:2]))

        allow_connections(postgres_url, False)
        try:
            send_days(fresh_broker, DAYS[2:], poison=True)
            # The days complete while the database is down: each save fails and is kept for later.
            failures = run_until(feed, lambda: feed.save_failures >= 3 and set(feed.unsaved) == set(DAYS[2:]))
            assert failures >= 3
        finally:
            allow_connections(postgres_url, True)

        run_until(feed, lambda: not feed.unsaved)
        saved = store.load(engine)
        assert sorted(saved) == DAYS
        assert [saved[day].get(INDICATOR) for day in DAYS] == [Contribution(n, n) for n in range(1, 6)]

        assert feed.dead_lettered == 1
        [record] = read_topic(fresh_broker, topics.INDICATOR_DELTAS_DLQ, lambda r: len(r) >= 1)
        letter = DeadLetter.model_validate_json(record.value)
        assert (letter.stage, letter.source_topic, letter.source_partition) == ("board", topics.INDICATOR_DELTAS, 1)
        assert letter.original() == b'{"as_of": "not a date"}'
    finally:
        feed.close()

    # A restarted feed reads the topic again but does not dead-letter the same record twice.
    again = DeltaFeed(fresh_broker, engine)
    try:
        run_until(again, lambda: again.bad_records == 1)
        assert again.dead_lettered == 0
    finally:
        again.close()
