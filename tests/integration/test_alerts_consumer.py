"""The consumer on a real broker and database: batches, bad records, a crash between DB and offset commits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, func, select

from carewatch.broker import read_topic
from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from schemas.dead_letters import DeadLetter
from schemas.topics import ALERTS, ALERTS_DLQ
from services.alerts.consumer import AlertConsumer, ConsumerStats
from services.alerts.models import Alert, AlertHistory

pytestmark = pytest.mark.integration
DAY = date(2025, 2, 3)


def transitions(children: int) -> list[AlertTransition]:
    out = []
    for n in range(children):
        child = f"K{n:03d}"
        for state, offset in (("raised", 0), ("resolved", 3), ("raised", 8)):
            out.append(
                AlertTransition(
                    fingerprint=fingerprint("visit-overdue", child),
                    rule="visit-overdue",
                    child_id=child,
                    state=state,  # type: ignore[arg-type]
                    at=DAY + timedelta(days=offset),
                    severity="medium",
                    summary="Visit overdue",
                    team="north",
                )
            )
    return out


def publish(bootstrap: str, items: list[AlertTransition], extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for item in items:
        producer.send(ALERTS, key=item.child_id.encode(), value=item.model_dump_json().encode())
    for key, value in extra:
        producer.send(ALERTS, key=key, value=value)
    producer.flush()
    producer.close()


def counts(engine: Engine) -> tuple[int, int]:
    with session_factory(engine)() as session:
        alerts = session.scalar(select(func.count(Alert.id))) or 0
        history = session.scalar(select(func.count(AlertHistory.id))) or 0
    return int(alerts), int(history)


def drain(consumer: AlertConsumer, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer.run_once(timeout_ms=500)
        if done():
            return
    raise AssertionError("the consumer did not finish within the deadline")


@pytest.fixture
def engine(database_url: str) -> Engine:
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def test_consumes_batches_and_counts_bad_records(fresh_broker: str, engine: Engine) -> None:
    items = transitions(20)
    publish(fresh_broker, items + items[:10], extra=[(b"K999", b"{not json"), (b"K998", b'{"rule": 1}')])
    stats = ConsumerStats()
    consumer = AlertConsumer(fresh_broker, engine, "alerts-test", batch_size=16, stats=stats)
    try:
        drain(consumer, lambda: stats.consumed + stats.bad >= len(items) + 12)
    finally:
        consumer.close()
    assert stats.bad == 2
    assert counts(engine) == (40, 60)  # two occurrences per child; three engine transitions each
    assert stats.actions["ignored"] == 10
    letters = [
        DeadLetter.model_validate_json(r.value) for r in read_topic(fresh_broker, ALERTS_DLQ, lambda r: len(r) >= 2)
    ]
    assert sorted(letter.original() for letter in letters) == [b'{"rule": 1}', b"{not json"]
    assert {(letter.stage, letter.reason, letter.source_topic) for letter in letters} == {("alerts", "decode", ALERTS)}


def test_a_poison_transition_goes_to_the_dead_letter_topic_and_every_later_one_is_stored(
    fresh_broker: str, postgres_url: str
) -> None:
    """A NUL byte in ``team`` cannot be stored in PostgreSQL: before, it was retried forever and blocked
    every later alert. Now it is dead-lettered with its offset and the records behind it all arrive."""
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    poison = transitions(1)[0].model_copy(update={"child_id": "P001", "team": "no\x00rth"})
    items = transitions(25)
    publish(fresh_broker, [poison, *items])
    stats = ConsumerStats()
    consumer = AlertConsumer(fresh_broker, engine, "alerts-poison", batch_size=16, stats=stats)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,), daemon=True)  # the service's own loop
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while counts(engine) != (50, 75) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(timeout=30)
        consumer.close()
    assert counts(engine) == (50, 75)
    assert stats.dead_lettered == 1
    [record] = read_topic(fresh_broker, ALERTS_DLQ, lambda r: len(r) >= 1)
    letter = DeadLetter.model_validate_json(record.value)
    assert (letter.stage, letter.reason, letter.source_topic, letter.source_offset) == ("alerts", "store", ALERTS, 0)
    assert AlertTransition.model_validate_json(letter.original()) == poison
    assert letter.key() == b"P001"
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count(Alert.id)).where(Alert.child_id == "P001")) == 0
    engine.dispose()


class Crash(RuntimeError):
    pass


def test_crash_after_db_commit_before_offset_commit_loses_and_duplicates_nothing(
    fresh_broker: str, engine: Engine
) -> None:
    items = transitions(30)
    publish(fresh_broker, items)
    calls = {"n": 0}

    def crash_on_second_batch() -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("stopped between the DB commit and the offset commit")

    first = AlertConsumer(fresh_broker, engine, "alerts-crash", batch_size=20, after_db_commit=crash_on_second_batch)
    try:
        with pytest.raises(Crash):
            for _ in range(200):
                first.run_once(timeout_ms=500)
    finally:
        first.close()
    written_before_restart = counts(engine)
    assert 0 < written_before_restart[1] < 90

    stats = ConsumerStats()
    second = AlertConsumer(fresh_broker, engine, "alerts-crash", batch_size=20, stats=stats)
    try:
        drain(second, lambda: counts(engine)[1] >= 90)
        # Read on until idle: a re-delivered batch must change nothing.
        while second.run_once(timeout_ms=1500):
            pass
    finally:
        second.close()
    assert counts(engine) == (60, 90)
    assert stats.actions.get("ignored", 0) >= 1  # the batch written before the crash came again
