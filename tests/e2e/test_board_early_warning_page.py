"""The served board page in headless Chromium: a board-data reader signs in and sees the early-warning SPC
chart with its reading, the open authority alert it raised, the return-health panel and the Annex A link, under
the page's CSP (no script)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from services.alerts.app import BOARD_PACK_CSP, create_app
from services.alerts.auth import BOARD_DATA_ROLES, add_user, audit_writer, require_board_data, require_board_reader
from services.alerts.store import apply_transitions
from services.archive import store as archive
from services.board import store
from services.board.early_warning import authority_alerts
from services.board.replay import snapshots
from services.board.web import DataAccess, build_router
from tests.e2e.accessibility import serious_violations
from tests.unit.test_board_early_warning import care_starts

pytestmark = pytest.mark.e2e
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
AS_OF = date(2025, 2, 28)


@pytest.fixture
def server(postgres_url: str) -> Iterator[tuple[str, str]]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    with session_factory(engine).begin() as session:
        token = add_user(session, "analyst", "board-data", [], NOW)
    events = care_starts()  # a rise beyond the upper process limit in February 2025
    archive.append(engine, events, NOW)
    store.save(engine, snapshots(events, [date(2025, 1, 31), AS_OF]))
    with session_factory(engine).begin() as session:  # as the alerts consumer stores the board feed's reading
        apply_transitions(session, authority_alerts(events, AS_OF, population=None), NOW)
    rules = (("440", 2, "Participation code PN0 is for children under 4."),)
    store.save_return_health(engine, store.ReturnHealth(NOW, AS_OF, 2025, True, "", rules))
    settings = Settings(board_authority_name="Testshire")
    access = DataAccess(require_board_data, frozenset(BOARD_DATA_ROLES), audit_writer(engine))
    app = create_app(settings, engine, extra_routers=[build_router(engine, settings, require_board_reader, access)])
    port = free_port()
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


def test_board_page_shows_the_spc_chart_with_its_reading(
    server: tuple[str, str], browser: Browser, artefacts: Path
) -> None:
    base, token = server
    context = browser.new_context(viewport={"width": 1200, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.goto(f"{base}/login")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/board")
    response = page.goto(f"{base}/board")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == BOARD_PACK_CSP
    section = page.get_by_role("region", name="Early warning: statistical process control")
    expect(section).to_be_visible()
    chart = page.locator('figure.spc[data-indicator="entered-care-month"]')
    expect(chart).to_be_visible()
    expect(chart.locator("svg")).to_be_visible()
    box = chart.locator("svg").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80  # drawn, not collapsed
    expect(chart.locator(".spc-reading")).to_have_text(
        "Special cause variation, concerning: above the upper process limit."
    )
    expect(chart.locator(".chart-text")).to_contain_text("Feb 2025 (6)")
    alerts = page.locator(".authority-alerts")
    expect(alerts.get_by_role("heading", name="Open authority alerts")).to_be_visible()
    expect(alerts).to_contain_text("Children starting to be looked after")
    expect(page.locator("#return-health-total")).to_contain_text("Records that would fail the DfE checks today: 2")
    expect(page.get_by_role("link", name="Ofsted Annex A lists (XLSX, child-level, audited)")).to_be_visible()
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "board-early-warning.png"), full_page=True)
    assert violations == []
    context.close()


def test_board_page_with_its_charts_passes_axe(server: tuple[str, str], browser: Browser) -> None:
    base, token = server
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{base}/login")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/board")
    expect(page.locator("figure.spc").first).to_be_visible()
    assert serious_violations(page) == []
