"""`carewatch demo --once --months 12` on the real embedded broker, end to end.

While the services still run: the alerts are in the database, the board summary has figures, /metrics passes
promtool, and the manager page renders the demo manager's alerts in headless Chromium.
"""

from __future__ import annotations

import csv
import subprocess
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from carewatch.broker import free_port
from carewatch.db import make_engine
from carewatch.settings import Settings
from services.alerts.models import Alert
from services.demo.run import DemoResult, demo_settings, run_demo

pytestmark = pytest.mark.e2e


def test_demo_once_runs_every_service_end_to_end(tmp_path: Path, browser: Browser, artefacts: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        web_port=free_port(),
        ingest_port=free_port(),
        rules_metrics_port=free_port(),
        topic_partitions=4,
    )
    seen: dict[str, object] = {}

    def inspect(result: DemoResult) -> None:
        web = result.urls["manager page"].rstrip("/")
        scrape = httpx.get(f"{web}/metrics", timeout=10).text
        seen["promtool"] = subprocess.run(
            ["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True, check=False
        )
        seen["scrape"] = scrape
        summary = httpx.get(
            f"{web}/v1/board/summary",
            params={"as_of": "2025-06-30"},
            headers={"Authorization": f"Bearer {result.tokens['board']}"},
            timeout=10,
        )
        seen["summary"] = summary.json()
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{web}/login")
        page.get_by_label("Access token").fill(result.tokens["manager"])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{web}/alerts")
        seen["cards"] = page.locator("article.alert").count()
        page.screenshot(path=str(artefacts / "demo-manager-page.png"), full_page=False)
        page.goto(f"{web}/board")
        seen["board_page"] = page.title()
        page.set_viewport_size({"width": 1200, "height": 1300})
        page.screenshot(path=str(artefacts / "demo-board-pack.png"), full_page=False)

    result = run_demo(
        settings,
        once=True,
        months=12,
        children=60,
        seed=3,
        until=date(2025, 6, 30),
        echo=lambda _: None,
        while_serving=inspect,
    )

    engine = make_engine(settings.database.sqlalchemy_url())
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(Alert))
        authority = connection.execute(select(Alert.rule, Alert.child_id).where(Alert.scope == "authority")).all()
        # Return interviews missing since long before the end would lead the managers' urgency sort.
        stale_rhi = connection.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.rule == "rhi-overdue", Alert.state.in_(("raised", "acknowledged")))
            .where(Alert.raised_at < date(2025, 6, 30) - timedelta(days=182))
        )
    engine.dispose()
    # The turn's authority alert came the live way: the board feed published it, the alerts service stored it.
    assert result.authority_alerts and len(authority) == len(result.authority_alerts)
    assert {rule for rule, _ in authority} == {"spc-entered-care-month"}
    assert all(child is None for _, child in authority)
    assert stored and stored == sum(result.alerts_by_rule.values())
    assert result.events_rejected > 0 and result.events_accepted > 10 * result.events_rejected
    promtool = seen["promtool"]
    assert isinstance(promtool, subprocess.CompletedProcess) and promtool.returncode == 0, promtool.stdout
    assert "carewatch_alerts_open" in str(seen["scrape"])
    indicators = seen["summary"]["indicators"]  # type: ignore[index]
    assert indicators["cla-count"]["value"] >= 30
    assert any(not figure["suppressed"] and figure["value"] is not None for figure in indicators.values())
    assert isinstance(seen["cards"], int) and seen["cards"] > 0
    assert "board" in str(seen["board_page"]).lower()

    # The board pack the demo wrote: rates per 10,000 (the demo's population), RAG from the example targets,
    # and no ramp-up artefact: each 12-month count on the first trend date is near the one on the last.
    with result.pack["csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    dates = sorted({row["as_of"] for row in rows})
    assert len(dates) == 13, dates
    latest = {row["indicator"]: row for row in rows if row["as_of"] == dates[-1]}
    population = demo_settings(settings, 60).board.population_0_17
    assert population is not None
    rate, count = float(latest["cla-rate-per-10k"]["value"]), float(latest["cla-count"]["value"])
    assert rate == pytest.approx(count * 10_000 / population, abs=0.05)
    assert {row["rag"] for row in latest.values()} & {"red", "amber", "green"}
    for measure in ("entered-care-12m", "left-care-12m"):
        first, last = (float(row["value"]) for row in rows if row["indicator"] == measure and row["as_of"] in
                       (dates[0], dates[-1]))  # fmt: skip
        assert last > 0 and 0.5 <= first / last <= 2.0, (measure, first, last)
    assert "EXAMPLES" in result.pack["html"].read_text(encoding="utf-8")

    # No false story in the synthetic history: each measure is in a plausible band (reference §3.1, §3.7;
    # wide, for 60 children) on the first month shown as on the last, the leaving rate near the national
    # 0.42, and open rhi-overdue alerts are recent.
    def value(measure: str, on: str) -> float:
        found = [row["value"] for row in rows if row["indicator"] == measure and row["as_of"] == on]
        assert found and found[0] != "", (measure, on, found)
        return float(found[0])

    bands = {"care-leavers-in-touch": (70, 100), "care-leavers-eet-19-21": (25, 85),
             "care-leavers-suitable-accommodation-19-21": (60, 100), "sdq-concern": (15, 60)}  # fmt: skip
    for on in (dates[0], dates[-1]):
        for measure, (low, high) in bands.items():
            assert low <= value(measure, on) <= high, (measure, on, value(measure, on))
        leaving = value("left-care-12m", on) / value("cla-count", on)
        assert 0.25 <= leaving <= 0.6, (on, leaving)
    assert stale_rhi is not None and stale_rhi <= 2, stale_rhi
