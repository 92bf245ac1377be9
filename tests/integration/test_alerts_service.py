"""The whole alerts service as deployed (``serve``): topic → SQL → webhook digest, API and metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.auth import add_user
from tests.integration.test_alerts_consumer import publish
from tests.integration.test_alerts_notify import Receiver

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_consumes_notifies_and_answers(fresh_broker: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        token = add_user(session, "ops", "admin", [], datetime.now(UTC))
    engine.dispose()
    receiver = Receiver()
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"default: [{{webhook: '{receiver.url}'}}]\n", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": url,
        "CAREWATCH_KAFKA_BOOTSTRAP": fresh_broker,
        "CAREWATCH_TOPIC_PARTITIONS": "4",
        "CAREWATCH_WEB_PORT": str(port),
        "CAREWATCH_ALERTS_ROUTES": str(routes),
        "CAREWATCH_NOTIFY_GROUP_WAIT_SECONDS": "0",
        "CAREWATCH_NOTIFY_TICK_SECONDS": "0.2",
        "CAREWATCH_PUBLIC_URL": "https://carewatch.example.org",
    }
    code = "from carewatch.settings import Settings; from services.alerts.cli import serve; serve(Settings())"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "the web app")
        items = [
            AlertTransition(
                fingerprint=fingerprint(rule, "S1"),
                rule=rule,
                child_id="S1",
                state="raised",
                at=date(2025, 3, 3),
                severity="medium",
                summary=f"{rule} for S1",
                team="west",
            )
            for rule in ("pep-overdue", "dental-overdue")
        ]
        publish(fresh_broker, items)
        wait_for(lambda: httpx.get(f"{base}/v1/alerts", headers=headers).json()["total"] == 2, "two alerts")
        wait_for(lambda: len(receiver.bodies) == 1, "one webhook digest")
        assert {a["rule"] for a in receiver.bodies[0]["alerts"]} == {"pep-overdue", "dental-overdue"}
        assert receiver.bodies[0]["alerts"][0]["url"].startswith("https://carewatch.example.org/alerts/")
        metrics = httpx.get(f"{base}/metrics").text
        assert "carewatch_alerts_transitions_consumed_total 2.0" in metrics
        assert 'carewatch_alerts_notifications_sent_total{channel="webhook"} 1.0' in metrics
        assert "process_resident_memory_bytes" in metrics
        wait_for(
            lambda: (
                'carewatch_consumer_lag_records{consumer="alerts",partition="0"} 0.0'
                in httpx.get(f"{base}/metrics").text
            ),
            "the consumer's lag",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            receiver.close()
    assert returncode == 0
