"""The managers' workspace on SQLite and PostgreSQL: counts over every matching alert (not one page), filters,
urgency order, one row per child, the unallocated queue, the child view and its audit, team checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, EvidenceEvent, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user
from services.alerts.models import Alert, AuditLog
from services.alerts.store import apply_transitions
from services.alerts.web import today
from services.alerts.workspace import Query, Scope, children_page, counts

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
_n = itertools.count()


def transition(
    child: str,
    rule: str,
    severity: str,
    team: str | None,
    overdue: int | None,
    state: str = "raised",
    at: date | None = None,
    summary: str = "",
    evidence: tuple[EvidenceEvent, ...] = (),
) -> AlertTransition:
    on = today()
    raised_on = at or on - timedelta(days=(overdue or 0) + 1)
    return AlertTransition(
        fingerprint=fingerprint(rule, child),
        rule=rule,
        child_id=child,
        state=state,  # type: ignore[arg-type]
        at=raised_on,
        severity=severity,  # type: ignore[arg-type]
        summary=summary or f"{rule} for {child}",
        evidence=evidence,
        dates={} if overdue is None else {"deadline": on - timedelta(days=overdue)},
        team=team,
    )


class World:
    def __init__(self, engine: Engine, client: TestClient, tokens: dict[str, str]) -> None:
        self.engine, self.client, self.tokens = engine, client, tokens

    def add(self, *transitions: AlertTransition) -> None:
        with session_factory(self.engine).begin() as session:
            apply_transitions(session, list(transitions), NOW)

    def ids(self, child: str) -> list[int]:
        with session_factory(self.engine)() as session:
            return list(session.scalars(select(Alert.id).where(Alert.child_id == child).order_by(Alert.id)))

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    migrate(database_url)
    engine = make_engine(database_url)
    tokens = {}
    with session_factory(engine).begin() as session:
        tokens["north"] = add_user(session, "mgr-north", "manager", ["north"], NOW)
        tokens["duty"] = add_user(session, "duty", "manager", ["south"], NOW)
        tokens["admin"] = add_user(session, "admin", "admin", [], NOW)
    settings = Settings(alerts_unallocated_managers=["duty"])
    with TestClient(create_app(settings, engine)) as client:
        yield World(engine, client, tokens)
    engine.dispose()


def test_counts_cover_every_matching_alert_not_one_page(world: World) -> None:
    # 60 children in north with 1-3 alerts each: far more than one page of 25 children.
    transitions = []
    for i in range(60):
        child = f"N{i:03d}"
        transitions.append(transition(child, "pep-overdue", "high", "north", overdue=i))
        if i % 2 == 0:
            transitions.append(transition(child, "sdq-concern", "low", "north", overdue=None))
        if i % 3 == 0:
            transitions.append(transition(child, "visit-overdue", "medium", "north", overdue=i + 5))
    transitions.append(transition("S001", "pep-overdue", "high", "south", overdue=3))
    world.add(*transitions)
    found = world.get("north", "/v1/workspace/counts").json()
    assert found["by_severity"] == {"high": 60, "medium": 20, "low": 30}
    assert found["total"] == 110 and found["children"] == 60
    assert found["by_rule"] == {"pep-overdue": 60, "sdq-concern": 30, "visit-overdue": 20}
    assert found["by_team"] == {"north": 110}
    # Filters: severity, rule, overdue more than N days, child id.
    assert world.get("north", "/v1/workspace/counts", severity="low").json()["total"] == 30
    assert world.get("north", "/v1/workspace/counts", rule="visit-overdue").json()["total"] == 20
    # pep: overdue 0..59 → more than 50 days: 51..59 = 9; visit: i+5 for i%3==0 → i in 48,51,54,57 = 4
    assert world.get("north", "/v1/workspace/counts", overdue=50).json()["total"] == 13
    assert world.get("north", "/v1/workspace/counts", child="N000").json()["total"] == 3
    assert world.get("north", "/v1/workspace/counts", team="south").json()["total"] == 0
    assert world.get("admin", "/v1/workspace/counts").json()["total"] == 111

    with session_factory(world.engine)() as session:
        scope = Scope(frozenset({"north"}))
        on = today()
        pages = [children_page(session, scope, Query(), on, 25, offset) for offset in (0, 25, 50, 75)]
        again = counts(session, scope, Query(), on)
    children = [row.child_id for page in pages for row in page]
    assert len(children) == 60 == len(set(children)) == again.children  # every child once, over three pages
    assert [len(p) for p in pages] == [25, 25, 10, 0]
    # Urgency: most days past the deadline first (N057's visit is 62 days past, the most overdue).
    assert children[:3] == ["N057", "N054", "N059"]
    first = pages[0][0]
    assert [a.rule for a in first.alerts] == ["visit-overdue", "pep-overdue"]
    with session_factory(world.engine)() as session:
        oldest = children_page(session, scope, Query(sort="oldest"), on, 3, 0)
    assert oldest[0].child_id == "N057"  # its visit alert was raised first


def test_unallocated_queue_and_child_view(world: World) -> None:
    world.add(
        transition("U1", "pep-overdue", "high", None, overdue=4),  # no team (e.g. an SSDA903 import)
        transition("U2", "visit-overdue", "medium", "west", overdue=2),  # a team no manager has
        transition("N1", "pep-overdue", "high", "north", overdue=1),
    )
    assert world.get("north", "/v1/workspace/counts").json()["unallocated"] == 2
    assert world.get("north", "/v1/workspace/counts", queue="unallocated").status_code == 403
    queue = world.get("duty", "/v1/workspace/counts", queue="unallocated").json()
    assert queue["total"] == 2 and queue["by_team"] == {"": 1, "west": 1}
    assert world.get("admin", "/v1/workspace/counts", queue="unallocated").json()["total"] == 2
    # The named manager reads an unallocated child; the north manager may not.
    assert world.get("duty", "/v1/children/U1").status_code == 200
    assert world.get("north", "/v1/children/U1").status_code == 404
    # A child view: open and recently resolved alerts together, with the events behind them.
    evidence = (
        EvidenceEvent(event_id="p1", type="placement.started", occurred_at="2025-01-02"),
        EvidenceEvent(event_id="p2", type="placement.started", occurred_at="2025-02-03"),
    )
    world.add(
        transition("N1", "placement-instability", "low", "north", None, evidence=evidence),
        transition("N1", "sdq-concern", "low", "north", None, at=today() - timedelta(days=30)),
        transition("N1", "sdq-concern", "low", "north", None, state="resolved", at=today() - timedelta(days=5)),
    )
    body = world.get("north", "/v1/children/N1").json()
    assert body["team"] == "north"
    assert sorted((a["rule"], a["state"]) for a in body["alerts"]) == [
        ("pep-overdue", "raised"),
        ("placement-instability", "raised"),
        ("sdq-concern", "resolved"),
    ]
    assert [e["event_id"] for e in body["events"]] == ["p2", "p1"]
    with session_factory(world.engine)() as session:
        audits = session.scalars(select(AuditLog).where(AuditLog.action == "read-child")).all()
    assert [(a.actor, a.detail["child_id"]) for a in audits] == [("duty", "U1"), ("mgr-north", "N1")]
    assert sorted(audits[1].detail["alert_ids"]) == world.ids("N1")


def test_manager_page_counts_filters_and_grouping(world: World) -> None:
    world.add(
        *[transition(f"C{i:02d}", "pep-overdue", "high", "north", overdue=i) for i in range(30)],
        transition("C00", "sdq-concern", "low", "north", None),
        transition("C00", "visit-overdue", "medium", "north", overdue=2),
    )
    world.client.cookies.set("carewatch_session", world.tokens["north"])
    page = world.client.get("/alerts")
    assert page.status_code == 200
    html = page.text
    assert 'data-count="high">30 high' in html and 'data-count="low">1 low' in html
    assert "32 alerts for 30 children" in html
    assert "Page 1 of 2" in html and 'rel="next"' in html
    assert html.count('class="child"') == 25
    assert 'data-child="C29"' in html and 'data-child="C00"' not in html  # most days past deadline first
    second = world.client.get("/alerts", params={"page": "2"}).text
    assert second.count('class="child"') == 5  # C00's most urgent alert is 2 days overdue: page 2
    c00 = second.split('data-child="C00"')[1].split('<section class="child"')[0]
    assert "<span data-alert-count>3</span> alerts" in c00
    filtered = world.client.get("/alerts", params={"severity": "low"}).text
    assert "1 alert for 1 child matching the filters" in filtered and "Page 1 of" not in filtered
    searched = world.client.get("/alerts", params={"child": "C07"}).text
    assert searched.count('class="child"') == 1 and 'data-child="C07"' in searched
    world.client.cookies.clear()


def test_users_are_checked_against_known_teams(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.cli import app
    from carewatch.settings import get_settings

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        empty = runner.invoke(app, ["users", "add", "kim", "--role", "manager", "--team", "north"])
        assert empty.exit_code == 2 and "known teams: none yet" in empty.output
        migrate(sqlite_url)
        engine = make_engine(sqlite_url)
        with session_factory(engine).begin() as session:
            apply_transitions(session, [transition("K1", "pep-overdue", "high", "north", overdue=1)], NOW)
        engine.dispose()
        typo = runner.invoke(app, ["users", "add", "kim", "--role", "manager", "--team", "nrth"])
        assert typo.exit_code == 2 and "unknown team 'nrth'; known teams: north" in typo.output
        assert runner.invoke(app, ["users", "add", "kim", "--role", "manager", "--team", "north"]).exit_code == 0
        assert runner.invoke(app, ["users", "teams", "kim", "--team", "sooth"]).exit_code == 2
        assert runner.invoke(app, ["users", "teams", "kim", "--team", "east", "--new-team"]).exit_code == 0
        assert "kim\tmanager\teast\tactive" in runner.invoke(app, ["users", "list"]).stdout
    finally:
        get_settings.cache_clear()


def test_a_manager_whose_teams_match_nothing_is_told(world: World) -> None:
    world.add(transition("N1", "pep-overdue", "high", "north", overdue=1))
    with session_factory(world.engine).begin() as session:
        token = add_user(session, "typo", "manager", ["nrth"], NOW)
    world.client.cookies.set("carewatch_session", token)
    html = world.client.get("/alerts").text
    world.client.cookies.clear()
    assert "match no team carewatch knows" in html
    assert "Nothing needs you" not in html
    assert "1 alert is unallocated" not in html  # north has a manager: nothing unallocated


def test_history_keeps_severity_changes_and_what_cleared_an_alert(world: World) -> None:
    start = EvidenceEvent(event_id="cs", type="care.started", occurred_at="2025-01-02")
    pep = EvidenceEvent(event_id="pep1", type="pep.completed", occurred_at="2025-03-01")
    world.add(transition("H1", "pep-overdue", "low", "north", overdue=9, evidence=(start,)))
    world.add(transition("H1", "pep-overdue", "high", "north", overdue=9, at=today() - timedelta(days=3)))
    world.add(
        transition("H1", "pep-overdue", "high", "north", None, state="resolved", at=today(), evidence=(start, pep))
    )
    world.client.cookies.set("carewatch_session", world.tokens["north"])
    html = world.client.get(f"/alerts/{world.ids('H1')[0]}").text
    world.client.cookies.clear()
    assert "Severity raised from low to high" in html
    assert "PEP completed on 1 March 2025" in html
