"""Soak: the whole pipeline at a steady rate for a long time; RSS, lag and latency over time. Prints figures only.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 20] [--every 60] [--children 1500] [--postgres URL]

The embedded broker, the ingest, rules and alerts services (as ``carewatch demo`` runs them) and a database
(a temporary SQLite file, or a new database on ``--postgres``). A synthetic authority's history is posted to
ingest day by day at ``--rate`` events per second, with each day's clock tick after its events; every
``--every`` seconds one probe (a new child's SDQ score of 30, which raises ``sdq-concern`` at once) measures
the latency from the POST to the alert row in the database, and a sample row is printed: each process's
resident memory, the rules worker's lag (events accepted by ingest but not yet processed) and the alerts
consumer's lag (transitions published but not stored).

The anchor is the run's own first sample after warm-up: flat is the goal, so the figures to read are the
last window against the first (memory growth per 10 minutes, lag and latency at the end against the start).
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch import broker
from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.db import make_engine, migrate
from services.alerts.models import Alert
from services.demo.generator import generate
from services.demo.run import _day, _scrape
from services.demo.supervisor import ServiceProcess
from services.rules.stream.clock import send_ticks

PARTITIONS = 8
START = date(2022, 4, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


@dataclass
class Sample:
    minute: float
    accepted: int
    rules_lag: float
    alerts_lag: float
    rss: dict[str, float]
    latency_ms: float | None


@dataclass
class Run:
    accepted: int = 0
    rejected: int = 0
    days: int = 0
    samples: list[Sample] = field(default_factory=list)


def split_history(
    children: int, months: int, seed: int
) -> tuple[list[dict[str, Any]], list[tuple[date, list[dict[str, Any]]]]]:
    """The generator's lead-in (events before ``START``, posted in bulk before the clock starts) and the
    days from ``START`` on, each with its events."""
    lead_in: list[dict[str, Any]] = []
    by_day: dict[date, list[dict[str, Any]]] = {}
    for record in generate(seed=seed, children=children, months=months, start=START):
        on = _day(record)
        if on < START:
            lead_in.append(record)
        else:
            by_day.setdefault(on, []).append(record)
    days = [
        (START + timedelta(days=n), by_day.get(START + timedelta(days=n), []))
        for n in range((max(by_day) - START).days + 1)
    ]
    return lead_in, days


def post(client: httpx.Client, records: list[dict[str, Any]], run: Run) -> None:
    if not records:
        return
    body = b"\n".join(orjson.dumps(record) for record in records)
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
    response.raise_for_status()
    reply = response.json()
    run.accepted += reply["accepted"]
    run.rejected += reply["rejected"]


def probe(client: httpx.Client, database_url: str, day: date, run: Run, timeout: float = 120.0) -> float | None:
    """Milliseconds from posting a probe child's SDQ of 30 to its ``sdq-concern`` alert row."""
    child = f"soakprobe-{uuid.uuid4().hex[:10]}"
    on = day.isoformat()
    born = (day - timedelta(days=12 * 365)).isoformat()
    post(client, [{"event_id": f"{child}-care", "type": "care.started", "child_id": child, "occurred_at": on,
                   "date_of_birth": born, "sex": "U", "legal_status": "C2"}], run)  # fmt: skip
    engine = create_engine(database_url)
    try:
        sent = time.monotonic()
        post(client, [{"event_id": f"{child}-sdq", "type": "sdq.recorded", "child_id": child, "occurred_at": on,
                       "score": 30}], run)  # fmt: skip
        query = select(Alert.id).where(Alert.child_id == child, Alert.rule == "sdq-concern")
        while time.monotonic() - sent < timeout:
            with engine.connect() as connection:
                if connection.execute(query).first() is not None:
                    return (time.monotonic() - sent) * 1000
            time.sleep(0.02)
        return None
    finally:
        engine.dispose()


def postgres_database(admin_url: str) -> str:
    name = f"carewatch_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{admin_url.rpartition('/')[0]}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second posted to ingest")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples (and probes)")
    parser.add_argument("--children", type=int, default=1500)
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (default: a temporary SQLite file)")
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the services and the broker are stopped, not orphaned.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    lead_in, history = split_history(args.children, args.months, args.seed)
    run = Run()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as embedded:
        ensure_topics(embedded.bootstrap, PARTITIONS)
        database_url = postgres_database(args.postgres) if args.postgres else f"sqlite:///{tmp}/soak.sqlite"
        migrate(database_url)
        make_engine(database_url).dispose()
        token = secrets.token_urlsafe(24)
        ports = {"ingest": free_port(), "web": free_port(), "rules": free_port()}
        env = {
            "CAREWATCH_KAFKA_BOOTSTRAP": embedded.bootstrap,
            "CAREWATCH_DATABASE_URL": database_url,
            "CAREWATCH_TOPIC_PARTITIONS": str(PARTITIONS),
            "CAREWATCH_INGEST_TOKENS": json.dumps([token]),
            "CAREWATCH_INGEST_PORT": str(ports["ingest"]),
            "CAREWATCH_WEB_PORT": str(ports["web"]),
            "CAREWATCH_RULES_METRICS_PORT": str(ports["rules"]),
            "CAREWATCH_TICK_SCHEDULER": "false",
            "CAREWATCH_ARCHIVE_REPUBLISH_ON_START": "false",
            "CAREWATCH_DATA_DIR": f"{tmp}/data",
        }
        services = {
            name: ServiceProcess(name, env, Path(tmp) / f"{name}.log").start() for name in ("rules", "alerts", "ingest")
        }
        ingest_url = f"http://127.0.0.1:{ports['ingest']}"
        rules_metrics = f"http://127.0.0.1:{ports['rules']}/metrics"
        alerts_metrics = f"http://127.0.0.1:{ports['web']}/metrics"
        producer = broker.producer(embedded.bootstrap, client_id="carewatch-soak", linger_ms=2)
        try:
            services["ingest"].wait_for_http(f"{ingest_url}/healthz")
            services["alerts"].wait_for_http(f"http://127.0.0.1:{ports['web']}/healthz")
            services["rules"].wait_for_http(rules_metrics, timeout=90, marker="carewatch_rules_")
            pids = {name: service.process.pid if service.process else None for name, service in services.items()}
            pids["broker"] = embedded.process.pid if embedded.process else None
            print(f"soak: {args.minutes:g} min at {args.rate:g} events/s, a sample every {args.every:g}s, "
                  f"database {'PostgreSQL' if args.postgres else 'SQLite'}")  # fmt: skip
            with httpx.Client(base_url=ingest_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                for offset in range(0, len(lead_in), 2000):
                    post(client, lead_in[offset : offset + 2000], run)
                wait_processed(rules_metrics, run.accepted)
                print(f"lead-in: {run.accepted:,} events before {START} posted and processed; the clock starts")
                header = f"{'min':>6} {'accepted':>9} {'rules lag':>10} {'alerts lag':>11} " + " ".join(
                    f"{name + ' MiB':>12}" for name in pids
                )
                print(header + f" {'latency ms':>11}")
                began = time.monotonic()
                next_sample = began + args.every
                budget = 0.0
                day = START
                for day, records in history:
                    if time.monotonic() - began >= args.minutes * 60:
                        break
                    for offset in range(0, len(records), max(1, int(args.rate))):
                        batch = records[offset : offset + max(1, int(args.rate))]
                        budget += len(batch) / args.rate
                        pause = began + budget - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                        post(client, batch, run)
                    for sent in send_ticks(producer, day, PARTITIONS):
                        sent.get(timeout=30)
                    run.days += 1
                    if time.monotonic() >= next_sample:
                        next_sample += args.every
                        sample = take_sample(client, database_url, day, run, pids, rules_metrics, alerts_metrics, began)
                        run.samples.append(sample)
                        print(format_sample(sample), flush=True)
                else:
                    print(f"(the history ran out after {run.days} days; use more --children or --months)")
            summarise(run, day)
        finally:
            producer.close()
            for service in services.values():
                service.stop()


def _raise_keyboard_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def wait_processed(rules_metrics: str, target: int, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while _scrape(rules_metrics).get("carewatch_rules_events_processed_total", 0.0) < target:
        if time.monotonic() > deadline:
            raise TimeoutError("the rules worker did not process the lead-in in time")
        time.sleep(1.0)


def take_sample(
    client: httpx.Client,
    database_url: str,
    day: date,
    run: Run,
    pids: dict[str, int | None],
    rules_metrics: str,
    alerts_metrics: str,
    began: float,
) -> Sample:
    latency = probe(client, database_url, day, run)
    rules, alerts = _scrape(rules_metrics), _scrape(alerts_metrics)
    rules_lag = run.accepted - rules.get("carewatch_rules_events_processed_total", 0.0)
    alerts_lag = rules.get("carewatch_rules_transitions_total", 0.0) - alerts.get(
        "carewatch_alerts_transitions_consumed_total", 0.0
    )
    return Sample(
        minute=(time.monotonic() - began) / 60,
        accepted=run.accepted,
        rules_lag=rules_lag,
        alerts_lag=alerts_lag,
        rss={name: rss_mib(pid) for name, pid in pids.items()},
        latency_ms=latency,
    )


def format_sample(sample: Sample) -> str:
    latency = f"{sample.latency_ms:,.0f}" if sample.latency_ms is not None else "timeout"
    memory = " ".join(f"{value:>12.0f}" for value in sample.rss.values())
    return (
        f"{sample.minute:>6.1f} {sample.accepted:>9,} {sample.rules_lag:>10,.0f} {sample.alerts_lag:>11,.0f} "
        f"{memory} {latency:>11}"
    )


def summarise(run: Run, day: date) -> None:
    print(f"\nposted {run.accepted:,} events accepted ({run.rejected} rejected), {run.days} days of history "
          f"up to {day}")  # fmt: skip
    if len(run.samples) < 3:
        print("too few samples for a trend")
        return
    first, last = run.samples[1], run.samples[-1]  # the first sample is warm-up
    span = (last.minute - first.minute) / 10
    for name in first.rss:
        growth = (last.rss[name] - first.rss[name]) / span if span else float("nan")
        print(f"{name:>8} RSS: {first.rss[name]:.0f} MiB at {first.minute:.0f} min -> {last.rss[name]:.0f} MiB at "
              f"{last.minute:.0f} min ({growth:+.1f} MiB per 10 min)")  # fmt: skip
    print(f"rules lag: {first.rules_lag:,.0f} -> {last.rules_lag:,.0f} events "
          f"(max {max(s.rules_lag for s in run.samples):,.0f}); alerts lag: {first.alerts_lag:,.0f} -> "
          f"{last.alerts_lag:,.0f} (max {max(s.alerts_lag for s in run.samples):,.0f})")  # fmt: skip
    latencies = [s.latency_ms for s in run.samples if s.latency_ms is not None]
    half = len(run.samples) // 2
    early = [s.latency_ms for s in run.samples[1:half] if s.latency_ms is not None]
    late = [s.latency_ms for s in run.samples[half:] if s.latency_ms is not None]
    if latencies:
        ordered = sorted(latencies)
        print(f"probe latency (POST -> alert row): median {statistics.median(ordered):,.0f} ms, max "
              f"{ordered[-1]:,.0f} ms over {len(ordered)} probes; first half median "
              f"{statistics.median(early) if early else float('nan'):,.0f} ms, second half "
              f"{statistics.median(late) if late else float('nan'):,.0f} ms; "
              f"{sum(s.latency_ms is None for s in run.samples)} timed out")  # fmt: skip


if __name__ == "__main__":
    main()
