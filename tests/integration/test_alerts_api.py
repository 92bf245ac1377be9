"""The alerts API on SQLite and PostgreSQL: authorisation, filters, actions, audit, metrics, OpenAPI."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import Principal, add_user, require_role, revoke_user
from services.alerts.consumer import ConsumerStats
from services.alerts.models import Alert, AuditLog
from services.alerts.store import apply_transitions
from services.alerts.web import today

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
_children = itertools.count()


class World:
    def __init__(self, engine: Engine, client: TestClient, tokens: dict[str, str]) -> None:
        self.engine, self.client, self.tokens = engine, client, tokens

    def alert(self, team: str, rule: str = "pep-overdue", severity: str = "high", age: int = 10) -> int:
        child = f"API{next(_children):04d}"
        t = AlertTransition(
            fingerprint=fingerprint(rule, child),
            rule=rule,
            child_id=child,
            state="raised",
            at=today() - timedelta(days=age),
            severity=severity,  # type: ignore[arg-type]
            summary=f"{rule} for {child}",
            dates={"deadline": today() - timedelta(days=age)},
            team=team,
        )
        with session_factory(self.engine).begin() as session:
            apply_transitions(session, [t], NOW)
            return int(session.scalars(select(Alert.id).where(Alert.child_id == child)).one())

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.request(method, path, headers=headers, **kwargs)


board_router = APIRouter()


@board_router.get("/v1/board/ping")
def board_ping(principal: Annotated[Principal, Depends(require_role("board", "admin"))]) -> dict[str, str]:
    return {"hello": principal.name}


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    migrate(database_url)
    engine = make_engine(database_url)
    tokens = {}
    with session_factory(engine).begin() as session:
        tokens["north"] = add_user(session, "mgr-north", "manager", ["north"], NOW)
        tokens["south"] = add_user(session, "mgr-south", "manager", ["south", "east"], NOW)
        tokens["board"] = add_user(session, "board-member", "board", [], NOW)
        tokens["admin"] = add_user(session, "admin", "admin", [], NOW)
        tokens["ingest"] = add_user(session, "ingest-bot", "ingest", [], NOW)
        tokens["revoked"] = add_user(session, "leaver", "manager", ["north"], NOW)
    with session_factory(engine).begin() as session:
        revoke_user(session, "leaver", NOW)
    tokens["bogus"] = "cw_not-a-real-token"
    stats = ConsumerStats(consumed=7, bad=1)
    # The matrix sends many bad tokens from one client: the lockout has its own test.
    app = create_app(Settings(auth_max_failures=1000), engine, extra_routers=[board_router], consumer_stats=stats)
    with TestClient(app) as client:
        yield World(engine, client, tokens)
    engine.dispose()


WHO = [None, "bogus", "revoked", "board", "ingest", "north", "south", "admin"]


def expected(who: str | None, own_team: bool) -> int:
    if who in (None, "bogus", "revoked"):
        return 401
    if who in ("board", "ingest"):
        return 403
    if who == "south" and not own_team:
        return 404
    return 200


def test_authorisation_matrix(world: World) -> None:
    problems = []
    for who in WHO:
        north_alert = world.alert("north")
        cases = [
            ("GET", "/v1/alerts", None, expected(who, True)),
            ("GET", f"/v1/alerts/{north_alert}", None, expected(who, False)),
            ("POST", f"/v1/alerts/{north_alert}/acknowledge", {"note": "on it"}, expected(who, False)),
            (
                "POST",
                f"/v1/alerts/{world.alert('north')}/close",
                {"reason": "duplicate"},
                expected(who, False),
            ),
            ("GET", "/v1/close-reasons", None, expected(who, True)),
        ]
        for method, path, body, want in cases:
            got = world.call(who, method, path, json=body).status_code
            if got != want:
                problems.append(f"{who} {method} {path}: {got} != {want}")
        board_want = {None: 401, "bogus": 401, "revoked": 401, "board": 200, "admin": 200}.get(who, 403)
        got = world.call(who, "GET", "/v1/board/ping").status_code
        if got != board_want:
            problems.append(f"{who} GET /v1/board/ping: {got} != {board_want}")
    assert problems == []
    assert world.call(None, "GET", "/v1/alerts").headers["www-authenticate"] == "Bearer"


def test_a_manager_never_sees_another_teams_alert(world: World) -> None:
    north = {world.alert("north") for _ in range(3)}
    south = {world.alert("south"), world.alert("east")}
    nobody = world.alert("unassigned")
    seen = {a["id"] for a in world.call("north", "GET", "/v1/alerts").json()["items"]}
    assert seen == north
    seen = {a["id"] for a in world.call("south", "GET", "/v1/alerts").json()["items"]}
    assert seen == south
    for alert_id in south | {nobody}:
        assert world.call("north", "GET", f"/v1/alerts/{alert_id}").status_code == 404
    assert world.call("north", "GET", "/v1/alerts/999999").status_code == 404
    assert world.call("north", "GET", "/v1/alerts", params={"team": "south"}).json()["total"] == 0
    assert world.call("admin", "GET", "/v1/alerts").json()["total"] == 6


def test_filters_pagination_detail_and_actions(world: World) -> None:
    old_high = world.alert("north", age=40)
    young_low = world.alert("north", rule="sdq-concern", severity="low", age=1)
    mid = world.alert("north", rule="visit-overdue", severity="medium", age=20)
    page = world.call("north", "GET", "/v1/alerts").json()
    assert [a["id"] for a in page["items"]] == [old_high, mid, young_low]  # severity, then oldest
    assert page["items"][0]["deadline"].endswith("40 days overdue")
    q = lambda **p: [a["id"] for a in world.call("north", "GET", "/v1/alerts", params=p).json()["items"]]  # noqa: E731
    assert q(rule="sdq-concern") == [young_low]
    assert q(severity="medium") == [mid]
    assert q(min_age_days=20) == [old_high, mid]
    assert q(limit=1, offset=1) == [mid]
    assert world.call("north", "GET", "/v1/alerts", params={"severity": "urgent"}).status_code == 422

    ack = world.call("north", "POST", f"/v1/alerts/{old_high}/acknowledge", json={"note": "PEP meeting booked"})
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert world.call("north", "POST", f"/v1/alerts/{old_high}/acknowledge", json={"note": "x"}).status_code == 409
    assert world.call("north", "POST", f"/v1/alerts/{old_high}/acknowledge", json={"note": ""}).status_code == 422
    assert q(state="acknowledged") == [old_high]
    bad = world.call("north", "POST", f"/v1/alerts/{mid}/close", json={"reason": "bored"})
    assert bad.status_code == 422 and "unknown reason" in bad.text
    closed = world.call("north", "POST", f"/v1/alerts/{mid}/close", json={"reason": "recorded-late", "note": "fine"})
    assert closed.json()["state"] == "closed"
    detail = world.call("north", "GET", f"/v1/alerts/{mid}").json()
    assert [h["action"] for h in detail["history"]] == ["raised", "closed"]
    assert detail["history"][1]["actor"] == "mgr-north"
    assert detail["dates"] and detail["close_reason"] == "recorded-late"
    assert q(state="open") == [old_high, young_low]


def test_reads_are_audited(world: World) -> None:
    alert_id = world.alert("north")
    world.call("north", "GET", f"/v1/alerts/{alert_id}")
    world.call("north", "GET", "/v1/alerts", params={"rule": "pep-overdue"})
    world.call("board", "GET", f"/v1/alerts/{alert_id}")  # refused: no case-level read happened
    with session_factory(world.engine)() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("mgr-north", "read-alert", f"alert:{alert_id}"),
        ("mgr-north", "read-alerts", "alerts"),
    ]
    assert rows[1].detail["filters"] == {"rule": "pep-overdue"} and rows[1].detail["alert_ids"] == [alert_id]


def test_health_openapi_and_metrics(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    spec = world.client.get("/openapi.json").json()
    assert {"/v1/alerts", "/v1/alerts/{alert_id}", "/v1/alerts/{alert_id}/acknowledge"} <= set(spec["paths"])
    world.alert("north")
    world.alert("north")
    world.alert("south", severity="low", rule="sdq-concern")
    text = world.client.get("/metrics").text
    assert 'carewatch_alerts_open{rule="pep-overdue",severity="high"} 2.0' in text
    assert 'carewatch_alerts_open{rule="sdq-concern",severity="low"} 1.0' in text
    assert "carewatch_alerts_open_by_team{" not in text  # 2 and 1: below the suppression threshold
    assert "carewatch_alerts_transitions_consumed_total 7.0" in text
    assert 'carewatch_alerts_notification_failures_total{channel="webhook"} 0.0' in text
    assert "API" not in text  # no child id anywhere
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""


def test_users_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.cli import app
    from carewatch.settings import get_settings

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(app, ["users", "add", "kim", "--role", "manager", "--team", "north", "--new-team"])
        assert added.exit_code == 0, added.output
        token = added.stdout.strip().splitlines()[0]
        assert token.startswith("cw_")
        assert runner.invoke(app, ["users", "add", "kim", "--role", "manager", "--team", "x"]).exit_code == 2
        assert runner.invoke(app, ["users", "add", "pat", "--role", "wizard"]).exit_code == 2
        listed = runner.invoke(app, ["users", "list"])
        assert "kim\tmanager\tnorth\tactive" in listed.stdout
        assert token not in listed.stdout
        assert runner.invoke(app, ["users", "revoke", "kim"]).exit_code == 0
        assert "kim\tmanager\tnorth\trevoked" in runner.invoke(app, ["users", "list"]).stdout
        engine = make_engine(sqlite_url)
        with TestClient(create_app(Settings(), engine)) as client:
            response = client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"})
        engine.dispose()
        assert response.status_code == 401
    finally:
        get_settings.cache_clear()


def test_ensure_demo_user_gives_a_working_token_each_time(sqlite_url: str) -> None:
    from services.alerts.auth import UserError
    from services.alerts.users import ensure_demo_user

    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        first = ensure_demo_user(engine, "demo-board", role="board")
        second = ensure_demo_user(engine, "demo-board", role="board")
        assert first != second
        with pytest.raises(UserError, match="role board"):
            ensure_demo_user(engine, "demo-board", role="admin")
        with TestClient(create_app(Settings(), engine)) as client:
            for token in (first, second):
                response = client.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 403  # known user, board role: no case-level data
    finally:
        engine.dispose()
