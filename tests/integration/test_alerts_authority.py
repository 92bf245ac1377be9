"""Authority alerts (special causes on the authority's own series, CONTRACT §6) through the alerts service on
SQLite and PostgreSQL: stored without a child, raised and resolved through the same lifecycle and history,
seen by the board's audience only through aggregates, routed to the board's recipients, and audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user
from services.alerts.lifecycle import EscalationPolicy
from services.alerts.models import Alert, AlertHistory, AuditLog, NotificationLog
from services.alerts.notify import DigestTiming, Notifier
from services.alerts.routing import RouteTable, RoutingConfig, seed_routes
from services.alerts.store import AlertFilter, apply_transitions, get_alert, list_alerts
from services.board.core.authority_alerts import WatchedSeries, series_transitions

pytestmark = pytest.mark.integration
NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
WATCHED = WatchedSeries("entered-care-month", "Children starting to be looked after", "lower")


def _series() -> list[tuple[date, float]]:
    """18 steady months, then 7 months above the mean (a shift), then back to the old level."""
    months = [date(2024 + (m // 12), m % 12 + 1, 1) for m in range(30)]
    steady = [17, 19, 16, 18, 17, 20, 15, 18, 17, 19, 16, 18, 17, 18, 16, 19, 17, 18]
    values = [*steady, 23, 24, 22, 25, 23, 24, 26, 17, 16, 18, 17, 16]  # 18 steady, 7 high, 5 back
    return list(zip(months, [float(v) for v in values], strict=True))


def _transitions() -> list[AlertTransition]:
    found = series_transitions(WATCHED, _series())
    assert [t.state for t in found[:2]] == ["raised", "resolved"]  # a special cause, then its end
    return found[:2]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _case_alert() -> AlertTransition:
    return AlertTransition(
        fingerprint=fingerprint("pep-overdue", "C-1"),
        rule="pep-overdue",
        child_id="C-1",
        state="raised",
        at=date(2026, 3, 1),
        severity="high",
        summary="PEP overdue",
        team="north",
    )


def test_raised_then_resolved_through_the_lifecycle_without_a_child(engine: Engine) -> None:
    raised, resolved = _transitions()
    with session_factory(engine).begin() as session:
        apply_transitions(session, [_case_alert(), raised], NOW)
    with session_factory(engine).begin() as session:
        apply_transitions(session, [raised, resolved], NOW)  # a repeat changes nothing
    with session_factory(engine)() as session:
        row = session.scalars(select(Alert).where(Alert.scope == "authority")).one()
        assert row.child_id is None and row.team is None
        assert (row.rule, row.subject) == ("spc-entered-care-month", "entered-care-month")
        assert row.fingerprint == fingerprint("spc-entered-care-month", "", "entered-care-month")
        assert (row.state, row.raised_at, row.resolved_at) == ("resolved", raised.at, resolved.at)
        assert row.chart is not None and len(row.chart["points"]) == len(raised.points)
        assert set(row.chart["limits"]) >= {"mean", "upper_process_limit", "lower_process_limit"}
        assert any(p["signals"] for p in row.chart["points"])  # the points that triggered it
        actions = session.scalars(select(AlertHistory.action).where(AlertHistory.alert_id == row.id)).all()
        assert list(actions) == ["raised", "resolved"]
        # Case lists never carry it; the authority list does; a manager's reads cannot reach it.
        cases, _ = list_alerts(session, AlertFilter(), None, date(2026, 4, 2), 50, 0)
        assert [a.rule for a in cases] == ["pep-overdue"]
        authority, total = list_alerts(session, AlertFilter(scope="authority"), None, date(2026, 4, 2), 50, 0)
        assert total == 1 and authority[0].id == row.id
        assert get_alert(session, row.id, None) is None  # not through the case-level read
        assert get_alert(session, row.id, frozenset({"north"}), scope="authority") is None
        assert get_alert(session, row.id, None, scope="authority") is not None


class Recorder:
    """A sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.entries: list[NotificationLog] = []

    def send(self, entry: NotificationLog) -> None:
        self.entries.append(entry)


def test_the_board_recipients_hear_of_it_and_the_teams_do_not(engine: Engine) -> None:
    raised, _ = _transitions()
    config = RoutingConfig.model_validate(
        {
            "default": [{"email": "duty@example.org"}],
            "board": [{"email": "director@example.org"}],
            "teams": {"north": [{"email": "north@example.org"}]},
        }
    )
    with session_factory(engine).begin() as session:
        seed_routes(session, config)
        apply_transitions(session, [_case_alert(), raised], NOW)
    with session_factory(engine)() as session:
        routes = RouteTable.load(session)
    assert [r.target for r in routes.recipients(None, False, "authority")] == ["director@example.org"]
    assert [r.target for r in routes.recipients("north", False)] == ["north@example.org"]
    sent = Recorder()
    timing = DigestTiming(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4), timedelta(seconds=10))
    policy = EscalationPolicy({"high": 2, "medium": 5, "low": 10})
    notifier = Notifier(engine, timing, policy, {"email": sent}, public_url="https://carewatch.example.org")
    for seconds in (0, 60, 120):
        notifier.tick(NOW + timedelta(seconds=seconds))
    bodies = {entry.target: entry.body for entry in sent.entries}
    assert set(bodies) == {"director@example.org", "north@example.org"}
    assert "Children starting to be looked after" in bodies["director@example.org"]
    assert "Children starting to be looked after" not in bodies["north@example.org"]
    assert "C-1" not in bodies["director@example.org"]
    assert "https://carewatch.example.org/board" in bodies["director@example.org"]  # the chart, not a case page


def test_the_board_reads_authority_alerts_audited_and_not_case_alerts(engine: Engine) -> None:
    raised, _ = _transitions()
    with session_factory(engine).begin() as session:
        apply_transitions(session, [_case_alert(), raised], NOW)
        board = add_user(session, "director", "board", [], NOW)
        manager = add_user(session, "mgr-north", "manager", ["north"], NOW)
    app = create_app(Settings(auth_max_failures=1000), engine)
    with TestClient(app) as client:
        page = client.get("/v1/authority-alerts", headers={"Authorization": f"Bearer {board}"})
        assert page.status_code == 200
        (item,) = page.json()["items"]
        assert item["subject"] == "entered-care-month" and item["state"] == "raised"
        assert "child_id" not in item and item["chart"]["points"]
        assert client.get("/v1/alerts", headers={"Authorization": f"Bearer {board}"}).status_code == 403
        listed = client.get("/v1/alerts", headers={"Authorization": f"Bearer {manager}"}).json()["items"]
        assert [a["rule"] for a in listed] == ["pep-overdue"]
        assert client.get("/v1/authority-alerts").status_code == 401
    with session_factory(engine)() as session:
        reads = session.scalars(select(AuditLog).where(AuditLog.action == "read-authority-alerts")).all()
    assert [(r.actor, r.detail["alert_ids"]) for r in reads] == [("director", [item["id"]])]


def test_the_board_page_shows_the_open_authority_alert(engine: Engine) -> None:
    from fastapi import FastAPI

    from carewatch.testing.synthetic import authority
    from schemas.events import parse_event
    from services.board import store
    from services.board.replay import snapshots
    from services.board.web import build_router

    as_of = date(2025, 3, 31)
    events = [parse_event(raw, received_at=None) for raw in authority(40, 5, date(2024, 1, 1), as_of)]
    store.save(engine, snapshots(events, [as_of]))
    raised, resolved = _transitions()
    app = FastAPI()
    app.include_router(build_router(engine, Settings(board_authority_name="Testshire"), lambda: None))
    with TestClient(app) as client:
        with session_factory(engine).begin() as session:
            apply_transitions(session, [raised], NOW)
        page = client.get("/board", params={"as_of": as_of.isoformat()}).text
        assert "Open authority alerts" in page and raised.summary in page
        assert 'data-indicator="entered-care-month"' in page
        with session_factory(engine).begin() as session:
            apply_transitions(session, [resolved], NOW)
        assert "Open authority alerts" not in client.get("/board", params={"as_of": as_of.isoformat()}).text
