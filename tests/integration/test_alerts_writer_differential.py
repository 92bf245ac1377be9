"""The alerts writer against a plain ORM reference (``tests/support/alerts_reference.py``) on random
workloads, on SQLite and PostgreSQL: case and authority alerts, repeats, late and stale transitions, team
changes (often or rarely), acknowledgements, closes and escalations between batches. After every batch both
databases must hold the same rows, column for column, ids included, and the counts must agree."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.orm import Session

from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.lifecycle import EscalationPolicy
from services.alerts.models import Alert, AlertHistory
from services.alerts.store import acknowledge, apply_transitions, close, escalate_due
from tests.support.alerts_reference import apply_reference

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get("CAREWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RULES = ("pep-overdue", "visit-overdue", "sdq-concern")
TEAMS = ("north", "south", "east")
POLICY = EscalationPolicy({"high": 2, "medium": 5, "low": 10})
START = date(2025, 2, 3)
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
Writer = Callable[[Session, list[AlertTransition], datetime], Any]


def _transition(rng: random.Random, team_of: dict[str, str], churn: bool) -> AlertTransition:
    at = START + timedelta(days=rng.randrange(14))
    state = rng.choice(("raised", "raised", "resolved"))
    severity = rng.choice(("low", "medium", "high"))
    if rng.random() < 0.15:
        subject = rng.choice(("cla-rate", "repeat-referrals"))
        return AlertTransition(
            fingerprint=fingerprint("spc-shift", "", subject),
            rule="spc-shift",
            scope="authority",
            subject=subject,
            state=state,  # type: ignore[arg-type]
            at=at,
            severity=severity,  # type: ignore[arg-type]
            summary=rng.choice(("A shift", "A longer shift")),
            points=({"period": START, "value": rng.choice((1.5, 2.0))},),  # type: ignore[arg-type]
            limits={"mean": rng.choice((1.0, 1.2))},
        )
    child = f"C{rng.randrange(6)}"
    rule = rng.choice(RULES)
    if churn or rng.random() < 0.03:
        team_of[child] = rng.choice(TEAMS)
    team = None if rng.random() < 0.1 else team_of.setdefault(child, rng.choice(TEAMS))
    events = rng.sample(("e1", "e2", "e3"), rng.randrange(3))
    return AlertTransition(
        fingerprint=fingerprint(rule, child, ""),
        rule=rule,
        child_id=child,
        state=state,  # type: ignore[arg-type]
        at=at,
        severity=severity,  # type: ignore[arg-type]
        summary=rng.choice((f"{rule} for {child}", f"{rule} again for {child}")),
        evidence=tuple({"event_id": e, "type": "visit", "occurred_at": "2025-01-02"} for e in events),  # type: ignore[arg-type]
        dates={"deadline": at + timedelta(days=rng.choice((5, 10)))},
        team=team,
    )


def _snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as connection:
        alerts = [tuple(r) for r in connection.execute(select(Alert.__table__).order_by(Alert.__table__.c.id))]
        history = [tuple(r) for r in connection.execute(select(AlertHistory.__table__).order_by(AlertHistory.id))]
    return alerts, history


def _people(rng: random.Random, engines: list[Engine], now: datetime) -> None:
    """The same acknowledgements, closes and escalations on both databases, between batches."""
    with engines[0].connect() as connection:
        rows = connection.execute(select(Alert.id, Alert.state).order_by(Alert.id)).all()
    raised = [id_ for id_, state in rows if state == "raised"]
    opened = [id_ for id_, state in rows if state in ("raised", "acknowledged")]
    acks = rng.sample(raised, min(len(raised), rng.randrange(3)))
    closes = [id_ for id_ in rng.sample(opened, min(len(opened), rng.randrange(2))) if id_ not in acks]
    escalate = rng.random() < 0.2
    for engine in engines:
        with session_factory(engine).begin() as session:
            for id_ in acks:
                acknowledge(session, session.get_one(Alert, id_), "mgr", "booked", now)
            for id_ in closes:
                close(session, session.get_one(Alert, id_), "mgr", "duplicate", "same as another", now)
            if escalate:
                escalate_due(session, POLICY, START + timedelta(days=30), now)


def _run(engines: list[Engine], seed: int, churn: bool) -> None:
    rng = random.Random(seed)
    team_of: dict[str, str] = {}
    writers: list[Writer] = [apply_transitions, apply_reference]
    now = NOW
    for step in range(rng.randrange(8, 20)):
        items = [_transition(rng, team_of, churn) for _ in range(rng.randrange(1, 16))]
        if rng.random() < 0.3:
            items += rng.sample(items, rng.randrange(1, len(items) + 1))  # exact repeats in the same batch
        if rng.random() < 0.7:
            now = now + timedelta(minutes=rng.choice((1, 90)))  # else the same clock as the previous batch
        stats = []
        for engine, write in zip(engines, writers, strict=True):
            with session_factory(engine).begin() as session:
                stats.append(write(session, items, now))
        assert stats[0] == stats[1], f"seed {seed}, batch {step}"
        ours, reference = (_snapshot(engine) for engine in engines)
        assert ours[0] == reference[0], f"alerts differ: seed {seed}, batch {step}"
        assert ours[1] == reference[1], f"history differs: seed {seed}, batch {step}"
        if rng.random() < 0.5:
            _people(rng, engines, now)


@pytest.fixture
def sqlite_pair(tmp_path: Path) -> Iterator[Callable[[int], list[Engine]]]:
    made: list[Engine] = []

    def pair(seed: int) -> list[Engine]:
        engines = []
        for side in ("ours", "reference"):
            url = f"sqlite:///{tmp_path / f'{side}-{seed}.sqlite'}"
            migrate(url)
            engines.append(make_engine(url))
        made.extend(engines)
        return engines

    yield pair
    for engine in made:
        engine.dispose()


@pytest.fixture
def postgres_pair() -> Iterator[list[Engine]]:
    """Two new databases on the test server, emptied (ids restarted) between workloads."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    base = ADMIN_URL.rpartition("/")[0]
    names = [f"carewatch_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    engines = []
    try:
        for name in names:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            migrate(f"{base}/{name}")
            engines.append(make_engine(f"{base}/{name}"))
        yield engines
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty(engines: list[Engine]) -> None:
    for engine in engines:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE alert_history, alert RESTART IDENTITY"))


@pytest.mark.parametrize("churn", [True, False], ids=["team-churn", "steady-teams"])
def test_writer_equals_the_reference_on_sqlite(sqlite_pair: Callable[[int], list[Engine]], churn: bool) -> None:
    for seed in range(20):
        _run(sqlite_pair(seed), seed, churn)


@pytest.mark.parametrize("churn", [True, False], ids=["team-churn", "steady-teams"])
def test_writer_equals_the_reference_on_postgresql(postgres_pair: list[Engine], churn: bool) -> None:
    for seed in range(8):
        _empty(postgres_pair)
        _run(postgres_pair, 1000 + seed, churn)


def test_an_acknowledgement_made_while_a_batch_runs_is_kept(database_url: str) -> None:
    """A manager acknowledges after the batch has read the alert and before it writes: the batch writes only
    the columns it changed (details, dates), so the acknowledgement stays."""
    migrate(database_url)
    engine, other = make_engine(database_url), make_engine(database_url)
    child = AlertTransition(
        fingerprint=fingerprint("pep-overdue", "C1", ""),
        rule="pep-overdue",
        child_id="C1",
        state="raised",
        at=START,
        severity="low",
        summary="PEP overdue",
        team="north",
    )
    try:
        with session_factory(engine).begin() as session:
            apply_transitions(session, [child], NOW)
        alert_id = _snapshot(engine)[0][0][0]
        acknowledged: list[str] = []

        def human(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE alert") and not acknowledged:
                acknowledged.append(statement)
                with session_factory(other).begin() as session:
                    acknowledge(session, session.get_one(Alert, alert_id), "mgr", "booked", NOW)

        event.listen(engine, "before_cursor_execute", human)
        later = child.model_copy(update={"at": START + timedelta(days=3), "severity": "high", "summary": "Still"})
        with session_factory(engine).begin() as session:
            stats = apply_transitions(session, [later], NOW + timedelta(hours=1))
        assert acknowledged and stats.actions == {"updated": 1}
        with session_factory(engine)() as session:
            row = session.get_one(Alert, alert_id)
            assert (row.state, row.acknowledged_by, row.acknowledge_note) == ("acknowledged", "mgr", "booked")
            assert (row.severity, row.summary, row.last_transition_at) == ("high", "Still", START + timedelta(days=3))
            actions = [h.action for h in session.scalars(select(AlertHistory).order_by(AlertHistory.id))]
            assert actions == ["raised", "acknowledged", "updated"]
    finally:
        engine.dispose()
        other.dispose()
