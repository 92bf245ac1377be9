"""Rebuilds from the event archive on the real broker (Tansu) and PostgreSQL: a deep correction ends with
the alerts of a replay of the archive, a restarted worker whose restored state misses a child's last event
rebuilds the child, and ``carewatch reconcile`` finds and repairs alerts and board totals that differ from
the replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, select
from typer.testing import CliRunner

from carewatch.cli import app as cli
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import get_settings
from carewatch.testing.stream import WorkerProcess, read_alerts, wait_for_split
from schemas.alerts import AlertTransition
from schemas.deltas import NOTHING, Contribution, Delta
from schemas.events import CaseEvent, parse_event
from services.alerts.models import Alert, AlertHistory, AuditLog
from services.alerts.store import apply_transitions
from services.archive import store
from services.archive.reconcile import open_after
from services.board import store as board_store
from services.board.core.aggregate import Aggregate
from services.rules.core.config import RulesConfig
from services.rules.core.tests.deep import UNTIL, deep_child, steady_child
from services.rules.replay import replay
from services.rules.stream.clock import feed, make_producer, send_ticks

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the fresh_broker fixture's topics
DEADLINE_SECONDS = 120.0
CONFIG = RulesConfig.default()
RECEIVED = datetime(2024, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    migrate(postgres_url)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)  # the worker's and the CLI's database
    # The tests put in the archive what ingest would have, and feed the broker themselves in replay's order
    # (a worker that re-published the archive at start would send the events ahead of their ticks).
    monkeypatch.setenv("CAREWATCH_ARCHIVE_REPUBLISH_ON_START", "false")
    get_settings.cache_clear()
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def parsed(raw: list[dict[str, Any]]) -> list[CaseEvent]:
    return [parse_event(event, received_at=None) for event in raw]


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) for record in records)


def difference(got: list[dict[str, Any]], want: list[AlertTransition]) -> str:
    def brief(items: list[dict[str, Any]]) -> set[tuple[str, ...]]:
        return {(str(t["at"]), t["rule"], t["state"], t["child_id"], t["severity"]) for t in items}

    mine, theirs = brief(got), brief([t.model_dump(mode="json") for t in want])
    return f"extra {sorted(mine - theirs)}; missing {sorted(theirs - mine)}"


def open_set(transitions: list[AlertTransition]) -> set[tuple[str, str]]:
    return {(t.fingerprint, t.severity) for t in open_after(transitions).values()}


def test_a_deep_retraction_streamed_ends_with_the_alerts_of_a_replay_of_the_archive(
    engine: Engine, fresh_broker: str, tmp_path: Path
) -> None:
    events = parsed(deep_child() + steady_child())
    store.append(engine, events, RECEIVED)  # ingest archives before it publishes
    replayed = replay(store.events_in_fold_order(engine), UNTIL, CONFIG, rebuild=True)
    flagged = replay(events, UNTIL, CONFIG)
    assert replayed.rebuilt == 1 and open_set(replayed.transitions) != open_set(flagged.transitions)
    want = canonical([t.model_dump(mode="json") for t in replayed.transitions])

    worker = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "data", tmp_path / "worker.log").start()
    try:
        worker.wait_metrics()
        producer = make_producer(fresh_broker)
        try:
            feed(producer, events, UNTIL)
        finally:
            producer.close()
        got = read_alerts(fresh_broker, lambda r: len(r) >= len(want), DEADLINE_SECONDS, alive=worker.check_alive)
        got = read_alerts(fresh_broker, lambda _: False, 3.0)  # nothing more comes
        assert canonical(got) == want, difference(got, replayed.transitions)
        assert 'carewatch_rules_rebuilds_total{cause="deep"} 1.0' in worker.metrics()
    finally:
        worker.stop()
    streamed = [AlertTransition.model_validate(record) for record in got]
    assert open_set(streamed) == open_set(replayed.transitions)

    # `carewatch replay` given the archive (no file) writes the same transitions.
    out = tmp_path / "replayed.ndjson"
    result = CliRunner().invoke(cli, ["replay", "--until", UNTIL.isoformat(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert canonical(lines) == want


def test_a_restarted_worker_rebuilds_a_child_whose_state_misses_its_last_event(
    engine: Engine, fresh_broker: str, tmp_path: Path
) -> None:
    steady = parsed(steady_child())
    store.append(engine, steady, RECEIVED)
    data = tmp_path / "data"
    worker = WorkerProcess(fresh_broker, PARTITIONS, data, tmp_path / "first.log").start()
    try:
        worker.wait_metrics()
        producer = make_producer(fresh_broker)
        try:
            feed(producer, steady, UNTIL)
        finally:
            producer.close()
        first = replay(steady, UNTIL, CONFIG)
        read_alerts(
            fresh_broker, lambda r: len(r) >= len(first.transitions), DEADLINE_SECONDS, alive=worker.check_alive
        )
    finally:
        worker.stop()
    assert open_after(first.transitions)  # statutory alerts are open for the child

    # The archive holds an update the restored table lacks (as when a restore stops one record short).
    ended = parse_event(
        {
            "event_id": "steady-1-3",
            "type": "care.ended",
            "child_id": "steady-1",
            "occurred_at": "2023-06-20",
            "reason": "E4A",
        },
        received_at=None,
    )
    store.append(engine, [ended], RECEIVED)
    worker = WorkerProcess(fresh_broker, PARTITIONS, data, tmp_path / "second.log").start()
    try:
        worker.wait_metrics()
        producer = make_producer(fresh_broker)
        try:
            for future in send_ticks(producer, UNTIL, PARTITIONS):  # the first record after the restore
                future.get(timeout=30)
        finally:
            producer.close()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while 'carewatch_rules_rebuilds_total{cause="stale"} 1.0' not in worker.metrics():
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
        # Counted once its transitions were acknowledged: one resolution per alert that was open.
        wanted = len(first.transitions) + len(open_after(first.transitions))
        got = read_alerts(fresh_broker, lambda r: len(r) >= wanted, DEADLINE_SECONDS, alive=worker.check_alive)
        assert len(read_alerts(fresh_broker, lambda _: False, 3.0)) == wanted  # and nothing else
    finally:
        worker.stop()
    streamed = [AlertTransition.model_validate(record) for record in got]
    exact = replay([*steady, ended], UNTIL, CONFIG)
    assert open_set(streamed) == open_set(exact.transitions) == set()


def test_a_partition_that_leaves_the_worker_and_comes_back_is_checked_again(
    engine: Engine, fresh_broker: str, tmp_path: Path
) -> None:
    # Worker A checks every partition on its first records; a second worker joins (A's partitions are
    # revoked and shared out), the archive gains an update no table has, the second worker leaves: the
    # partitions that come back to A are checked again, and the child that misses the update is rebuilt.
    steady = parsed(steady_child())
    store.append(engine, steady, RECEIVED)
    first = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "a", tmp_path / "a.log").start()
    second: WorkerProcess | None = None
    producer = make_producer(fresh_broker)
    try:
        first.wait_metrics()
        feed(producer, steady, UNTIL)
        published = replay(steady, UNTIL, CONFIG)
        read_alerts(
            fresh_broker, lambda r: len(r) >= len(published.transitions), DEADLINE_SECONDS, alive=first.check_alive
        )
        assert open_after(published.transitions)

        def ticks() -> None:
            for future in send_ticks(producer, UNTIL, PARTITIONS):
                future.get(timeout=30)

        second = WorkerProcess(fresh_broker, PARTITIONS, tmp_path / "b", tmp_path / "b.log").start()
        second.wait_metrics()
        owned = wait_for_split([first, second], PARTITIONS, ticks)
        assert all(owned)
        ended = parse_event(
            {"event_id": "steady-1-3", "type": "care.ended", "child_id": "steady-1", "occurred_at": "2023-06-20"}
            | {"reason": "E4A"},
            received_at=None,
        )
        store.append(engine, [ended], RECEIVED)  # archived, and missing from every table
        assert first.counter('carewatch_rules_rebuilds_total{cause="stale"}') == 0
        second.stop()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while first.counter('carewatch_rules_rebuilds_total{cause="stale"}') < 1:
            assert time.monotonic() < deadline, first.log_tail()
            ticks()  # the first records of the partitions assigned again
            time.sleep(0.5)
        wanted = len(published.transitions) + len(open_after(published.transitions))
        got = read_alerts(fresh_broker, lambda r: len(r) >= wanted, DEADLINE_SECONDS, alive=first.check_alive)
    finally:
        producer.close()
        first.stop()
        if second is not None:
            second.stop()
    streamed = [AlertTransition.model_validate(record) for record in got]
    assert open_set(streamed) == open_set(replay([*steady, ended], UNTIL, CONFIG).transitions) == set()


def test_reconcile_reports_and_repairs_a_deleted_and_a_stray_alert_and_board_totals(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(database_url)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    engine = make_engine(database_url)
    try:
        check_reconcile(engine)
    finally:
        engine.dispose()
        get_settings.cache_clear()


def check_reconcile(engine: Engine) -> None:
    events = parsed(deep_child() + steady_child())
    store.append(engine, events, RECEIVED)
    replayed = replay(events, UNTIL, CONFIG, rebuild=True)
    with session_factory(engine).begin() as session:
        apply_transitions(session, replayed.transitions, RECEIVED)
    runner = CliRunner()
    clean = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()])
    assert clean.exit_code == 0, clean.output
    assert "0 missing, 0 not in the replay, 0 with another severity" in clean.stdout

    opened = open_after(replayed.transitions)
    lost = sorted(opened.values(), key=lambda t: t.fingerprint)[0]
    stray = AlertTransition(
        fingerprint="f" * 24,
        rule="visit-overdue",
        child_id="stray-1",
        state="raised",
        at=UNTIL,
        severity="high",
        summary="A visit is overdue",
    )
    with session_factory(engine).begin() as session:
        row = session.scalars(
            select(Alert).where(Alert.fingerprint == lost.fingerprint).order_by(Alert.occurrence.desc())
        ).first()
        assert row is not None
        session.execute(delete(AlertHistory).where(AlertHistory.alert_id == row.id))
        session.delete(row)
        apply_transitions(session, [stray], RECEIVED)

    found = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()])
    assert found.exit_code == 1, found.output
    assert "1 missing, 1 not in the replay" in found.stdout
    assert f"missing    {lost.rule} {lost.child_id}" in found.stdout
    assert "not-replay visit-overdue stray-1 high" in found.stdout

    repaired = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat(), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: opened 1, resolved 1" in repaired.stdout
    with session_factory(engine)() as session:
        live = {
            (row.fingerprint, row.severity)
            for row in session.scalars(select(Alert).where(Alert.engine_state == "raised"))
        }
    assert live == {(t.fingerprint, t.severity) for t in opened.values()}
    assert runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()]).exit_code == 0

    # The board's snapshot of the day against the replay's totals: equal, then one indicator off.
    board_store.save(engine, {UNTIL: Aggregate(dict(replayed.totals))})
    same = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()])
    assert same.exit_code == 0 and "board: 0 indicators differ" in same.stdout, same.output
    off = Aggregate(dict(replayed.totals))
    off.apply(Delta("", "cla-count", NOTHING, Contribution(1, 0)))
    board_store.save(engine, {UNTIL: off})
    # ... and another one lost (a snapshot written from totals that missed a child's contribution).
    lost = next(i for i in board_store.STORED_INDICATORS if i != "cla-count" and replayed.totals.get(i))
    off.apply(Delta("", lost, replayed.totals[lost], NOTHING))
    board_store.save(engine, {UNTIL: off})
    differs = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()])
    want = replayed.totals["cla-count"]
    assert differs.exit_code == 1, differs.output
    assert "board: 2 indicators differ" in differs.stdout
    assert f"cla-count: {want.numerator + 1}/0 stored, {want.numerator}/0 replayed" in differs.stdout
    assert f"{lost}: 0/0 stored" in differs.stdout

    # --repair writes the replay's totals through the board's store, audited; the alerts are left alone.
    before = board_store.table_rows(engine)
    repaired = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat(), "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"repaired board: 2 indicators of {UNTIL.isoformat()}" in repaired.stdout
    assert "repaired: " not in repaired.stdout  # no alert differed
    assert repaired.stdout.rstrip().endswith("board: 0 indicators differ")
    assert board_store.load(engine, UNTIL, UNTIL)[UNTIL].totals == replayed.totals
    after = board_store.table_rows(engine)
    assert len(after) == len(before) and {r[1] for r in set(after) ^ set(before)} == {"cla-count", lost}
    with session_factory(engine)() as session:
        entries = session.scalars(select(AuditLog).where(AuditLog.action == "board.reconcile")).all()
    assert [(e.actor, e.target) for e in entries] == [("reconcile", f"snapshot {UNTIL.isoformat()}")]
    assert entries[0].detail["indicators"]["cla-count"] == {
        "stored": [want.numerator + 1, 0],
        "replayed": [want.numerator, want.denominator],
    }
    again = runner.invoke(cli, ["reconcile", "--until", UNTIL.isoformat()])
    assert again.exit_code == 0 and "board: 0 indicators differ" in again.stdout, again.output


def test_the_archive_finds_each_childs_last_event_by_its_dates(database_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext

    from carewatch.db import MIGRATIONS_DIR, Base
    from services.rules.core.order import in_fold_order

    migrate(database_url)
    engine = make_engine(database_url)
    try:
        events = parsed(deep_child() + steady_child())
        store.append(engine, list(reversed(events)), RECEIVED)  # arrival order is not fold order
        want = {}
        for child in ("deep-1", "steady-1"):
            last = in_fold_order(e for e in events if e.child_id == child)[-1]
            want[child] = (last.event_id, last.occurred_on)
        assert store.last_events(engine, ["deep-1", "steady-1", "nobody"], chunk=1) == want
        assert store.Reader(engine).last_events(["steady-1"]) == {"steady-1": want["steady-1"]}
        # Rows archived before the date column existed get their date when the database is upgraded.
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
        command.downgrade(config, "archive_0001")
        command.upgrade(config, "heads")
        with engine.connect() as connection:
            days = dict(connection.execute(select(store.TABLE.c.event_id, store.TABLE.c.occurred_on)).all())
        assert days == {e.event_id: e.occurred_on for e in events}
        assert store.last_events(engine, ["deep-1", "steady-1"]) == want
        # The migrations give the tables the models declare.
        with engine.connect() as connection:

            def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
                table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
                return table in {"event_archive", "event_archive_watermark"}

            context = MigrationContext.configure(connection, opts={"include_object": ours, "compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
