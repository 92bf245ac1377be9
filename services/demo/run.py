"""`carewatch demo`: a synthetic local authority streamed through every carewatch service.

Starts the embedded broker (unless ``CAREWATCH_KAFKA_BOOTSTRAP`` is set) and an SQLite database (unless
``CAREWATCH_DATABASE_URL`` is set), the ingest, rules and alerts services as child processes, then streams
``months`` of generated history day by day: the day's events through the ingest HTTP API, then one clock tick
per partition. It waits until the rules worker has processed everything and the alerts service has stored
every transition, prints a summary and the local URLs, and keeps serving until Ctrl-C (or exits with
``--once``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from carewatch.broker import broker_from_settings, ensure_topics, free_port
from carewatch.settings import Settings
from services.demo.supervisor import ServiceProcess

Echo = Callable[[str], None]


@dataclass
class DemoResult:
    events_sent: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    ticks_sent: int = 0
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    indicators: dict[str, Any] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def _day_of(record: dict[str, Any]) -> str:
    return str(record.get("occurred_at", ""))[:10]


def _days(events: Iterable[dict[str, Any]]) -> Iterator[tuple[date, list[dict[str, Any]]]]:
    for day, group in groupby(events, key=_day_of):
        yield date.fromisoformat(day), list(group)


def run_demo(
    settings: Settings,
    *,
    once: bool,
    months: int,
    children: int,
    seed: int,
    until: date,
    echo: Echo = print,
) -> DemoResult:
    from carewatch.db import make_engine, migrate
    from services.demo.generator import generate
    from services.rules.stream.clock import send_ticks

    result = DemoResult()
    with ExitStack() as stack:
        bootstrap = stack.enter_context(broker_from_settings(settings.kafka_bootstrap))
        ensure_topics(bootstrap, settings.topic_partitions, settings.topic_replication)
        database_url = settings.sqlalchemy_url()
        migrate(database_url)
        echo(f"broker {bootstrap}; database {database_url.split('@')[-1]}")

        ingest_token = secrets.token_urlsafe(24)
        ingest_port = settings.ingest_port if settings.ingest_port else free_port()
        env = {
            "CAREWATCH_KAFKA_BOOTSTRAP": bootstrap,
            "CAREWATCH_DATABASE_URL": database_url,
            "CAREWATCH_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "CAREWATCH_INGEST_TOKENS": json.dumps([ingest_token]),
            "CAREWATCH_INGEST_PORT": str(ingest_port),
            "CAREWATCH_WEB_PORT": str(settings.web_port),
        }
        logs = settings.data_dir / "logs"
        procs = {
            name: stack.enter_context(_running(ServiceProcess(name, env, logs / f"{name}.log")))
            for name in ("rules", "alerts", "ingest")
        }
        web = f"http://{settings.web_host}:{settings.web_port}"
        ingest_url = f"http://{settings.ingest_host}:{ingest_port}"
        procs["ingest"].wait_for_http(f"{ingest_url}/healthz")
        procs["alerts"].wait_for_http(f"{web}/healthz")
        rules_metrics = f"http://127.0.0.1:{settings.rules_metrics_port}/metrics"
        procs["rules"].wait_for_http(rules_metrics, timeout=90)
        result.tokens = _demo_tokens(make_engine(database_url))

        start = until - timedelta(days=round(months * 30.44))
        echo(f"streaming {months} months of a synthetic authority ({children} children, seed {seed})")
        events = generate(seed=seed, children=children, months=months, start=start)
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        stack.callback(producer.close)
        with httpx.Client(base_url=ingest_url, headers={"Authorization": f"Bearer {ingest_token}"}) as client:
            progress = tqdm(total=(until - start).days, unit="day", desc="history", file=sys.stderr)
            last_tick: date | None = None
            for day, batch in _days(events):
                if day > until:
                    break
                last_tick = _tick_through(producer, last_tick, day - timedelta(days=1), start, settings, result)
                _post(client, batch, result)
                progress.update(max(0, (day - start).days - progress.n))
            _tick_through(producer, last_tick, until, start, settings, result)
            progress.close()
        echo("waiting for the rules and alerts services to catch up")
        _wait_caught_up(procs, rules_metrics, f"{web}/metrics", result)
        result.alerts_by_rule = _alerts_by_rule(make_engine(database_url))
        result.indicators = _board_summary(web, result.tokens.get("board"), until)
        result.urls = {
            "manager page": f"{web}/",
            "board pack": f"{web}/board",
            "metrics": f"{web}/metrics",
            "API docs": f"{web}/docs",
            "ingest API docs": f"{ingest_url}/docs",
        }
        _print_summary(result, echo)
        if not once:
            echo("serving; press Ctrl-C to stop")
            _wait_for_interrupt(procs)
        echo("stopping services")
    return result


def _running(process: ServiceProcess) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def manage() -> Iterator[ServiceProcess]:
        process.start()
        try:
            yield process
        finally:
            process.stop()

    return manage()


def _tick_through(
    producer: Any, last: date | None, through: date, start: date, settings: Settings, result: DemoResult
) -> date | None:
    from services.rules.stream.clock import send_ticks

    day = (last + timedelta(days=1)) if last else start
    while day <= through:
        send_ticks(producer, day, settings.topic_partitions)
        result.ticks_sent += 1
        last = day
        day += timedelta(days=1)
    producer.flush()
    return last


def _post(client: httpx.Client, batch: list[dict[str, Any]], result: DemoResult) -> None:
    body = "\n".join(json.dumps(record) for record in batch).encode()
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
    response.raise_for_status()
    reply = response.json()
    result.events_sent += reply["received"]
    result.events_accepted += reply["accepted"]
    result.events_rejected += reply["rejected"]


def _demo_tokens(engine: Any) -> dict[str, str]:
    from services.alerts import users

    return {
        "manager": users.ensure_demo_user(engine, "demo-manager", role="admin"),
        "board": users.ensure_demo_user(engine, "demo-board", role="board"),
    }


def _wait_caught_up(procs: dict[str, ServiceProcess], rules_metrics: str, alerts_metrics: str, result: DemoResult) -> None:
    raise NotImplementedError


def _alerts_by_rule(engine: Any) -> Counter[str]:
    raise NotImplementedError


def _board_summary(web: str, token: str | None, as_of: date) -> dict[str, Any]:
    raise NotImplementedError


def _print_summary(result: DemoResult, echo: Echo) -> None:
    echo("")
    echo(f"events sent {result.events_sent}: accepted {result.events_accepted}, rejected {result.events_rejected}"
         f" (rejects are kept on the dead-letter topic); clock ticks {result.ticks_sent}")
    echo("open and resolved alerts by rule:")
    for rule, count in sorted(result.alerts_by_rule.items()):
        echo(f"  {rule:<40} {count:>6}")
    echo("headline indicators:")
    for indicator, figure in result.indicators.items():
        value = "suppressed" if figure.get("suppressed") else figure.get("value")
        echo(f"  {indicator:<40} {value}")
    echo("")
    for name, url in result.urls.items():
        echo(f"{name:<16} {url}")
    for role, token in result.tokens.items():
        echo(f"{role} token   {token}")


def _wait_for_interrupt(procs: dict[str, ServiceProcess]) -> None:
    stop = False

    def on_signal(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop and all(process.running() for process in procs.values()):
        time.sleep(0.5)


def default_data_dir() -> Path:
    return Path(os.environ.get("CAREWATCH_DATA_DIR", "var"))
