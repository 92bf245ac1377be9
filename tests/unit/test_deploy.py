"""Deployment files are valid: Compose (offline), Prometheus config and alerting rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (make test installs it)")
    return found


def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        [_tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_config_and_rules_are_valid() -> None:
    result = subprocess.run(
        [_tool("promtool"), "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerting_rules_pass_their_unit_tests() -> None:
    """deploy/prometheus/rules.test.yml: each alert fires when it should and stays quiet when it should not."""
    result = subprocess.run(
        [_tool("promtool"), "test", "rules", str(ROOT / "deploy/prometheus/rules.test.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_rule_has_a_unit_test() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text(encoding="utf-8"))
    tests = yaml.safe_load((ROOT / "deploy/prometheus/rules.test.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {
        "CarewatchServiceDown",
        "CarewatchIngestRejectsHigh",
        "CarewatchDeadLetters",
        "CarewatchNotificationFailures",
        "CarewatchConsumerLag",
        "CarewatchNoClockTick",
    } <= alerts
    assert alerts == tested == fired, "every alert needs a test case in which it fires"


def test_prometheus_scrapes_every_service_and_the_rules_metrics_listen_beyond_loopback() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"carewatch-ingest", "carewatch-rules", "carewatch-alerts"} <= jobs
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["rules"]["environment"]["CAREWATCH_RULES_METRICS_HOST"] == "0.0.0.0"


def _expositions() -> dict[str, str]:
    """The /metrics text of each service, from the registries the services build."""
    from prometheus_client import CollectorRegistry, generate_latest
    from sqlalchemy import create_engine

    from carewatch.db import migrate
    from services.alerts.consumer import ConsumerStats
    from services.alerts.metrics import build_registry
    from services.board.metrics import BoardCollector
    from services.ingest.metrics import IngestMetrics
    from services.rules.stream.metrics import RulesMetrics

    rules_registry = CollectorRegistry()
    rules = RulesMetrics(rules_registry)
    rules.observe_lag(0, 10, 3)
    rules.last_tick.set(1.7e9)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/alerts.sqlite"
        migrate(url)
        engine = create_engine(url)
        try:
            registry = build_registry(engine, ConsumerStats(lag={0: 4}))
            registry.register(BoardCollector(lambda: None))  # the alerts service mounts the board's gauges
            alerts = generate_latest(registry).decode()
        finally:
            engine.dispose()
    return {
        "ingest": generate_latest(IngestMetrics().registry).decode(),
        "rules": generate_latest(rules_registry).decode(),
        "alerts": alerts,
    }


def test_metric_names_pass_promtool_and_every_service_exports_process_metrics() -> None:
    for service, text in _expositions().items():
        result = subprocess.run(
            [_tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{service}: {result.stdout}{result.stderr}"
        assert result.stdout.strip() == result.stderr.strip() == "", f"{service}: promtool reported lint problems"
        if service != "rules":  # the rules worker serves the default registry, which has them built in
            assert "process_resident_memory_bytes" in text, service
            assert "python_info" in text, service


def test_alert_rules_and_dashboard_read_metrics_that_exist() -> None:
    exported = "\n".join(_expositions().values())
    names = set(re.findall(r"^# TYPE (carewatch_\w+) ", exported, re.MULTILINE))  # counters without _total
    wanted: set[str] = set()
    for path in (ROOT / "deploy/prometheus/rules.yml", ROOT / "deploy/grafana/dashboards/carewatch.json"):
        wanted |= set(re.findall(r"carewatch_[a-z0-9_]+", path.read_text(encoding="utf-8")))
    wanted = {re.sub(r"_(bucket|sum|count)$", "", name) for name in wanted}
    unknown = sorted(name for name in wanted if name not in names and name.removesuffix("_total") not in names)
    assert not unknown, f"not exported by any service: {unknown}"


def test_dashboard_shows_lag_dead_letters_notifications_and_the_last_tick() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/carewatch.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for metric in (
        "carewatch_consumer_lag_records",
        "carewatch_ingest_events_rejected_total",
        "carewatch_alerts_notification_failures_total",
        "carewatch_alerts_notifications_pending",
        "carewatch_rules_last_tick_timestamp_seconds",
    ):
        assert any(metric in expr for expr in exprs), metric
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_container_user_owns_its_data_directory() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text(encoding="utf-8")
    data_dir = re.search(r"CAREWATCH_DATA_DIR=(\S+)", dockerfile)
    assert data_dir is not None, "the image sets CAREWATCH_DATA_DIR"
    by_user = r"(chown [^\n]*carewatch:carewatch|install -d -o carewatch -g carewatch)"
    owned = rf"{by_user}[^\n]*{re.escape(data_dir.group(1))}"
    assert re.search(owned, dockerfile), "the data directory is created for the service user"
    assert re.search(r"^USER carewatch$", dockerfile, re.MULTILINE)
