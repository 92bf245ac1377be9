"""The managers' page in headless Chromium on a real uvicorn and PostgreSQL: sign in, read, acknowledge."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, EvidenceEvent, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import add_user
from services.alerts.store import apply_transitions
from services.alerts.web import today
from tests.e2e.accessibility import serious_violations

pytestmark = pytest.mark.e2e


def seed(url: str) -> dict[str, str]:
    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    on = today()

    def raised(
        child: str,
        rule: str,
        severity: str,
        age: int,
        team: str | None,
        summary: str,
        evidence: tuple[EvidenceEvent, ...] = (),
        deadline: bool = True,
    ) -> AlertTransition:
        return AlertTransition(
            fingerprint=fingerprint(rule, child),
            rule=rule,
            child_id=child,
            state="raised",
            at=on - timedelta(days=age),
            severity=severity,  # type: ignore[arg-type]
            summary=summary,
            evidence=evidence
            or (EvidenceEvent(event_id=f"ev-{child}-1", type="care.started", occurred_at="2024-11-04"),),
            dates={"deadline": on - timedelta(days=age)} if deadline else {},
            team=team,
        )

    placements = (
        EvidenceEvent(event_id="pl-1", type="placement.started", occurred_at="2026-03-02"),
        EvidenceEvent(event_id="pl-2", type="placement.started", occurred_at="2026-06-15"),
    )
    third = (*placements, EvidenceEvent(event_id="pl-3", type="placement.started", occurred_at="2026-09-18"))
    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [
                raised("C-7Q2M", "visit-overdue", "medium", 5, "north", "No statutory visit in the last six weeks."),
                raised("C-19XK", "pep-overdue", "high", 12, "north", "No initial PEP within 20 working days."),
                raised("C-33LB", "sdq-concern", "low", 3, "north", "Latest SDQ score is 19 (concern at 17 or more)."),
                raised("C-55ZZ", "pep-overdue", "high", 30, "south", "Another team's child."),
                raised(
                    "C-7Q2M",
                    "placement-instability",
                    "low",
                    40,
                    "north",
                    "Child C-7Q2M has had 2 placements starting in the last 365 days.",
                    placements,
                    deadline=False,
                ),
                raised(
                    "U-0001",
                    "under16-unregulated",
                    "high",
                    2,
                    None,
                    "Child U-0001, aged under 16, is in a placement of type K2, which is not allowed under 16.",
                ),
                *[
                    raised(f"C-F{i:02d}", "dental-overdue", "low", 1, "north", "Dental check overdue.")
                    for i in range(30)
                ],
            ],
            now,
        )
    with session_factory(engine).begin() as session:
        apply_transitions(
            session,
            [
                raised(
                    "C-7Q2M",
                    "placement-instability",
                    "high",
                    10,
                    "north",
                    "Child C-7Q2M has had 3 placements starting in the last 365 days.",
                    third,
                    deadline=False,
                )
            ],
            now,
        )
        tokens = {
            "north": add_user(session, "sam.manager", "manager", ["north"], now),
            "duty": add_user(session, "duty.manager", "manager", ["south"], now),
        }
    engine.dispose()
    return tokens


@pytest.fixture
def server(postgres_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = seed(postgres_url)
    engine = make_engine(postgres_url)
    port = free_port()
    settings = Settings(
        alerts_unallocated_managers=["duty.manager"],
        alerts_case_record_url="https://cms.example.gov.uk/person/{child_id}",
    )
    app = create_app(settings, engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def sign_in(browser: Browser, base: str, token: str, **options: Any) -> Page:
    context = browser.new_context(**{"viewport": {"width": 1100, "height": 900}, **options})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/alerts")
    return page


def test_manager_signs_in_sees_alerts_and_acknowledges_one(
    server: tuple[str, dict[str, str]], browser: Browser, artefacts: Path
) -> None:
    base, tokens = server
    token = tokens["north"]
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

    children = page.locator("section.child")
    expect(children).to_have_count(25)  # one page of children
    expect(children.nth(0)).to_have_attribute("data-child", "C-19XK")  # most days past its deadline
    expect(children.nth(1)).to_have_attribute("data-child", "C-7Q2M")
    expect(children.nth(2)).to_have_attribute("data-child", "C-33LB")
    expect(children.nth(1).locator("[data-alert-count]")).to_have_text("2")  # grouped under the child
    cards = page.locator("article.alert")
    expect(cards.nth(0)).to_contain_text("Personal education plan (PEP) overdue")
    expect(cards.nth(0)).to_contain_text("12 days overdue")
    expect(page.locator("body")).not_to_contain_text("C-55ZZ")
    expect(page.locator("[data-count=high]")).to_have_text("2 high")  # counted over all 34, not the page
    expect(page.locator("[data-count=low]")).to_have_text("31 low")

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

    page.get_by_role("link", name="Personal education plan (PEP) overdue").click()
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


def test_paging_filters_and_search_are_shareable_urls(server: tuple[str, dict[str, str]], browser: Browser) -> None:
    base, tokens = server
    page = sign_in(browser, base, tokens["north"], java_script_enabled=False)
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2")
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(f"{base}/alerts?page=2")
    expect(page.locator("section.child")).to_have_count(8)  # 33 north children: 25 + 8
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")

    page.get_by_label("Severity").select_option("high")
    page.get_by_label("Order").select_option("oldest")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"severity=high.*sort=oldest"))
    expect(page.locator("section.child")).to_have_count(2)
    expect(page.locator("section.child").nth(0)).to_have_attribute("data-child", "C-7Q2M")  # raised 40 days ago
    expect(page.locator("[data-total]")).to_contain_text("2 alerts for 2 children matching the filters")
    shared = page.url
    other = sign_in(browser, base, tokens["north"], java_script_enabled=False)
    other.goto(shared)
    expect(other.locator("section.child")).to_have_count(2)

    page.goto(f"{base}/alerts")
    page.get_by_label("Child id").fill("C-33LB")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"child=C-33LB"))
    expect(page.locator("section.child")).to_have_count(1)
    page.goto(f"{base}/alerts?overdue=4")
    expect(page.locator("section.child")).to_have_count(2)  # 12 and 5 days past deadline
    page.goto(f"{base}/alerts?rule=nothing-like-this")
    expect(page.locator("#empty")).to_contain_text("No alerts match these filters")


def test_child_view_tells_changes_and_what_to_do(
    server: tuple[str, dict[str, str]], browser: Browser, artefacts: Path
) -> None:
    base, tokens = server
    page = sign_in(browser, base, tokens["north"])
    page.locator("section.child[data-child='C-7Q2M'] h2 a").click()
    expect(page).to_have_url(f"{base}/children/C-7Q2M")
    expect(page.locator("#child-team")).to_have_text("north")
    expect(page.locator("article.alert")).to_have_count(2)
    events = page.locator("ol.events")
    expect(events).to_contain_text("18 September 2026 Placement started")
    expect(events).to_contain_text("Came into care")
    expect(page.get_by_role("link", name="Case record")).to_have_attribute(
        "href", "https://cms.example.gov.uk/person/C-7Q2M"
    )
    page.screenshot(path=str(artefacts / "child-view.png"), full_page=True)
    page.get_by_role("link", name="Placement instability").click()
    history = page.locator("ol.history")
    expect(history).to_contain_text("Severity raised from low to high")
    expect(history).to_contain_text("3 placements starting in the last 365 days")
    guide = page.locator("details.what-next")
    expect(guide).to_contain_text("three or more placements in a year")
    expect(guide).to_contain_text("What clears it")
    expect(guide).to_contain_text("the head of service is told")
    expect(page.locator(".facts")).to_contain_text("High since")


def test_unallocated_queue_reaches_the_named_manager(server: tuple[str, dict[str, str]], browser: Browser) -> None:
    base, tokens = server
    north = sign_in(browser, base, tokens["north"])
    expect(north.locator("#unallocated-note")).to_contain_text("1 alert is unallocated")
    expect(north.locator("#unallocated-note a")).to_have_count(0)
    north.goto(f"{base}/alerts?queue=unallocated")  # not theirs: their own alerts instead
    expect(north.locator("section.child[data-child='U-0001']")).to_have_count(0)

    north.goto(f"{base}/children/C-19XK")
    expect(north.locator("#nav-unallocated")).to_have_text("1 unallocated")  # on every manager page

    duty = sign_in(browser, base, tokens["duty"])
    duty.get_by_role("link", name="See the unallocated queue").click()
    expect(duty.get_by_role("heading", level=1)).to_have_text("Unallocated alerts")
    card = duty.locator("section.child[data-child='U-0001'] article.alert")
    expect(card).to_contain_text("Under 16 in an unregulated placement")
    expect(card).to_contain_text("K2 (")  # the code with its meaning
    expect(card).to_contain_text("none (unallocated)")


@pytest.mark.parametrize("width", [1100, 390])
def test_pages_pass_axe_and_fit_a_phone(server: tuple[str, dict[str, str]], browser: Browser, width: int) -> None:
    base, tokens = server
    page = sign_in(browser, base, tokens["duty"], viewport={"width": width, "height": 900})
    found = {}
    for path in ("/alerts", "/alerts?queue=unallocated", "/children/U-0001", "/alerts?severity=low"):
        page.goto(base + path)
        found[path] = serious_violations(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px wide"
    page.goto(f"{base}/alerts")
    first = page.locator("article.alert").first.get_attribute("data-alert-id")
    page.goto(f"{base}/alerts/{first}")
    found["detail"] = serious_violations(page)
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    found["/login"] = serious_violations(page)
    assert {path: v for path, v in found.items() if v} == {}


def test_api_docs_render_without_the_internet(server: tuple[str, dict[str, str]], browser: Browser) -> None:
    base, _ = server
    context = browser.new_context()
    outside: list[str] = []
    context.route(
        re.compile(r"^(?!http://127\.0\.0\.1:).*"),
        lambda route: (outside.append(f"{route.request.resource_type} {route.request.url}"), route.abort()),
    )
    page = context.new_page()
    page.goto(f"{base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("carewatch alerts")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.goto(f"{base}/redoc")
    expect(page.locator("h1").first).to_contain_text("carewatch alerts")
    # Everything the pages need is local; ReDoc's "by Redocly" footer logo is the one image it asks a CDN for.
    assert [u for u in outside if not u.startswith("image ")] == []
    context.close()
