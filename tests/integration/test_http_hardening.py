"""Both HTTP services under attack and outage, on the real PostgreSQL (and SQLite) and broker: out-of-range
parameters are 4xx, a database or broker outage is 503 with Retry-After, security headers on every answer,
a lockout after repeated bad tokens, audited failed sign-ins, sign-out that ends the session, disclosure
control on /metrics, and no child id in any log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from carewatch.broker import EmbeddedBroker, ensure_topics, free_port
from carewatch.db import make_engine, migrate, session_factory
from carewatch.httpguard import AuthFailure, LockoutPolicy, SharedFailureLimiter
from carewatch.settings import Settings
from carewatch.testing.samples import good_event
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user, require_board_reader
from services.alerts.metrics import shown_teams
from services.alerts.models import Alert, AuditLog, WebSession
from services.alerts.store import apply_transitions
from services.alerts.web import today
from services.board.web import build_router
from services.ingest.app import create_app as create_ingest_app
from services.ingest.cli import authorizer, database_check
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
CHILD_PREFIX = "HARD"


def transition(child: str, team: str, rule: str = "pep-overdue") -> AlertTransition:
    return AlertTransition(
        fingerprint=fingerprint(rule, child),
        rule=rule,
        child_id=child,
        state="raised",
        at=today() - timedelta(days=3),
        severity="high",
        summary=f"No PEP for {child}",
        dates={"deadline": today() - timedelta(days=3)},
        team=team,
    )


class Service:
    def __init__(self, url: str, settings: Settings) -> None:
        migrate(url)
        self.url = url
        self.engine = make_engine(url)
        with session_factory(self.engine).begin() as session:
            self.tokens = {
                "manager": add_user(session, "mgr-north", "manager", ["north"], NOW),
                "admin": add_user(session, "admin", "admin", [], NOW),
            }
            apply_transitions(session, [transition(f"{CHILD_PREFIX}{i}", "north") for i in range(3)], NOW)
        board = build_router(self.engine, settings, require_board_reader)
        self.client = TestClient(create_app(settings, self.engine, extra_routers=[board]))
        with session_factory(self.engine)() as session:
            self.alert_id = session.scalars(select(Alert.id)).first()

    def get(self, who: str | None, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path, headers=headers, **kwargs)


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    svc = Service(database_url, Settings())
    with svc.client:
        yield svc
    svc.engine.dispose()


BIG = [2**31, 2**63, 10**30]


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_out_of_range_parameters_are_4xx_with_a_reason(service: Service, who: str) -> None:
    problems = []
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for big in BIG:
        cases += [
            ("GET", f"/v1/alerts/{big}", {}),
            ("POST", f"/v1/alerts/{big}/acknowledge", {"json": {"note": "x"}}),
            ("POST", f"/v1/alerts/{big}/close", {"json": {"reason": "duplicate"}}),
            ("GET", "/v1/alerts", {"params": {"offset": big}}),
            ("GET", "/v1/alerts", {"params": {"limit": big}}),
            ("GET", "/v1/alerts", {"params": {"min_age_days": big}}),
        ]
    cases += [
        ("GET", "/v1/alerts", {"params": {"min_age_days": 800000}}),
        ("GET", "/v1/alerts", {"params": {"team": "no\x00rth"}}),
        ("GET", "/v1/alerts", {"params": {"rule": "pep\x00"}}),
        ("GET", "/v1/alerts", {"params": {"team": "x" * 10_000}}),
        ("GET", "/board", {"params": {"as_of": "0001-01-01"}}),
        ("GET", "/board", {"params": {"as_of": "9999-12-31"}}),
        ("GET", "/v1/board/summary", {"params": {"as_of": "0001-01-01"}}),
        ("GET", "/v1/board/summary", {"params": {"as_of": "9999-12-31"}}),
    ]
    headers = {"Authorization": f"Bearer {service.tokens[who]}"}
    for method, path, kwargs in cases:
        response = service.client.request(method, path, headers=headers, **kwargs)
        if not 400 <= response.status_code < 500 or not response.json().get("detail"):
            problems.append(f"{method} {path} {kwargs}: {response.status_code} {response.text[:200]}")
    # The signed-in pages too (an id beyond any integer type is simply not found).
    cookie = sign_in(service.client, service.tokens[who])
    for big in BIG:
        page = service.client.get(f"/alerts/{big}", headers=cookie)
        if page.status_code not in (400, 404, 422):
            problems.append(f"GET /alerts/{big}: {page.status_code}")
    assert problems == []
    # Ordinary values still work.
    assert service.get(who, "/v1/alerts", params={"min_age_days": 36_600, "offset": 2**31 - 1}).status_code == 200
    assert service.get(who, f"/v1/alerts/{service.alert_id}").status_code == 200


def sign_in(client: TestClient, token: str) -> dict[str, str]:
    """Signs in; returns the session cookie as a header (the client's own jar is emptied)."""
    response = client.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    value = response.cookies["carewatch_session"]
    client.cookies.clear()
    return {"Cookie": f"carewatch_session={value}"}


def test_security_headers_on_every_answer(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer, errors included (404, 405, 422, 429, 503 — the outage test — and an unexpected 500)."""
    cookie = sign_in(service.client, service.tokens["manager"])
    bearer = {"Authorization": f"Bearer {service.tokens['manager']}"}
    locked_out = TestClient(service.client.app, client=("10.9.9.9", 50000))
    for _ in range(10):  # the default policy's failures within its window
        locked_out.get("/v1/alerts", headers={"Authorization": "Bearer cw_wrong"})
    failing = TestClient(service.client.app, raise_server_exceptions=False)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    answers = {
        "api": service.get("manager", "/v1/alerts"),
        "api 401": service.get(None, "/v1/alerts"),
        "api 404": service.get("manager", "/v1/alerts/999999"),
        "api 422": service.get("manager", "/v1/alerts", params={"severity": "x"}),
        "page": service.client.get("/alerts", headers=cookie),
        "alert page": service.client.get(f"/alerts/{service.alert_id}", headers=cookie),
        "login": service.client.get("/login"),
        "healthz": service.client.get("/healthz"),
        "metrics": service.client.get("/metrics"),
        "board 404": service.client.get("/board", headers=cookie),
        "docs": service.client.get("/docs"),
        "nul": service.client.get("/v1/alerts?team=%00"),
        "api 405": service.client.delete("/v1/alerts", headers=bearer),
        "api 429": locked_out.get("/v1/alerts", headers=bearer),
        "no route 404": service.client.get("/no/such/page", headers=cookie),
        "page 404": service.client.get("/alerts/999999", headers=cookie),
        "page 405": service.client.put("/alerts", headers=cookie),
        "page 422": service.client.get("/alerts/not-a-number", headers=cookie),
        "child page": service.client.get(f"/children/{CHILD_PREFIX}0", headers=cookie),
    }
    monkeypatch.setattr("services.alerts.app.list_alerts", broken)
    answers["api 500"] = failing.get("/v1/alerts", headers=bearer)
    monkeypatch.undo()
    expected = {"api 405": 405, "api 429": 429, "api 500": 500, "no route 404": 404, "page 404": 404}
    expected |= {"page 405": 405, "page 422": 422, "child page": 200}
    assert {name: answers[name].status_code for name in expected} == expected
    for name, response in answers.items():
        h = response.headers
        assert h["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in h["content-security-policy"], name
        assert h["referrer-policy"] == "no-referrer", name
        assert h["cache-control"] == "no-store", name
    for name in ("api", "page", "alert page", "login"):
        csp = answers[name].headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "style-src 'self';" in csp, name
        assert "unsafe-inline" not in csp
    assert answers["page"].status_code == 200 and f"{CHILD_PREFIX}0" in answers["page"].text
    docs = answers["docs"].headers["content-security-policy"]  # the documented exception: inline styles, a worker
    assert "script-src 'self';" in docs and "https:" not in docs  # every docs asset is served by carewatch
    static = service.client.get("/static/alerts.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
    assert static.headers["x-content-type-options"] == "nosniff"
    assert answers["nul"].status_code == 400 and "NUL" in answers["nul"].json()["detail"]


def test_bad_tokens_lock_the_client_out_and_failed_sign_ins_are_audited(database_url: str) -> None:
    settings = Settings(auth_max_failures=4, auth_failure_window_seconds=60, auth_lockout_seconds=120)
    svc = Service(database_url, settings)
    try:
        with svc.client:
            bad = {"Authorization": "Bearer cw_wrong"}
            assert [svc.client.get("/v1/alerts", headers=bad).status_code for _ in range(2)] == [401, 401]
            wrong = svc.client.post("/login", data={"token": "cw_guess"}, follow_redirects=False)
            assert wrong.status_code == 401
            assert svc.client.get("/v1/board/summary", headers=bad).status_code == 401  # the fourth: locked
            locked = svc.get("admin", "/v1/alerts")  # even a right token, while locked out
            assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 120
            assert "too many failed attempts" in locked.json()["detail"]
            page = svc.client.post("/login", data={"token": svc.tokens["admin"]}, follow_redirects=False)
            assert page.status_code == 429 and page.headers["Retry-After"]
            assert svc.client.get("/healthz").status_code == 200  # no token, no lockout
            with session_factory(svc.engine)() as session:
                rows = [(r.actor, r.action, r.target) for r in session.scalars(select(AuditLog).order_by(AuditLog.id))]
            assert rows == [("anonymous", "sign-in-failed", "web"), ("anonymous", "lockout", "auth")]
    finally:
        svc.engine.dispose()


def test_ingest_locks_out_a_client_sending_bad_tokens(kafka_bootstrap: str) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        ingest_tokens=[SecretStr("right")],
        auth_max_failures=3,
        auth_lockout_seconds=60,
    )
    producer = IngestProducer(kafka_bootstrap)
    try:
        with TestClient(create_ingest_app(settings, producer)) as client:
            codes = [
                client.post("/v1/events", json=good_event(1), headers={"Authorization": "Bearer wrong"}).status_code
                for _ in range(3)
            ]
            locked = client.post("/v1/events", json=good_event(1), headers={"Authorization": "Bearer right"})
            assert codes == [401, 401, 401]
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) <= 60
            assert locked.headers["x-content-type-options"] == "nosniff"
            assert locked.headers["cache-control"] == "no-store"
    finally:
        producer.close()


def test_a_lockout_holds_on_every_instance_sharing_the_database(postgres_url: str) -> None:
    """Two app instances (own engines, own limiters) on one PostgreSQL database, as two processes or workers
    of the service would be: a client locked out on one is locked out on the other, audited once."""
    settings = Settings(auth_max_failures=3, auth_failure_window_seconds=60, auth_lockout_seconds=120)
    first = Service(postgres_url, settings)
    second_engine = make_engine(postgres_url)
    board = build_router(second_engine, settings, require_board_reader)
    second = TestClient(create_app(settings, second_engine, extra_routers=[board]))
    bad = {"Authorization": "Bearer cw_wrong"}
    admin = {"Authorization": f"Bearer {first.tokens['admin']}"}
    try:
        with first.client, second:
            # Failures count together: two on the first instance and one on the second make three.
            assert [first.client.get("/v1/alerts", headers=bad).status_code for _ in range(2)] == [401, 401]
            assert second.get("/v1/alerts", headers=admin).status_code == 200  # not yet locked
            assert second.post("/login", data={"token": "cw_guess"}, follow_redirects=False).status_code == 401
            on_first = first.client.get("/v1/alerts", headers=admin)
            on_second = second.get("/v1/alerts", headers=admin)
            assert (on_first.status_code, on_second.status_code) == (429, 429)
            assert 0 < int(on_second.headers["Retry-After"]) <= 120
            assert second.post("/login", data={"token": first.tokens["admin"]}).status_code == 429
            with session_factory(first.engine)() as session:
                actions = [r.action for r in session.scalars(select(AuditLog).order_by(AuditLog.id))]
            assert [a for a in actions if a != "read-alerts"] == ["sign-in-failed", "lockout"]
    finally:
        first.engine.dispose()
        second_engine.dispose()


SECOND_PROCESS = """
import sys, uvicorn
from carewatch.db import make_engine
from carewatch.settings import Settings
from services.alerts.app import create_app
settings = Settings(auth_max_failures=3, auth_failure_window_seconds=60, auth_lockout_seconds=120)
app = create_app(settings, make_engine(sys.argv[1]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_a_lockout_holds_in_another_process(postgres_url: str) -> None:
    """The alerts service served twice on one database, here and by a process of its own: three bad tokens
    sent to this one lock the client (127.0.0.1) out of the other."""
    import subprocess
    import sys
    import time

    import httpx

    settings = Settings(auth_max_failures=3, auth_failure_window_seconds=60, auth_lockout_seconds=120)
    here = Service(postgres_url, settings)
    port = free_port()
    other = subprocess.Popen([sys.executable, "-c", SECOND_PROCESS, postgres_url, str(port)])
    admin = {"Authorization": f"Bearer {here.tokens['admin']}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as there:
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert there.get("/v1/alerts", headers=admin).status_code == 200
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and other.poll() is None, "the second process did not start"
                    time.sleep(0.2)
            local = TestClient(here.client.app, client=("127.0.0.1", 50000))
            bad = {"Authorization": "Bearer cw_wrong"}
            assert [local.get("/v1/alerts", headers=bad).status_code for _ in range(3)] == [401, 401, 401]
            locked = there.get("/v1/alerts", headers=admin)
            assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 120
            assert local.get("/v1/alerts", headers=admin).status_code == 429
    finally:
        other.terminate()
        other.wait(timeout=20)
        here.engine.dispose()


def test_ingest_error_answers_carry_the_security_headers(kafka_bootstrap: str) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, ingest_tokens=[SecretStr("right")])
    producer = IngestProducer(kafka_bootstrap)
    right = {"Authorization": "Bearer right"}
    try:
        with TestClient(create_ingest_app(settings, producer)) as client:
            answers = {
                404: client.get("/no/such/path"),
                405: client.get("/v1/events", headers=right),
                401: client.post("/v1/events", json=good_event(1)),
                400: client.post("/v1/events", content=b"", headers=right),
                200: client.get("/healthz"),
            }
    finally:
        producer.close()
    assert {code: r.status_code for code, r in answers.items()} == {code: code for code in answers}
    for response in answers.values():
        h = response.headers
        assert h["cache-control"] == "no-store" and h["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in h["content-security-policy"] and h["referrer-policy"] == "no-referrer"


def test_ingest_instances_sharing_a_database_share_the_lockout(kafka_bootstrap: str, postgres_url: str) -> None:
    migrate(postgres_url)
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        ingest_tokens=[SecretStr("right")],
        auth_max_failures=2,
        auth_lockout_seconds=60,
    )
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    producer = IngestProducer(kafka_bootstrap)
    wrong, right = {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer right"}
    try:
        apps = [create_ingest_app(settings, producer, lockout_store=engine) for engine in engines]
        with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
            assert first.post("/v1/events", json=good_event(1), headers=wrong).status_code == 401
            assert second.post("/v1/events", json=good_event(2), headers=right).status_code == 200
            assert second.post("/v1/events", json=good_event(3), headers=wrong).status_code == 401
            codes = [c.post("/v1/events", json=good_event(4), headers=right).status_code for c in (first, second)]
            assert codes == [429, 429]
    finally:
        producer.close()
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_shared_limiter_window_and_lockout_expire(db: str, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("sqlite_url" if db == "sqlite" else "postgres_url"))
    migrate(url)
    engine = make_engine(url)
    now = [datetime(2025, 3, 10, 9, 0, tzinfo=UTC)]
    limiter = SharedFailureLimiter(engine, LockoutPolicy(3, 60, 120), clock=lambda: now[0])

    def wait(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    try:
        assert [limiter.failed("10.0.0.1"), limiter.failed("10.0.0.1")] == [None, None]
        wait(61)  # both failures leave the window
        assert limiter.failed("10.0.0.1") is None and limiter.retry_after("10.0.0.1") is None
        assert limiter.failed("10.0.0.2") is None  # another client counts apart
        wait(1)
        assert limiter.failed("10.0.0.1") is None
        assert limiter.failed("10.0.0.1") == 120  # three within the window: locked out
        assert limiter.retry_after("10.0.0.1") == 120 and limiter.retry_after("10.0.0.2") is None
        wait(100)
        assert limiter.retry_after("10.0.0.1") == 20
        wait(20)
        assert limiter.retry_after("10.0.0.1") is None  # served its time; counts start afresh
        assert [limiter.failed("10.0.0.1") for _ in range(3)] == [None, None, 120]
        with engine.connect() as conn:
            assert (
                conn.scalar(select(func.count()).select_from(AuthFailure)) == 0
            )  # out of the window, or cleared by a lockout
    finally:
        engine.dispose()


def test_lockout_tables_match_their_migration(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from carewatch.db import Base

    tables = {"auth_failure", "auth_lockout"}
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:

            def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
                table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
                return table in tables

            context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert tables <= set(conn.dialect.get_table_names(conn))
    finally:
        engine.dispose()


def test_sign_out_ends_the_session_on_the_server(service: Service) -> None:
    cookie = sign_in(service.client, service.tokens["manager"])
    assert not cookie["Cookie"].startswith("carewatch_session=cw_")  # the cookie is not the API token
    assert service.client.get("/alerts", headers=cookie, follow_redirects=False).status_code == 200
    assert service.client.get("/board", headers=cookie).status_code == 404  # signed in; no snapshot yet
    out = service.client.post("/logout", headers=cookie, follow_redirects=False)
    assert out.status_code == 303
    # A copy of the cookie kept after sign-out no longer works.
    replay = service.client.get("/alerts", headers=cookie, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/login"
    assert service.client.get("/board", headers=cookie).status_code == 401
    # Nor does a made-up or expired one.
    made_up = {"Cookie": "carewatch_session=cws_x"}
    assert service.client.get("/alerts", headers=made_up, follow_redirects=False).status_code == 303


def test_sessions_expire(database_url: str) -> None:
    svc = Service(database_url, Settings(web_session_hours=1 / 3600))  # one second
    try:
        with svc.client:
            cookie = sign_in(svc.client, svc.tokens["manager"])
            assert svc.client.get("/alerts", headers=cookie, follow_redirects=False).status_code == 200
            import time

            time.sleep(1.2)
            assert svc.client.get("/alerts", headers=cookie, follow_redirects=False).status_code == 303
            sign_in(svc.client, svc.tokens["admin"])  # a new sign-in clears the expired session away
            with session_factory(svc.engine)() as session:
                assert session.scalar(select(func.count()).select_from(WebSession)) == 1
    finally:
        svc.engine.dispose()


def test_metrics_show_no_team_below_the_threshold(service: Service) -> None:
    with session_factory(service.engine).begin() as session:
        apply_transitions(session, [transition(f"{CHILD_PREFIX}S{i}", "south") for i in range(6)], NOW)
        apply_transitions(session, [transition(f"{CHILD_PREFIX}E{i}", "east") for i in range(7)], NOW)
    text = service.client.get("/metrics").text
    # north has 3 (hidden); hiding north alone would let total − south − east reveal it: south goes too.
    assert re.findall(r"carewatch_alerts_open_by_team\{team=\"(\w+)\"\} (\S+)", text) == [("east", "7.0")]
    assert 'carewatch_alerts_open{rule="pep-overdue",severity="high"} 16.0' in text
    assert CHILD_PREFIX not in text
    assert shown_teams({"a": 1, "b": 2, "c": 9}, 5) == {"c": 9}  # two hidden: neither derivable
    assert shown_teams({"a": 0, "b": 5}, 5) == {"b": 5}  # nothing hidden but a zero
    assert shown_teams({"a": 4}, 5) == {}


# Outages ------------------------------------------------------------------------------------------------


def test_a_database_outage_is_503_with_retry_after(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The database the service uses is dropped under it: every database-backed answer is an honest 503."""
    from sqlalchemy import create_engine, text

    from conftest import POSTGRES_ADMIN_URL

    svc = Service(postgres_url, Settings())
    cookie = None
    try:
        with svc.client:
            cookie = sign_in(svc.client, svc.tokens["manager"])
            assert svc.client.get("/healthz").status_code == 200
            svc.engine.dispose()
            admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            name = postgres_url.rpartition("/")[2]
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()
            caplog.set_level(logging.DEBUG)
            answers = [
                svc.client.get("/healthz"),
                svc.get("manager", "/v1/alerts"),
                svc.get("admin", f"/v1/alerts/{svc.alert_id}"),
                svc.client.post(
                    f"/v1/alerts/{svc.alert_id}/acknowledge",
                    json={"note": "x"},
                    headers={"Authorization": f"Bearer {svc.tokens['admin']}"},
                ),
                svc.client.get("/alerts", headers=cookie),
                svc.client.post("/login", data={"token": svc.tokens["manager"]}),
                svc.client.get("/v1/board/summary", headers=cookie),
                svc.client.get("/metrics"),
            ]
    finally:
        svc.engine.dispose()
    for response in answers:
        assert response.status_code == 503, (response.request.url, response.status_code, response.text)
        assert int(response.headers["Retry-After"]) > 0
        assert "unavailable" in response.text
        assert response.headers["cache-control"] == "no-store" and response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert_no_child_id(caplog.records)


def test_ingest_with_a_user_store_that_is_down_answers_503(kafka_bootstrap: str) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    users = make_engine(closed, connect_args={"connect_timeout": 2})
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    producer = IngestProducer(kafka_bootstrap)
    app = create_ingest_app(  # as `serve` builds it: the user store also keeps the lockout counts
        settings,
        producer,
        authorize=authorizer(settings, users),
        health_checks=[database_check(users)],
        lockout_store=users,
    )
    try:
        with TestClient(app) as client:
            posted = client.post("/v1/events", json=good_event(1), headers={"Authorization": "Bearer cw_any"})
            health = client.get("/healthz")
    finally:
        producer.close()
        users.dispose()
    assert posted.status_code == 503 and posted.headers["Retry-After"]
    assert health.status_code == 503 and health.headers["Retry-After"]
    for response in (posted, health):
        assert response.headers["cache-control"] == "no-store" and response.headers["x-content-type-options"]
    assert "user store unavailable" in health.json()["detail"]


def _answers_with_the_broker_stopped() -> tuple[tuple[int, str], tuple[int, str]]:
    """(status, Retry-After) of a POST and of /healthz; plain values, so nothing keeps the app alive."""
    broker = EmbeddedBroker().start()
    ensure_topics(broker.bootstrap, partitions=1)
    settings = Settings(kafka_bootstrap=broker.bootstrap, ingest_tokens=[SecretStr("t")])
    producer = IngestProducer(broker.bootstrap, ack_timeout_s=3.0)
    try:
        with TestClient(create_ingest_app(settings, producer)) as client:
            assert client.get("/healthz").status_code == 200
            broker.stop()
            posted = client.post("/v1/events", json=good_event(5), headers={"Authorization": "Bearer t"})
            health = client.get("/healthz")
    finally:
        producer.close()
        broker.stop()
    return (
        (posted.status_code, posted.headers.get("Retry-After", "0")),
        (health.status_code, health.headers.get("Retry-After", "0")),
    )


def test_ingest_with_a_stopped_broker_answers_503_and_unhealthy() -> None:
    # In a process of its own: kafka-python keeps the sockets of refused reconnects to a stopped broker in
    # shared state, where they would surface as unclosed-socket warnings in whichever test runs next.
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        posted, health = pool.apply(_answers_with_the_broker_stopped)
    assert posted[0] == 503 and int(posted[1]) > 0
    assert health[0] == 503 and int(health[1]) > 0


# No child id in any log line ------------------------------------------------------------------------------


def assert_no_child_id(records: list[logging.LogRecord]) -> None:
    """Every record as a handler would write it, exception and traceback included."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    leaks = [formatter.format(r) for r in records if CHILD_PREFIX in formatter.format(r)]
    assert leaks == []


def test_failed_sql_writes_log_no_child_id(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A write the database refuses (a NUL byte in a text column), logged with its traceback, names no child."""
    from services.alerts.consumer import log as consumer_log

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    caplog.set_level(logging.DEBUG)
    try:
        with session_factory(engine).begin() as session:
            apply_transitions(session, [transition(f"{CHILD_PREFIX}X1", "no\x00rth")], NOW)
    except Exception:
        consumer_log.exception("write failed")
    else:
        pytest.fail("the database accepted a NUL byte")
    finally:
        engine.dispose()
    assert any(r.exc_info for r in caplog.records)
    assert_no_child_id(caplog.records)
    # The same failure with the parameters shown (SQLAlchemy's default) would have named the child.
    shown = make_engine(postgres_url, hide_parameters=False)
    try:
        with pytest.raises(Exception, match=f"{CHILD_PREFIX}X2"), session_factory(shown).begin() as session:
            apply_transitions(session, [transition(f"{CHILD_PREFIX}X2", "no\x00rth")], NOW)
    finally:
        shown.dispose()


def test_board_as_of_edges(service: Service) -> None:
    cookie = sign_in(service.client, service.tokens["admin"])
    assert service.client.get("/board", params={"as_of": "1900-01-01"}, headers=cookie).status_code == 404
    assert service.client.get("/board", params={"as_of": str(date(9998, 12, 31))}, headers=cookie).status_code == 404


def test_access_log_lines_carry_no_query_and_no_child_path() -> None:
    from carewatch.httpguard import RedactAccessLog

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/children/{CHILD_PREFIX}7/alerts?child={CHILD_PREFIX}7", "1.1", 200),
        None,
    )
    assert RedactAccessLog().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /children/…/alerts HTTP/1.1" 200'


def test_service_logs_name_no_child_through_failures(fresh_broker: str, postgres_url: str, tmp_path: Any) -> None:
    """The alerts service as deployed, logging as with --verbose: transitions, a record the database refuses,
    bad requests, failed sign-ins, then its database dropped under it. Not one log line (tracebacks included)
    names a child."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx
    from sqlalchemy import create_engine, text

    from conftest import POSTGRES_ADMIN_URL
    from tests.integration.test_alerts_consumer import publish

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    with session_factory(engine).begin() as session:
        token = add_user(session, "ops", "admin", [], NOW)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": postgres_url,
        "CAREWATCH_KAFKA_BOOTSTRAP": fresh_broker,
        "CAREWATCH_TOPIC_PARTITIONS": "4",
        "CAREWATCH_WEB_PORT": str(port),
        "CAREWATCH_NOTIFY_TICK_SECONDS": "0.2",
        "CAREWATCH_AUTH_MAX_FAILURES": "3",
    }
    code = (
        "from carewatch.cli import configure_logging; configure_logging(verbose=True); "
        "from carewatch.settings import Settings; from services.alerts.cli import serve; serve(Settings())"
    )
    log_path = tmp_path / "service.log"
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
            publish(fresh_broker, [transition(f"{CHILD_PREFIX}{i}", "north") for i in range(3)])
            deadline = time.monotonic() + 60
            while httpx.get(f"{base}/v1/alerts", headers=auth).json()["total"] < 3:
                assert time.monotonic() < deadline, "the transitions were not stored"
                time.sleep(0.2)
            # A record PostgreSQL cannot store (NUL in a text column): the consumer fails and logs it.
            publish(fresh_broker, [transition(f"{CHILD_PREFIX}NUL", "no\x00rth")])
            for path in ("/v1/alerts/99999999999", f"/v1/alerts?team={CHILD_PREFIX}%00", "/board?as_of=0001-01-01"):
                assert 400 <= httpx.get(base + path, headers=auth).status_code < 500
            for _ in range(3):
                httpx.post(f"{base}/login", data={"token": f"cw_{CHILD_PREFIX}guess"})
            assert httpx.get(f"{base}/v1/alerts", headers=auth).status_code == 429
            time.sleep(6)  # at least one retry of the refused batch, logged with its traceback
            admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{postgres_url.rpartition("/")[2]}" WITH (FORCE)'))
            admin.dispose()
            outage = [httpx.get(f"{base}/healthz"), httpx.get(f"{base}/metrics")]
            time.sleep(6)  # the consumer's and the notifier's failures during the outage are logged too
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert [r.status_code for r in outage] == [503, 503]
    logged = log_path.read_text()
    # The failures were logged: the transition PostgreSQL refused (dead-lettered by the consumer) and the outage.
    assert "cannot be stored (DataError): sent to carewatch.alerts-dlq.v1" in logged
    assert "sign-in" in logged or "POST /login" in logged
    leaks = [line for line in logged.splitlines() if CHILD_PREFIX in line]
    assert leaks == []
