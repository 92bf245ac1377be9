"""The managers' page in headless Chromium on a real uvicorn and PostgreSQL: sign in, read, acknowledge."""

from __future__ import annotations

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
from schemas.alerts import AlertTransition, EvidenceEvent, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user
from services.alerts.store import apply_transitions
from services.alerts.web import today

pytestmark = pytest.mark.e2e


def seed(url: str) -> str:
    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    on = today()

    def raised(child: str, rule: str, severity: str, age: int, team: str, summary: str) -> AlertTransition:
        return AlertTransition(
            fingerprint=fingerprint(rule, child),
            rule=rule,
            child_id=child,
            state="raised",
            at=on - timedelta(days=age),
            severity=severity,  # type: ignore[arg-type]
            summary=summary,
            evidence=(EvidenceEvent(event_id=f"ev-{child}-1", type="care.started", occurred_at="2024-11-04"),),
            dates={"deadline": on - timedelta(days=age)},
            team=team,
        )

    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [
                raised(
                    "C-7Q2M",
                    "visit-overdue",
                    "medium",
                    5,
                    "north",
                    "No statutory visit in the last six weeks.",
                ),
                raised("C-19XK", "pep-overdue", "high", 12, "north", "No initial PEP within 20 working days."),
                raised("C-33LB", "sdq-concern", "low", 3, "north", "Latest SDQ score is 19 (borderline 17+)."),
                raised("C-55ZZ", "pep-overdue", "high", 30, "south", "Another team's child."),
            ],
            now,
        )
        token = add_user(session, "sam.manager", "manager", ["north"], now)
    engine.dispose()
    return token


@pytest.fixture
def server(postgres_url: str) -> Iterator[tuple[str, str]]:
    token = seed(postgres_url)
    engine = make_engine(postgres_url)
    port = free_port()
    app = create_app(Settings(), engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_manager_signs_in_sees_alerts_and_acknowledges_one(
    server: tuple[str, str], browser: Browser, artefacts: Path
) -> None:
    base, token = server
    context = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    # The pages must work under their Content-Security-Policy: Chromium reports every refusal on the console.
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(f"{base}/login")
    page.get_by_label("Access token").fill("cw_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/alerts")

    cookie = next(c for c in context.cookies() if c["name"] == "carewatch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    cards = page.locator("article.alert")
    expect(cards).to_have_count(3)  # only the north team's
    expect(cards.nth(0)).to_contain_text("PEP overdue")  # high first
    expect(cards.nth(1)).to_contain_text("Visit overdue")  # then medium
    expect(cards.nth(2)).to_contain_text("SDQ concern")
    expect(cards.nth(0)).to_contain_text("12 days overdue")
    expect(page.locator("body")).not_to_contain_text("C-55ZZ")

    first = cards.nth(0)
    alert_id = first.get_attribute("data-alert-id")
    first.locator("summary", has_text="Acknowledge").click()
    first.get_by_label("What is being done?").fill("PEP meeting booked with the virtual school")
    first.get_by_role("button", name=f"Acknowledge alert {alert_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Alert {alert_id} acknowledged.")
    acknowledged = page.locator(f"article[data-alert-id='{alert_id}']")
    expect(acknowledged.locator("[data-state]")).to_have_attribute("data-state", "acknowledged")
    expect(acknowledged).to_contain_text("PEP meeting booked")
    page.screenshot(path=str(artefacts / "manager-page.png"), full_page=True)

    page.get_by_role("link", name="PEP overdue").click()
    expect(page.locator("ol.history")).to_contain_text("Acknowledged by sam.manager")

    # A forged form post (wrong anti-forgery value) is refused and changes nothing.
    forged = page.request.post(
        f"{base}/alerts/{alert_id}/close",
        form={"reason": "duplicate", "note": "", "csrf": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    page.reload()
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "acknowledged")
    assert (artefacts / "manager-page.png").stat().st_size > 10_000
    assert refused == []
