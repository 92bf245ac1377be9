"""Signing in with a council account in headless Chromium, through a real OpenID Connect provider's page
(oidc-provider-mock), on a real uvicorn and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.store import apply_transitions
from services.alerts.web import today
from tests.support.oidc_mock import MockProvider, mock_provider

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider() -> Iterator[MockProvider]:
    with mock_provider() as running:
        running.set_user(
            "kim",
            {"preferred_username": "kim.lee@council.example", "roles": ["CareWatch.Manager"], "groups": ["g-north"]},
        )
        yield running


@pytest.fixture
def base(postgres_url: str, provider: MockProvider) -> Iterator[str]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    on = today()
    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [
                AlertTransition(
                    fingerprint=fingerprint("pep-overdue", "C-OIDC"),
                    rule="pep-overdue",
                    child_id="C-OIDC",
                    state="raised",
                    at=on - timedelta(days=4),
                    severity="high",
                    summary="No PEP",
                    dates={"deadline": on - timedelta(days=4)},
                    team="north",
                )
            ],
            datetime.now(UTC),
        )
    settings = Settings(
        oidc_issuer=provider.url,
        oidc_client_id="carewatch",
        oidc_client_secret="not-so-secret",
        oidc_role_map={"CareWatch.Manager": "manager"},
        oidc_team_map={"g-north": "north"},
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_manager_signs_in_with_a_council_account(
    base: str, provider: MockProvider, browser: Browser, artefacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(f"{base}/login")
    page.screenshot(path=str(artefacts / "sign-in-oidc.png"))
    page.get_by_role("link", name="Sign in with your council account").click()

    # The provider's own page: approve as the user "kim".
    assert page.url.startswith(f"{provider.url}/oauth2/authorize?")
    page.get_by_placeholder("sub").fill("kim")
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(f"{base}/alerts")
    expect(page.locator("header .who")).to_contain_text("kim.lee@council.example · north")
    expect(page.locator("section.child")).to_have_count(1)
    cookie = next(c for c in context.cookies() if c["name"] == "carewatch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"].startswith("cws_")
    assert not [c for c in context.cookies() if c["name"] == "carewatch_oidc"]  # the flow's cookie is gone

    # Signing out ends the carewatch session and the provider's (its end-session page), then comes back.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(re.escape(f"{provider.url}/oauth2/end_session?")))
    assert not [c for c in context.cookies() if c["name"] == "carewatch_oidc_session"]
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(f"{base}/login")
    assert refused == []
