"""Alerts tables on SQLite and PostgreSQL: migrations equal the models; transitions and actions in SQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from carewatch.db import Base, make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.lifecycle import EscalationPolicy, LifecycleError
from services.alerts.models import Alert, AlertHistory
from services.alerts.store import (
    AlertFilter,
    acknowledge,
    apply_transitions,
    close,
    escalate_due,
    get_alert,
    list_alerts,
)

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
POLICY = EscalationPolicy({"high": 2, "medium": 5, "low": 10})
ALERTS_TABLES = {t for t in Base.metadata.tables if t.startswith(("alert", "notification", "api_token"))} | {
    "team",
    "route",
    "app_user",
    "user_team",
    "audit_log",
}


def transition(child: str, state: str, at: date, rule: str = "pep-overdue", team: str | None = "north") -> Any:
    return AlertTransition(
        fingerprint=fingerprint(rule, child, ""),
        rule=rule,
        child_id=child,
        state=state,  # type: ignore[arg-type]
        at=at,
        severity="high" if rule == "pep-overdue" else "low",
        summary=f"{rule} for {child}",
        evidence=({"event_id": f"e-{child}", "type": "care.started", "occurred_at": "2025-01-02"},),  # type: ignore[arg-type]
        dates={"deadline": date(2025, 2, 1)},
        team=team,
    )


@pytest.fixture
def engine(database_url: str) -> Engine:
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def test_migrations_equal_the_models(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # idempotent
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:

            def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
                table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
                return table in ALERTS_TABLES

            context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            names = set(conn.dialect.get_table_names(conn))
    finally:
        engine.dispose()
    assert names >= ALERTS_TABLES


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(Alert).order_by(Alert.fingerprint, Alert.occurrence)).all()
        return [
            (r.fingerprint, r.occurrence, r.state, r.raised_at, r.resolved_at, r.previous_id is not None) for r in rows
        ]


def _history_count(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count(AlertHistory.id))) or 0)


def test_transitions_in_order_make_occurrences_and_history(engine: Engine) -> None:
    d = date(2025, 2, 3)
    batch = [
        transition("C1", "raised", d),
        transition("C1", "resolved", d + timedelta(4)),
        transition("C1", "raised", d + timedelta(9)),
        transition("C2", "raised", d),
    ]
    with session_factory(engine).begin() as session:
        stats = apply_transitions(session, batch, NOW)
    assert stats.actions == {"opened": 3, "resolved": 1}
    fp1, fp2 = fingerprint("pep-overdue", "C1", ""), fingerprint("pep-overdue", "C2", "")
    assert sorted(_rows(engine)) == sorted(
        [
            (fp1, 1, "resolved", d, d + timedelta(4), False),
            (fp1, 2, "raised", d + timedelta(9), None, True),
            (fp2, 1, "raised", d, None, False),
        ]
    )
    assert _history_count(engine) == 4
    with session_factory(engine).begin() as session:
        again = apply_transitions(session, list(reversed(batch)) + batch, NOW)
    assert again.actions == {"ignored": 8}
    assert _history_count(engine) == 4


def test_any_order_with_repeats_across_batches_ends_the_same(engine: Engine) -> None:
    d = date(2025, 2, 3)
    history = [
        transition("C3", "raised", d),
        transition("C3", "resolved", d + timedelta(5)),
        transition("C4", "raised", d + timedelta(1)),
        transition("C3", "raised", d + timedelta(20), team="south"),
    ]
    arrival = history * 2
    random.Random(7).shuffle(arrival)
    for start in range(0, len(arrival), 3):
        with session_factory(engine).begin() as session:
            apply_transitions(session, arrival[start : start + 3], NOW)
    rows = _rows(engine)
    fp3 = fingerprint("pep-overdue", "C3", "")
    newest = [r for r in rows if r[0] == fp3][-1]
    assert newest[2] == "raised"
    assert sum(1 for r in rows if r[2] in ("raised", "acknowledged")) == 2
    assert len({(r[0], r[1]) for r in rows}) == len(rows)


def test_team_change_reroutes_the_childs_open_alerts(engine: Engine) -> None:
    d = date(2025, 2, 3)
    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [transition("C5", "raised", d), transition("C5", "raised", d, rule="sdq-concern")],
            NOW,
        )
    with session_factory(engine).begin() as session:
        stats = apply_transitions(
            session, [transition("C5", "raised", d + timedelta(2), rule="dental-overdue", team="east")], NOW
        )
    assert stats.rerouted == 2
    with session_factory(engine)() as session:
        teams = {a.rule: a.team for a in session.scalars(select(Alert))}
        assert teams == {"pep-overdue": "east", "sdq-concern": "east", "dental-overdue": "east"}
        actions = [h.action for h in session.scalars(select(AlertHistory).order_by(AlertHistory.id))]
    assert actions.count("rerouted") == 2


def test_one_batch_reroutes_what_it_opened_and_reopens_what_it_resolved(engine: Engine) -> None:
    """Rows the batch itself opened are re-routed (with history) and linked when reopened; an Alert the
    session already held is read afresh; an authority alert (no child) is never re-routed."""
    d = date(2025, 2, 3)
    authority = AlertTransition(
        fingerprint=fingerprint("spc-shift", "", "cla-rate"),
        rule="spc-shift",
        scope="authority",
        subject="cla-rate",
        state="raised",
        at=d,
        severity="medium",
        summary="A shift in the rate",
        points=({"period": d, "value": 1.5},),  # type: ignore[arg-type]
        limits={"mean": 1.0},
    )
    with session_factory(engine).begin() as session:
        apply_transitions(session, [transition("C9", "raised", d), authority], NOW)
    with session_factory(engine).begin() as session:
        held = session.scalars(select(Alert).where(Alert.child_id == "C9")).one()
        assert held.team == "north" and held.state == "raised"
        stats = apply_transitions(
            session,
            [
                transition("C9", "resolved", d + timedelta(3)),
                transition("C9", "raised", d + timedelta(5)),  # a second occurrence, opened by this batch
                transition("C9", "resolved", d + timedelta(6)),
                transition("C9", "raised", d + timedelta(8)),  # a third, linked to the second
                transition("C9", "raised", d + timedelta(8), rule="sdq-concern", team="west"),
            ],
            NOW,
        )
        assert held.state == "resolved" and held.resolved_at == d + timedelta(3)  # not the stale object
    assert stats.actions == {"resolved": 2, "opened": 3}
    assert stats.rerouted == 1  # the open third occurrence; the resolved ones stay where they were
    with session_factory(engine)() as session:
        rows = session.scalars(select(Alert).where(Alert.child_id == "C9").order_by(Alert.id)).all()
        assert [(r.rule, r.occurrence, r.state, r.team) for r in rows] == [
            ("pep-overdue", 1, "resolved", "north"),
            ("pep-overdue", 2, "resolved", "north"),
            ("pep-overdue", 3, "raised", "west"),
            ("sdq-concern", 1, "raised", "west"),
        ]
        assert [r.previous_id for r in rows] == [None, rows[0].id, rows[1].id, None]
        third = rows[2]
        assert [(h.action, h.detail.get("old_team"), h.detail.get("new_team")) for h in third.history] == [
            ("raised", None, None),
            ("rerouted", "north", "west"),
        ]
        spc = session.scalars(select(Alert).where(Alert.scope == "authority")).one()
        assert spc.team is None and spc.child_id is None and spc.chart is not None
        assert spc.chart["limits"] == {"mean": 1.0}


def test_acknowledge_close_escalate_and_read_back(engine: Engine) -> None:
    d = date(2025, 2, 3)
    stored = datetime(2025, 2, 3, 23, 30, tzinfo=UTC)  # 23:30 UTC is still 3 February in London
    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [
                transition("C6", "raised", d),
                transition("C7", "raised", d, team="south"),
                transition("C8", "raised", d, rule="sdq-concern"),
            ],
            stored,
        )
    with session_factory(engine).begin() as session:
        c6, c7 = (session.scalars(select(Alert).where(Alert.child_id == c)).one() for c in ("C6", "C7"))
        acknowledge(session, c6, "mgr", "PEP booked for Friday", NOW)
        with pytest.raises(LifecycleError):
            acknowledge(session, c6, "mgr", "again", NOW)
        close(session, c7, "mgr", "recording-error", "wrong date", NOW)
        # C8 is low (10 working days from Monday 3 February): due on 17 February, not before.
        assert escalate_due(session, POLICY, date(2025, 2, 14), NOW) == []
        escalated = escalate_due(session, POLICY, date(2025, 2, 17), NOW)
        assert [a.child_id for a in escalated] == ["C8"]
        assert escalate_due(session, POLICY, date(2025, 2, 18), NOW) == []
    with session_factory(engine)() as session:
        rows, total = list_alerts(session, AlertFilter(state="open"), frozenset({"north"}), date(2025, 3, 1), 10, 0)
        assert total == 2
        assert [r.child_id for r in rows] == ["C6", "C8"]  # high before low
        rows, total = list_alerts(session, AlertFilter(), None, date(2025, 3, 1), 1, 1)
        assert total == 3 and len(rows) == 1
        assert list_alerts(session, AlertFilter(min_age_days=60), None, date(2025, 3, 1), 10, 0)[1] == 0
        c7_id = session.scalars(select(Alert.id).where(Alert.child_id == "C7")).one()
        assert get_alert(session, c7_id, frozenset({"north"})) is None
        shown = get_alert(session, c7_id, None)
        assert shown is not None and shown.state == "closed" and shown.close_reason == "recording-error"
        assert [h.action for h in shown.history] == ["raised", "closed"]
