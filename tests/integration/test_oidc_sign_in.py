"""Sign-in with a council account: the full OpenID Connect flow against a real provider (oidc-provider-mock)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user, revoke_user
from services.alerts.models import AuditLog, User, WebSession
from services.alerts.oidc import FLOW_COOKIE
from services.alerts.store import apply_transitions
from services.alerts.web import today
from tests.support.oidc_mock import MockProvider, mock_provider

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MANAGER = {"preferred_username": "jane.smith@council.example", "roles": ["CareWatch.Manager"], "groups": ["g-1", "g-9"]}


@pytest.fixture(scope="module")
def provider() -> Iterator[MockProvider]:
    with mock_provider() as running:
        yield running


def settings_for(provider: MockProvider, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "oidc_issuer": provider.url,
        "oidc_client_id": "carewatch",
        "oidc_client_secret": "not-so-secret",
        "oidc_role_map": {"CareWatch.Manager": "manager", "CareWatch.Admin": "admin", "CareWatch.Board": "board"},
        "oidc_team_map": {"g-1": "north", "g-2": "ghost"},
    }
    return Settings(**{**base, **overrides})


def transition(child: str, team: str) -> AlertTransition:
    return AlertTransition(
        fingerprint=fingerprint("pep-overdue", child),
        rule="pep-overdue",
        child_id=child,
        state="raised",
        at=today() - timedelta(days=3),
        severity="high",
        summary=f"No PEP for {child}",
        dates={"deadline": today() - timedelta(days=3)},
        team=team,
    )


class App:
    def __init__(self, url: str, settings: Settings) -> None:
        migrate(url)
        self.engine = make_engine(url)
        with session_factory(self.engine).begin() as session:
            apply_transitions(session, [transition("OIDC1", "north")], NOW)
            self.admin_token = add_user(session, "ops", "admin", [], NOW)
        self.client = TestClient(create_app(settings, self.engine))

    def start(self) -> str:
        """Follows the sign-in page's link; returns the provider URL the browser is sent to."""
        page = self.client.get("/login")
        assert 'href="/login/oidc"' in page.text and "Sign in with your council account" in page.text
        answer = self.client.get("/login/oidc", follow_redirects=False)
        assert answer.status_code == 303, answer.text
        assert FLOW_COOKIE in answer.cookies
        return answer.headers["location"]

    def come_back(self, location: str) -> Any:
        parts = urlsplit(location)
        return self.client.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    def sign_in(self, provider: MockProvider, sub: str) -> Any:
        return self.come_back(provider.authorize(self.start(), sub))

    def audit(self, action: str) -> list[AuditLog]:
        with session_factory(self.engine)() as session:
            return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


@pytest.fixture
def app(postgres_url: str, provider: MockProvider) -> Iterator[App]:
    svc = App(postgres_url, settings_for(provider))
    with svc.client:
        yield svc
    svc.engine.dispose()


def test_sign_in_maps_role_and_teams_and_starts_an_opaque_session(app: App, provider: MockProvider) -> None:
    provider.set_user("jane", MANAGER)
    location = app.start()
    sent = parse_qs(urlsplit(location).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["code_challenge"][0]
    assert sent["state"][0] and sent["nonce"][0] and sent["response_type"] == ["code"]
    back = app.come_back(provider.authorize(location, "jane"))
    assert back.status_code == 200, back.text
    assert 'http-equiv="refresh"' in back.text and "/alerts" in back.text
    cookie = back.cookies["carewatch_session"]
    assert cookie.startswith("cws_") and "." not in cookie  # opaque: not a provider token (a JWT has dots)
    page = app.client.get("/alerts", follow_redirects=False)
    assert page.status_code == 200 and "OIDC1" in page.text
    assert "jane.smith@council.example" in page.text
    with session_factory(app.engine)() as session:
        user = session.scalar(select(User).where(User.name == "jane.smith@council.example"))
        assert user is not None and user.role == "manager"
        assert {t.team for t in user.teams} == {"north"}  # g-9 is not in the team map
        assert session.scalar(select(WebSession).where(WebSession.user_id == user.id)) is not None
    [signed] = app.audit("sign-in")
    assert signed.actor == "jane.smith@council.example" and signed.target == "web:oidc"
    assert signed.detail == {"role": "manager", "teams": ["north"]}
    # Sign-out revokes the session on the server: a kept copy of the cookie no longer works.
    app.client.post("/logout", follow_redirects=False)
    replay = app.client.get("/alerts", headers={"Cookie": f"carewatch_session={cookie}"}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/login"


def test_roles_follow_the_claims_at_each_sign_in(app: App, provider: MockProvider) -> None:
    provider.set_user("sam", {"preferred_username": "sam", "roles": ["CareWatch.Board", "CareWatch.Admin"]})
    first = app.sign_in(provider, "sam")
    assert first.status_code == 200 and 'content="0; url=/alerts"' in first.text
    assert app.client.get("/alerts", follow_redirects=False).status_code == 200  # admin wins over board
    provider.set_user("sam", {"preferred_username": "sam", "roles": ["CareWatch.Board"]})
    app.client.cookies.clear()
    back = app.sign_in(provider, "sam")
    assert 'content="0; url=/board"' in back.text
    assert app.client.get("/alerts", follow_redirects=False).status_code == 303  # the board may not read cases
    with session_factory(app.engine)() as session:
        assert session.scalar(select(User.role).where(User.name == "sam")) == "board"


def test_unknown_teams_sign_in_and_the_page_warns(app: App, provider: MockProvider) -> None:
    provider.set_user("ghosted", {"preferred_username": "ghosted", "roles": ["CareWatch.Manager"], "groups": ["g-2"]})
    assert app.sign_in(provider, "ghosted").status_code == 200
    page = app.client.get("/alerts")
    assert page.status_code == 200 and 'id="unknown-teams"' in page.text and "ghost" in page.text
    # One known team and one unknown: the page still names the unknown one.
    provider.set_user("half", {"preferred_username": "half", "roles": ["CareWatch.Manager"], "groups": ["g-1", "g-2"]})
    app.client.cookies.clear()
    assert app.sign_in(provider, "half").status_code == 200
    page = app.client.get("/alerts")
    assert "OIDC1" in page.text and "Some of your teams (ghost) match no team" in page.text
    # A manager whose teams all exist sees no warning.
    provider.set_user("jane", MANAGER)
    app.client.cookies.clear()
    assert app.sign_in(provider, "jane").status_code == 200
    assert 'id="unknown-teams"' not in app.client.get("/alerts").text


def test_no_mapped_role_is_refused_and_audited(app: App, provider: MockProvider) -> None:
    provider.set_user("nobody", {"preferred_username": "nobody", "roles": ["Something.Else"]})
    back = app.sign_in(provider, "nobody")
    assert back.status_code == 401 and "no carewatch role" in back.text
    assert "carewatch_session" not in back.cookies
    [failed] = app.audit("sign-in-failed")
    assert failed.target == "web:oidc" and failed.detail["reason"] == "no-role"


def test_a_tampered_state_is_refused(app: App, provider: MockProvider) -> None:
    provider.set_user("jane", MANAGER)
    location = provider.authorize(app.start(), "jane")
    forged = location.replace("state=", "state=x")
    back = app.come_back(forged)
    assert back.status_code == 401 and "carewatch_session" not in back.cookies
    assert app.audit("sign-in-failed")[-1].detail["reason"] == "state-mismatch"
    # Nor does the real answer work without the browser that started the flow.
    app.client.cookies.clear()
    assert app.come_back(location).status_code == 401
    assert app.audit("sign-in-failed")[-1].detail["reason"] == "no-flow"


def test_a_tampered_nonce_is_refused(app: App, provider: MockProvider) -> None:
    provider.set_user("jane", MANAGER)
    location = provider.authorize(app.start(), "jane")
    state, nonce, verifier = app.client.cookies[FLOW_COOKIE].split(".")
    app.client.cookies.clear()
    app.client.cookies.set(FLOW_COOKIE, f"{state}.{nonce}x.{verifier}", path="/login/oidc")
    back = app.come_back(location)
    assert back.status_code == 401 and "carewatch_session" not in back.cookies
    assert app.audit("sign-in-failed")[-1].detail["reason"].startswith("id-token-")


def test_a_revoked_user_stays_out(app: App, provider: MockProvider) -> None:
    provider.set_user("jane", MANAGER)
    assert app.sign_in(provider, "jane").status_code == 200
    with session_factory(app.engine).begin() as session:
        revoke_user(session, "jane.smith@council.example", datetime.now(UTC))
    assert app.client.get("/alerts", follow_redirects=False).status_code == 303  # the live session stops
    app.client.cookies.clear()
    back = app.sign_in(provider, "jane")
    assert back.status_code == 401 and "revoked" in back.text


def test_failures_lock_the_client_out(postgres_url: str, provider: MockProvider) -> None:
    svc = App(postgres_url, settings_for(provider, auth_max_failures=2))
    try:
        with svc.client:
            provider.set_user("nobody", {"preferred_username": "nobody", "roles": []})
            assert svc.sign_in(provider, "nobody").status_code == 401
            assert svc.sign_in(provider, "nobody").status_code == 401
            assert svc.client.get("/login/oidc", follow_redirects=False).status_code == 429
            assert svc.come_back("/login/oidc/callback?state=a&code=b").status_code == 429
            assert [a.target for a in svc.audit("lockout")] == ["auth"]
    finally:
        svc.engine.dispose()


def test_sessions_from_the_provider_expire(postgres_url: str, provider: MockProvider) -> None:
    svc = App(postgres_url, settings_for(provider, web_session_hours=1 / 3600))  # one second
    try:
        with svc.client:
            provider.set_user("jane", MANAGER)
            assert svc.sign_in(provider, "jane").status_code == 200
            assert svc.client.get("/alerts", follow_redirects=False).status_code == 200
            time.sleep(1.2)
            assert svc.client.get("/alerts", follow_redirects=False).status_code == 303
    finally:
        svc.engine.dispose()


def test_without_oidc_settings_only_tokens_sign_in(postgres_url: str) -> None:
    svc = App(postgres_url, Settings())
    try:
        with svc.client:
            assert "council account" not in svc.client.get("/login").text
            assert svc.client.get("/login/oidc", follow_redirects=False).status_code == 404
    finally:
        svc.engine.dispose()


def test_an_unreachable_provider_is_503_not_an_error(postgres_url: str) -> None:
    from carewatch.broker import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    svc = App(postgres_url, Settings(oidc_issuer=closed, oidc_client_id="carewatch", oidc_http_timeout_seconds=2))
    try:
        with svc.client:
            assert svc.client.get("/login/oidc", follow_redirects=False).status_code == 503
            assert svc.come_back("/login/oidc/callback?state=a&code=b").status_code == 401  # no flow cookie
    finally:
        svc.engine.dispose()


OVERAGE = {
    "_claim_names": {"groups": "src1"},
    "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/oid/getMemberObjects"}},
}


def test_groups_overage_keeps_the_teams_carewatch_has_or_refuses_plainly(app: App, provider: MockProvider) -> None:
    """Entra ID leaves ``groups`` out past 200 groups and names it in ``_claim_names``: a manager carewatch
    knows keeps the teams it has; one it does not know is refused with a message, not an error page."""
    provider.set_user("many", {"preferred_username": "many@council.example", "roles": ["CareWatch.Manager"], **OVERAGE})
    refused = app.sign_in(provider, "many")
    assert refused.status_code == 401 and "more groups than the sign-in can list" in refused.text
    assert "carewatch users teams" in refused.text and "carewatch_session" not in refused.cookies
    [failed] = app.audit("sign-in-failed")
    assert failed.detail["reason"] == "groups-overage"
    with session_factory(app.engine)() as session:
        assert session.scalar(select(User).where(User.name == "many@council.example")) is None

    # Signed in once with the groups listed, the manager's teams are recorded; an overage later keeps them.
    provider.set_user("many", {"preferred_username": "many@council.example", "roles": ["CareWatch.Manager"],
                               "groups": ["g-1"]})  # fmt: skip
    assert app.sign_in(provider, "many").status_code == 200
    app.client.post("/logout", follow_redirects=False)
    app.client.cookies.clear()
    provider.set_user("many", {"preferred_username": "many@council.example", "roles": ["CareWatch.Manager"],
                               "hasgroups": "true"})  # fmt: skip
    back = app.sign_in(provider, "many")
    assert back.status_code == 200, back.text
    page = app.client.get("/alerts")
    assert page.status_code == 200 and "OIDC1" in page.text
    last = app.audit("sign-in")[-1]
    assert last.detail == {"role": "manager", "teams": ["north"], "teams_from": "carewatch (groups overage)"}
    with session_factory(app.engine)() as session:
        user = session.scalar(select(User).where(User.name == "many@council.example"))
        assert user is not None and {t.team for t in user.teams} == {"north"}


def test_groups_overage_on_a_roles_claim_is_refused_plainly(postgres_url: str, provider: MockProvider) -> None:
    settings = settings_for(provider, oidc_roles_claim="groups", oidc_role_map={"g-managers": "manager"})
    svc = App(postgres_url, settings)
    with svc.client:
        provider.set_user("crowd", {"preferred_username": "crowd", **OVERAGE})
        back = svc.sign_in(provider, "crowd")
        assert back.status_code == 401 and "cannot tell your role" in back.text
        assert svc.audit("sign-in-failed")[-1].detail["reason"] == "groups-overage"
    svc.engine.dispose()


def test_signing_out_signs_out_of_the_provider_too(app: App, provider: MockProvider) -> None:
    provider.set_user("jane", MANAGER)
    back = app.sign_in(provider, "jane")
    cookie = back.cookies["carewatch_session"]
    out = app.client.post("/logout", follow_redirects=False)
    assert out.status_code == 200 and "Signed out of carewatch" in out.text
    onward = re.search(r'id="continue" href="([^"]+)"', out.text)
    assert onward is not None
    target = html.unescape(onward.group(1))
    sent = parse_qs(urlsplit(target).query)
    assert target.startswith(f"{provider.url}/oauth2/end_session?")
    assert sent["client_id"] == ["carewatch"] and sent["post_logout_redirect_uri"] == ["http://testserver/login"]
    assert f'content="0; url={onward.group(1)}"' in out.text
    # carewatch's session ended before the browser left
    replay = app.client.get("/alerts", headers={"Cookie": f"carewatch_session={cookie}"}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/login"
    # the provider ends its session and sends the browser back to the sign-in page
    form = httpx.get(target, timeout=10)
    assert form.status_code == 200
    returned = re.search(r'name="redirect_uri" value="([^"]+)"', form.text)
    assert returned is not None and html.unescape(returned.group(1)) == "http://testserver/login"
    confirmed = httpx.post(f"{provider.url}/oauth2/end_session/confirm", data={"redirect_uri": returned.group(1)})
    assert confirmed.status_code in (302, 303) and confirmed.headers["location"] == "http://testserver/login"


def test_a_token_sign_in_signs_out_of_carewatch_only(app: App) -> None:
    signed = app.client.post("/login", data={"token": app.admin_token}, follow_redirects=False)
    assert signed.status_code == 303
    out = app.client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
