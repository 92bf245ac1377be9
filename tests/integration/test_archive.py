"""The event archive on real PostgreSQL and real (embedded) brokers: a broker that loses everything is
refilled from the archive and gives the same alerts; erasure and retention with audit entries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from carewatch.broker import EmbeddedBroker, ensure_topics, read_to_end, read_topic
from carewatch.cli import app as cli
from carewatch.db import make_engine, migrate
from carewatch.settings import Settings, get_settings
from carewatch.testing.stream import WorkerProcess
from carewatch.testing.synthetic import authority
from schemas import topics
from schemas.events import CaseEvent, parse_event
from services.alerts.models import AuditLog
from services.archive import store
from services.archive.republish import republish
from services.ingest.app import create_app
from services.ingest.producer import IngestProducer
from services.rules.core.config import RulesConfig
from services.rules.replay import replay
from services.rules.stream.cli import refill_from_archive
from services.rules.stream.clock import make_producer, send_ticks

pytestmark = pytest.mark.integration

TOKEN = "archive-test-token"
FIRST, UNTIL = date(2023, 1, 1), date(2025, 6, 30)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def topic_events(bootstrap: str, at_least: int) -> list[CaseEvent]:
    records = read_topic(bootstrap, topics.CASE_EVENTS, lambda r: len(r) >= at_least, timeout_s=60)
    return [parse_event(record.value, received_at=None) for record in records]


def alerts_of(events: list[CaseEvent]) -> list[bytes]:
    result = replay(events, UNTIL, RulesConfig.default())
    return sorted(orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) for t in result.transitions)


def test_a_broker_that_lost_everything_is_refilled_and_gives_the_same_alerts(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = authority(60, seed=5, first=FIRST, last=UNTIL)
    with EmbeddedBroker() as first:
        ensure_topics(first.bootstrap, partitions=4)
        settings = Settings(kafka_bootstrap=first.bootstrap, ingest_tokens=[SecretStr(TOKEN)])
        producer = IngestProducer(first.bootstrap)
        app = create_app(
            settings, producer, archive=lambda events, at, payloads: store.append(engine, events, at, payloads)
        )
        with TestClient(app) as client:
            for start in range(0, len(raw), 400):
                response = client.post(
                    "/v1/events", json=raw[start : start + 400], headers={"Authorization": f"Bearer {TOKEN}"}
                )
                assert response.status_code == 200
                assert response.json()["rejected"] == 0
        producer.close()
        before = alerts_of(topic_events(first.bootstrap, len(raw)))
    assert len(before) > 20  # a history with alerts to lose
    assert store.count(engine) == len(raw)

    # The broker restarts with nothing (Tansu's memory storage): a fresh broker, refilled from the archive
    # the way `carewatch serve rules` does before its worker starts.
    with EmbeddedBroker() as second:
        ensure_topics(second.bootstrap, partitions=4)
        refill_from_archive(Settings(database_url=postgres_url), second.bootstrap)
        refilled = topic_events(second.bootstrap, len(raw))
        assert len(refilled) == len(raw)
        assert alerts_of(refilled) == before
        assert alerts_of(store.events_in_fold_order(engine)) == before  # the archive alone gives them too
        # Nothing is missing any more: a second refill publishes nothing.
        assert republish(engine, second.bootstrap).published == 0

    # A broker that lost only its tail gets only the tail, here through `carewatch archive republish`.
    with EmbeddedBroker() as third:
        ensure_topics(third.bootstrap, partitions=4)
        head = store.events_in_fold_order(engine)[: len(raw) // 2]
        producer = IngestProducer(third.bootstrap)
        producer.publish(
            [(e.child_id.encode(), orjson.dumps(e.model_dump(mode="json", exclude_none=True))) for e in head]
        )
        producer.close()
        monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["archive", "republish", "--bootstrap", third.bootstrap])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert f"topic held {len(head)}; re-published {len(raw) - len(head)} missing" in result.stdout
        assert alerts_of(topic_events(third.bootstrap, len(raw))) == before


def test_reader_api_gives_a_child_in_fold_order_and_events_since_a_seq(engine: Engine) -> None:
    raw = authority(5, seed=9, first=FIRST, last=UNTIL)
    events = [parse_event(item, received_at=None) for item in raw]
    received = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
    store.append(engine, list(reversed(events)), received)  # arrival order differs from fold order
    store.append(engine, events[:3], received)
    assert store.count(engine) == len(events)  # repeats are not archived twice
    child = events[0].child_id
    mine = store.child_events(engine, child)
    assert {e.event_id for e in mine} == {e.event_id for e in events if e.child_id == child}
    assert [e.occurred_on for e in mine] == sorted(e.occurred_on for e in mine)
    assert store.last_event(engine, child) == mine[-1]
    assert store.last_event(engine, "nobody") is None
    everything = list(store.read_since(engine, chunk=7))
    assert [a.seq for a in everything] == sorted(a.seq for a in everything)
    assert [a.event for a in everything] == list(reversed(events))
    assert all(a.received_at == received for a in everything)
    by_child = list(store.children(engine, chunk=5))  # chunks end inside a child's events
    assert [c for c, _ in by_child] == sorted({e.child_id for e in events})
    assert all(evs == store.child_events(engine, c) for c, evs in by_child)
    assert sum(len(evs) for _, evs in by_child) == len(events)
    middle = everything[10].seq
    assert [a.seq for a in store.read_since(engine, middle)] == [a.seq for a in everything[11:]]
    assert store.high_water(engine) == everything[-1].seq


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_erasure_and_retention_delete_with_an_audit_entry(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    migrate(url)
    engine = make_engine(url)
    try:
        events = [parse_event(item, received_at=None) for item in authority(6, seed=3, first=FIRST, last=UNTIL)]
        old, recent = events[: len(events) // 2], events[len(events) // 2 :]
        store.append(engine, old, datetime(2015, 3, 1, tzinfo=UTC))
        store.append(engine, recent, datetime(2025, 3, 1, tzinfo=UTC))
        child = recent[0].child_id
        theirs = sum(e.child_id == child for e in events)

        assert store.erase_child(engine, child, actor="dpo", now=datetime(2025, 8, 1, tzinfo=UTC)) == theirs
        assert store.child_events(engine, child) == []
        assert store.count(engine) == len(events) - theirs

        assert store.prune(engine, older_than_years=7, now=datetime(2025, 8, 1, tzinfo=UTC)) == sum(
            e.child_id != child for e in old
        )
        assert {a.event.event_id for a in store.read_since(engine)} == {
            e.event_id for e in recent if e.child_id != child
        }
        with engine.connect() as connection:
            audit = connection.execute(select(AuditLog.actor, AuditLog.action, AuditLog.target, AuditLog.detail)).all()
        assert [(a.actor, a.action) for a in audit] == [("dpo", "archive.erase"), ("retention", "archive.retention")]
        assert audit[0].target == store.subject_digest(child) and child not in str(audit)
        assert audit[0].detail["rows_deleted"] == theirs
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_replay_of_the_archive_in_shards_gives_the_whole_archive_replay(
    postgres_url: str, workers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``carewatch replay`` (no file) on PostgreSQL: the archive read in chunks into shards, the transitions,
    summary and counts those of the whole archive replayed in memory (``--shard-mib 0``)."""
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    events = [parse_event(item, received_at=None) for item in authority(40, seed=4, first=FIRST, last=UNTIL)]
    for start in range(0, len(events), 50):  # arrival order is not fold order
        store.append(engine, list(reversed(events[start : start + 50])), datetime(2025, 7, 1, tzinfo=UTC))
    engine.dispose()
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    try:
        outputs = []
        for name, options in (
            ("whole", ["--shard-mib", "0"]),
            ("shards", ["--shard-mib", "0.01", "--workers", workers]),
        ):
            out, summary = tmp_path / f"{name}.ndjson", tmp_path / f"{name}.json"
            result = CliRunner().invoke(
                cli, ["replay", "--until", UNTIL.isoformat(), "--out", str(out), "--summary", str(summary), *options]
            )
            assert result.exit_code == 0, result.output
            assert f"{len(events)} events read from the event archive" in result.stderr
            outputs.append((result.stdout, out.read_bytes(), summary.read_bytes()))
    finally:
        get_settings.cache_clear()
    assert outputs[1] == outputs[0] and outputs[0][1].count(b"\n") > 10


def _serve_rules_and_collect(bootstrap: str, tmp: Path, events: int) -> list[bytes]:
    """Start the rules service (which refills the broker from the archive first), let it process every
    event and a tick as of UNTIL on each partition, and return the alert transitions it published."""
    tmp.mkdir()
    worker = WorkerProcess(bootstrap, 4, tmp / "data", tmp / "worker.log").start()
    try:
        worker.wait_metrics(timeout=120)
        producer = make_producer(bootstrap)
        for future in send_ticks(producer, UNTIL, 4):
            future.get(timeout=30)
        producer.close()

        def processed(name: str) -> float:
            lines = [line for line in worker.metrics().splitlines() if line.startswith(name)]
            return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

        deadline = time.monotonic() + 180
        while (processed("carewatch_rules_events_processed_total"), processed("carewatch_rules_ticks_total")) != (
            events,
            4,
        ):
            assert time.monotonic() < deadline, worker.log_tail()
            worker.check_alive()
            time.sleep(0.2)
        records = read_to_end(bootstrap, topics.ALERTS)
    finally:
        worker.stop()
    return sorted(orjson.dumps(orjson.loads(r.value), option=orjson.OPT_SORT_KEYS) for r in records)


def test_the_rules_service_refills_an_emptied_broker_at_start_and_raises_the_same_alerts(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = authority(40, seed=8, first=FIRST, last=UNTIL)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)  # the archive the worker refills from
    with EmbeddedBroker() as first:
        ensure_topics(first.bootstrap, partitions=4)
        settings = Settings(kafka_bootstrap=first.bootstrap, ingest_tokens=[SecretStr(TOKEN)])
        producer = IngestProducer(first.bootstrap)
        app = create_app(
            settings, producer, archive=lambda events, at, payloads: store.append(engine, events, at, payloads)
        )
        with TestClient(app) as client:
            response = client.post("/v1/events", json=raw, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.json()["accepted"] == len(raw)
        producer.close()
        before = _serve_rules_and_collect(first.bootstrap, tmp_path / "first", len(raw))
    assert len(before) > 10

    with EmbeddedBroker() as second:  # the broker came back empty
        ensure_topics(second.bootstrap, partitions=4)
        after = _serve_rules_and_collect(second.bootstrap, tmp_path / "second", len(raw))
    assert after == before


def test_archive_commands_erase_a_child_and_apply_retention(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    events = [parse_event(item, received_at=None) for item in authority(4, seed=2, first=FIRST, last=UNTIL)]
    store.append(engine, events, datetime(2016, 1, 1, tzinfo=UTC))
    child = events[0].child_id
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        erased = runner.invoke(cli, ["archive", "erase", child, "--yes", "--actor", "dpo"])
        assert erased.exit_code == 0, erased.output
        theirs = sum(e.child_id == child for e in events)
        assert f"erased {theirs} archived events; audit entry sha256:" in erased.stdout
        assert child not in erased.stdout
        assert runner.invoke(cli, ["archive", "prune"]).exit_code == 2  # retention is off by default
        monkeypatch.setenv("CAREWATCH_ARCHIVE_RETENTION_YEARS", "5")
        get_settings.cache_clear()
        pruned = runner.invoke(cli, ["archive", "prune"])
        assert pruned.exit_code == 0, pruned.output
        assert f"deleted {len(events) - theirs} archived events received more than 5 years ago" in pruned.stdout
        assert runner.invoke(cli, ["archive", "status"]).stdout.startswith("events 0;")
    finally:
        get_settings.cache_clear()
        engine.dispose()


def test_a_restart_compares_only_what_was_appended_since_the_watermark_and_a_lost_broker_gets_everything(
    engine: Engine,
) -> None:
    from datetime import timedelta

    from sqlalchemy import func, insert, text

    from services.ingest.records import event_record

    events = [parse_event(item, received_at=None) for item in authority(40, seed=11, first=FIRST, last=UNTIL)]
    assert len(events) > 400
    bulk, late, tail, new, lost = events[:-250], events[-250], events[-249:-200], events[-200:-40], events[-40:]
    start = datetime.now(UTC) - timedelta(minutes=30)
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=4)
        producer = IngestProducer(broker.bootstrap)
        store.append(engine, bulk, start)
        # An ingest transaction took the next seq and has not committed when the first check runs; later
        # ones have (PostgreSQL hands out seqs in the order they are taken, commits in any order).
        with engine.begin() as connection:
            after = connection.execute(select(func.max(store.TABLE.c.seq))).scalar_one()
            rows = store.rows_for(tail, start + timedelta(minutes=1))
            connection.execute(insert(store.TABLE), [{**row, "seq": after + 2 + n} for n, row in enumerate(rows)])
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('event_archive', 'seq'), {after + 2 + len(rows)})")
            )
        producer.publish([event_record(e) for e in bulk + tail])

        first = republish(engine, broker.bootstrap)
        assert (first.full, first.reason, first.published) == (True, "no watermark yet", 0)
        assert first.topic_read == first.archived == len(bulk) + len(tail)

        # Later: the late transaction commits (its publish failed), new events are archived and published,
        # and some are archived whose publish failed.
        with engine.begin() as connection:
            connection.execute(insert(store.TABLE), [{**store.rows_for([late], start)[0], "seq": after + 1}])
        store.append(engine, new + lost, start + timedelta(minutes=2))
        producer.publish([event_record(e) for e in new])
        second = republish(engine, broker.bootstrap)
        assert not second.full
        # Only what was appended after the watermark is read, on the topic and in the archive (and the gap).
        assert second.topic_read == len(new)
        assert second.archived == 1 + len(new) + len(lost)
        assert second.published == 1 + len(lost)

        third = republish(engine, broker.bootstrap)
        assert (third.full, third.published, third.archived) == (False, 0, 0)
        assert third.topic_read == 1 + len(lost)  # the records the second check wrote
        on_topic = read_to_end(broker.bootstrap, topics.CASE_EVENTS)
        assert sorted(r.value for r in on_topic) == sorted(event_record(e)[1] for e in events)  # no duplicates
        producer.close()

    # The broker comes back empty: the probe record is gone, the whole archive is published.
    with EmbeddedBroker() as emptied:
        ensure_topics(emptied.bootstrap, partitions=4)
        refill = republish(engine, emptied.bootstrap)
        assert refill.full and "lost data" in refill.reason
        assert (refill.published, refill.on_topic) == (len(events), 0)
        assert len(read_to_end(emptied.bootstrap, topics.CASE_EVENTS)) == len(events)

    # A recreated topic refilled with other records past the recorded offsets is seen too (the probe's
    # digest differs), and so is a topic with another number of partitions.
    with EmbeddedBroker() as recreated:
        ensure_topics(recreated.bootstrap, partitions=4)
        producer = IngestProducer(recreated.bootstrap)
        producer.publish([event_record(e) for e in reversed(events)] * 2)
        producer.close()
        again = republish(engine, recreated.bootstrap)
        assert again.full and "lost data" in again.reason and again.published == 0
    with EmbeddedBroker() as resized:
        ensure_topics(resized.bootstrap, partitions=2)
        other = republish(engine, resized.bootstrap)
        assert other.full and "partitions" in other.reason and other.published == len(events)
        # The newest checked event erased: its seq cannot be trusted (SQLite hands it out again).
        store.erase_child(engine, lost[-1].child_id, actor="dpo", now=datetime.now(UTC))
        erased = republish(engine, resized.bootstrap)
        assert erased.full and "erased" in erased.reason and erased.published == 0


def test_two_checks_saving_their_watermarks_at_once_both_finish(engine: Engine) -> None:
    import threading

    from sqlalchemy import delete, insert

    from services.ingest.records import event_record

    events = [parse_event(item, received_at=None) for item in authority(5, seed=4, first=FIRST, last=UNTIL)]
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=2)
        store.append(engine, events, datetime.now(UTC))
        producer = IngestProducer(broker.bootstrap)
        producer.publish([event_record(e) for e in events])
        producer.close()
        republish(engine, broker.bootstrap)
        marks, _ = store.watermarks(engine, topics.CASE_EVENTS)
        rows = [
            {**vars_of(mark), "topic": topics.CASE_EVENTS, "checked_at": datetime.now(UTC)} for mark in marks.values()
        ]
        results: list[object] = []
        with engine.connect() as other:  # another worker's check, saving its watermark: not committed yet
            transaction = other.begin()
            other.execute(delete(store.WATERMARKS).where(store.WATERMARKS.c.topic == topics.CASE_EVENTS))
            other.execute(insert(store.WATERMARKS), rows)
            check = threading.Thread(target=lambda: results.append(republish(engine, broker.bootstrap)))
            check.start()
            check.join(timeout=5)
            assert check.is_alive()  # its save waits for the other transaction's rows
            transaction.commit()
            check.join(timeout=60)
        assert len(results) == 1 and not results[0].full  # type: ignore[attr-defined]
        assert store.watermarks(engine, topics.CASE_EVENTS)[0] == marks


def vars_of(mark: store.Watermark) -> dict[str, object]:
    return {name: getattr(mark, name) for name in store.Watermark.__slots__}
