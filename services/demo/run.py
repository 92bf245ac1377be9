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
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine
from tqdm import tqdm

from carewatch.broker import broker_from_settings, ensure_topics
from carewatch.settings import BoardSettings, Settings
from services.board.pack import EXAMPLE_NEIGHBOURS, EXAMPLE_TARGETS
from services.demo.supervisor import ServiceProcess, port_in_use
from services.rules.stream.clock import send_ticks

Echo = Callable[[str], None]


@dataclass
class DemoResult:
    events_sent: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    ticks_sent: int = 0
    alerts_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(rule, state) → alert occurrences in the database."""
    indicators: dict[str, Any] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    pack: dict[str, Path] = field(default_factory=dict)
    """The board pack the demo wrote as of its last day (html, csv, xlsx), from the services' settings."""
    authority_alerts: list[str] = field(default_factory=list)
    """Summaries of the authority alerts raised (special causes on the board's series)."""


def run_demo(
    settings: Settings,
    *,
    once: bool,
    months: int,
    children: int,
    seed: int,
    until: date,
    echo: Echo = print,
    while_serving: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Run the demo; ``while_serving`` is called with the summary while every service still runs."""
    from carewatch import broker
    from carewatch.db import make_engine, migrate
    from services.demo.generator import generate

    result = DemoResult()
    settings = demo_settings(settings, children)
    taken = busy_ports(settings)
    if taken:
        raise PortTaken(taken)
    # A SIGTERM must unwind like Ctrl-C, so the services and the broker are stopped, not orphaned.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with ExitStack() as stack:
        bootstrap = stack.enter_context(broker_from_settings(settings.broker.kafka_bootstrap))
        ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication)
        database_url = settings.database.sqlalchemy_url()
        kept = _kept_state(settings, database_url)
        migrate(database_url)
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        echo(f"broker {bootstrap}; database {database_url.rpartition('@')[2]}")
        echo(kept)

        ingest_token = secrets.token_urlsafe(24)
        env = {
            "CAREWATCH_KAFKA_BOOTSTRAP": bootstrap,
            "CAREWATCH_DATABASE_URL": database_url,
            "CAREWATCH_TOPIC_PARTITIONS": str(settings.broker.topic_partitions),
            "CAREWATCH_INGEST_TOKENS": json.dumps([ingest_token]),
            "CAREWATCH_INGEST_PORT": str(settings.ingest.port),
            "CAREWATCH_WEB_PORT": str(settings.web.port),
            "CAREWATCH_RULES_METRICS_PORT": str(settings.rules.metrics_port),
            "CAREWATCH_TICK_SCHEDULER": "false",  # the demo sends the ticks of its accelerated history
            # a fresh broker each run: the archive of an earlier run must not be replayed into it
            "CAREWATCH_ARCHIVE_REPUBLISH_ON_START": "false",
            **board_environment(settings),
        }
        logs = settings.database.data_dir / "logs"
        services = {
            name: stack.enter_context(_running(ServiceProcess(name, env, logs / f"{name}.log")))
            for name in ("rules", "alerts", "ingest")
        }
        web = f"http://{settings.web.host}:{settings.web.port}"
        ingest_url = f"http://{settings.ingest.host}:{settings.ingest.port}"
        rules_metrics = f"http://127.0.0.1:{settings.rules.metrics_port}/metrics"
        echo(f"starting services (logs in {logs})")
        services["ingest"].wait_for_http(f"{ingest_url}/healthz")
        echo("  ingest ready")
        services["alerts"].wait_for_http(f"{web}/healthz")
        echo("  alerts and board ready")
        services["rules"].wait_for_http(rules_metrics, timeout=90, marker="carewatch_rules_")
        echo("  rules ready")
        from services.demo.generator import TEAMS

        result.tokens = {**_demo_tokens(engine, TEAMS), "ingest": ingest_token}

        start = until - timedelta(days=round(months * 30.44))
        generated = generate(seed=seed, children=children, months=months, start=start, cin=True, turn=True)
        records = [r for r in generated if _day(r) <= until]
        history = [r for r in records if _day(r) < start]
        by_day: dict[date, list[dict[str, Any]]] = {}
        for record in records[len(history) :]:
            by_day.setdefault(_day(record), []).append(record)
        echo(
            f"streaming {len(records)} events: a synthetic authority of about {children} children (seed {seed}),"
            f" {len(history)} events of earlier history, then {months} months day by day with clock ticks"
            f" from {start} to {until}"
        )
        producer = broker.producer(bootstrap, client_id="carewatch-demo", linger_ms=2)
        stack.callback(producer.close)
        headers = {"Authorization": f"Bearer {ingest_token}"}
        with (
            httpx.Client(base_url=ingest_url, headers=headers, timeout=60) as client,
            tqdm(
                total=(until - start).days + 1,
                unit="day",
                desc="history",
                file=sys.stderr,
                mininterval=0.1 if sys.stderr.isatty() else 10.0,  # to a log file: an update every 10 s, not hundreds
            ) as progress,
        ):
            for offset in range(0, len(history), HISTORY_BATCH):
                _post(client, history[offset : offset + HISTORY_BATCH], result)
            day = start
            while day <= until:
                if day in by_day:
                    _post(client, by_day[day], result)
                # The day's tick must be on every partition before the next day's events.
                for sent in send_ticks(producer, day, settings.broker.topic_partitions):
                    sent.get(timeout=30)
                result.ticks_sent += 1
                day += timedelta(days=1)
                progress.update()
        echo("waiting for the rules, alerts and board to catch up")
        _wait_caught_up(
            services,
            rules_metrics,
            f"{web}/metrics",
            engine,
            until,
            result,
            settings.broker.topic_partitions,
            echo=echo,
            logs=logs,
        )
        result.authority_alerts = _authority_alerts(engine)
        result.alerts_by_rule = _alerts_by_rule(engine)
        result.indicators = _board_headlines(web, result.tokens["board"], until)
        echo("  drawing the board's early-warning charts")
        _warm_board(web, result.tokens["board"])
        result.pack = write_board_pack(settings, engine, until, echo=echo)
        result.urls = {
            "manager page": f"{web}/",
            "board pack": f"{web}/login (sign in with the board token: it opens {web}/board)",
            "metrics": f"{web}/metrics",
            "API docs": f"{web}/docs",
            "ingest API": f"{ingest_url}/docs",
            "board pack file": (
                f"{result.pack['html']} (and .csv, .xlsx; child population 0-17 {settings.board.population_0_17},"
                " as CAREWATCH_BOARD_POPULATION_0_17 for `carewatch board-pack`)"
                if result.pack
                else "not written"
            ),
        }
        _print_summary(result, echo)
        if while_serving is not None:
            while_serving(result)
        if not once:
            echo("serving; press Ctrl-C to stop")
            _wait_for_interrupt(services)
        echo("stopping services")
    return result


def _day(record: dict[str, Any]) -> date:
    """The England date of a record's occurred_at (the generator writes ISO dates or datetimes)."""
    from schemas.events import local_date, parse_when

    try:
        return local_date(parse_when(record.get("occurred_at")))
    except (TypeError, ValueError):
        return date.min


HISTORY_BATCH = 2000
DEMO_RATE_PER_10K = 67  # England, 31 March 2025 (reference §3.1): the synthetic authority sits at the national rate
DEMO_AUTHORITY = "Synthetic county (demo)"


def demo_population(children: int) -> int:
    """Children aged 0–17 of the synthetic authority, so its rate per 10,000 is the national one."""
    return round(children * 10_000 / DEMO_RATE_PER_10K)


def demo_settings(settings: Settings, children: int) -> Settings:
    """The settings of the demo's synthetic authority: what ``settings`` configures, and where it leaves a
    board setting unset, the demo's own: a child population at the national rate for ``children`` looked
    after, and the example neighbours and targets (marked as examples on the pack) so rates, RAG and
    comparisons show. The services, the board pack the demo writes and the summary all use this one object."""
    default = BoardSettings.model_fields["authority_name"].default
    return settings.updated(
        board_population_0_17=settings.board.population_0_17 or demo_population(children),
        board_neighbours_csv=settings.board.neighbours_csv or EXAMPLE_NEIGHBOURS,
        board_targets_csv=settings.board.targets_csv or EXAMPLE_TARGETS,
        board_authority_name=(
            DEMO_AUTHORITY if settings.board.authority_name == default else settings.board.authority_name
        ),
    )


def board_environment(settings: Settings) -> dict[str, str]:
    """The board's settings as the services' environment (CAREWATCH_*), so they read what the demo uses."""
    values = settings.board.model_dump()
    return {env: str(values[name]) for name, env in BoardSettings.env_names().items() if values[name] is not None}


def write_board_pack(settings: Settings, engine: Engine, as_of: date, echo: Echo = print) -> dict[str, Path]:
    """The board pack of the stored snapshots as of ``as_of`` under ``<data_dir>/board-pack/``, with the
    settings the services ran with (population, neighbours, targets, audience) and the early-warning SPC
    charts of the board page; warns of figures not computed."""
    from services.board.cli import uncomputed_warnings
    from services.board.core import comparators
    from services.board.early_warning import SpcSettings
    from services.board.pack import example_notes, from_snapshots, write_pack
    from services.board.web import early_warning_panels

    compare = comparators.load(
        neighbours=settings.board.neighbours_csv,
        targets=settings.board.targets_csv,
        amber_band=settings.board.amber_band,
    )
    pack = from_snapshots(
        engine,
        settings.board.authority_name,
        as_of,
        12,
        settings.board.suppression_threshold,
        settings.board.population_0_17,
        compare,
        examples=example_notes(settings.board.neighbours_csv, settings.board.targets_csv),
        audience=settings.board.audience,
    )
    if pack is None:
        echo(f"warning: no board snapshot on or before {as_of}: no board pack written")
        return {}
    for warning in uncomputed_warnings(pack.trend, settings.board.population_0_17):
        echo(f"warning: {warning}")
    spc = early_warning_panels(
        engine,
        as_of,
        settings.board.population_0_17,
        settings.board.audience,
        settings.board.suppression_threshold,
        SpcSettings.of(settings.board),
    )
    return write_pack(settings.database.data_dir / "board-pack", replace(pack, spc=spc))


class PortTaken(RuntimeError):
    """A port the demo needs is held by another program."""

    def __init__(self, taken: list[tuple[str, str, int]]) -> None:
        what = ", ".join(f"{host}:{port} ({option})" for option, host, port in taken)
        options = " and ".join(option for option, _, _ in taken)
        super().__init__(f"port already in use: {what}; stop what holds it or choose another with {options}")


def busy_ports(settings: Settings) -> list[tuple[str, str, int]]:
    """(option, host, port) of each port the demo's services need that something already listens on."""
    wanted = [
        ("--port", settings.web.host, settings.web.port),
        ("--ingest-port", settings.ingest.host, settings.ingest.port),
        ("--rules-metrics-port", "127.0.0.1", settings.rules.metrics_port),
    ]
    return [(option, host, port) for option, host, port in wanted if port_in_use(host, port)]


def _kept_state(settings: Settings, database_url: str) -> str:
    """What the run starts from, in words: the broker is fresh each run, the database may be kept."""
    if settings.database.url:
        return "database: CAREWATCH_DATABASE_URL, kept as it is (alerts of earlier runs stay)"
    path = settings.database.data_dir / "carewatch.sqlite"
    if path.exists() and path.stat().st_size > 0:
        return f"database kept from an earlier run ({path}); delete {settings.database.data_dir}/ to start clean"
    return f"starting clean: new database {path}"


def _raise_keyboard_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def _running(process: ServiceProcess) -> Iterator[ServiceProcess]:
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _post(client: httpx.Client, batch: list[dict[str, Any]], result: DemoResult) -> None:
    body = b"\n".join(orjson.dumps(record) for record in batch)
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
    response.raise_for_status()
    reply = response.json()
    result.events_sent += reply["received"]
    result.events_accepted += reply["accepted"]
    result.events_rejected += reply["rejected"]


def _demo_tokens(engine: Engine, teams: Iterable[str]) -> dict[str, str]:
    from services.alerts.users import ensure_demo_user

    return {
        "manager": ensure_demo_user(engine, "demo-manager", role="manager", teams=teams),
        "board": ensure_demo_user(engine, "demo-board", role="board"),
    }


def _scrape(url: str) -> dict[str, float]:
    """Sample name → value summed over labels, from a Prometheus text endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _wait_caught_up(
    services: dict[str, ServiceProcess],
    rules_metrics: str,
    alerts_metrics: str,
    engine: Engine,
    until: date,
    result: DemoResult,
    partitions: int,
    stall: float = 300.0,
    echo: Echo | None = None,
    every: float = 5.0,
    logs: Path | None = None,
) -> None:
    """Poll until every event and tick is processed, every transition stored and the last day snapshotted,
    saying how far each service has got every ``every`` seconds. Gives up only when nothing has moved for
    ``stall`` seconds: a slow machine takes longer, it does not fail."""
    from services.board import store

    deadline = time.monotonic() + stall
    told = time.monotonic()
    last: tuple[object, ...] = ()
    while time.monotonic() < deadline:
        for service in services.values():
            if not service.running():
                raise RuntimeError(f"the {service.name} service stopped:\n{service.log_tail()}")
        rules = _scrape(rules_metrics)
        alerts = _scrape(alerts_metrics)
        processed = rules.get("carewatch_rules_events_processed_total", 0)
        ticks = rules.get("carewatch_rules_ticks_total", 0)
        # Case transitions from the rules worker, authority transitions from the board feed (same topic).
        published = rules.get("carewatch_rules_transitions_total", 0) + alerts.get(
            "carewatch_board_authority_transitions_published_total", 0
        )
        consumed = alerts.get("carewatch_alerts_transitions_consumed_total", 0)
        read_through = alerts.get("carewatch_board_authority_read_through_timestamp_seconds", 0)
        stored = store.dates(engine)
        progress = (processed, ticks, published, consumed, stored[-1] if stored else None, read_through)
        if progress != last:
            last, deadline = progress, time.monotonic() + stall
        if (
            processed >= result.events_accepted
            and ticks >= result.ticks_sent * partitions
            and consumed >= published
            and stored
            and stored[-1] >= until
            and _authority_read(read_through, stored[0], until)
        ):
            return
        if echo is not None and time.monotonic() - told >= every:
            told = time.monotonic()
            echo(
                f"  rules {int(processed)} of {result.events_accepted} events, "
                f"{int(ticks)} of {result.ticks_sent * partitions} ticks; "
                f"alerts {int(consumed)} of {int(published)} changes; "
                f"board up to {stored[-1] if stored else 'no day yet'} of {until}"
            )
        time.sleep(0.5)
    where = logs if logs is not None else "the data directory"
    raise TimeoutError(f"the services made no progress for {stall:.0f} seconds; see the logs in {where}")


def _authority_read(read_through: float, first_stored: date, until: date) -> bool:
    """Whether the board feed has read its watched series at the last month end up to ``until`` (there is
    none to read when the stored days start after it)."""
    from datetime import UTC, datetime

    from services.board.early_warning import last_complete_month_end

    month_end = last_complete_month_end(until)
    if month_end < first_stored:
        return True
    return read_through >= datetime(month_end.year, month_end.month, month_end.day, tzinfo=UTC).timestamp()


def _authority_alerts(engine: Engine) -> list[str]:
    """Each authority alert occurrence as the alerts service stored it, oldest first, with the month it was
    raised and the month it resolved (or "open"): the board feed read the watched series at each month end
    it stored, the earlier history's included, and published the special causes on the alerts topic."""
    from sqlalchemy import select

    from services.alerts.models import Alert

    query = (
        select(Alert.raised_at, Alert.resolved_at, Alert.summary)
        .where(Alert.scope == "authority")
        .order_by(Alert.raised_at, Alert.id)
    )
    with engine.connect() as connection:
        return [
            f"{_month(raised)} to {'open' if resolved is None else _month(resolved):<8}  {summary}"
            for raised, resolved, summary in connection.execute(query)
        ]


def _month(day: date | None) -> str:
    return "?" if day is None else f"{day:%b %Y}"


def _alerts_by_rule(engine: Engine) -> Counter[tuple[str, str]]:
    from sqlalchemy import func, select

    from services.alerts.models import Alert

    with engine.connect() as connection:
        rows = connection.execute(select(Alert.rule, Alert.state, func.count()).group_by(Alert.rule, Alert.state))
        return Counter({(rule, state): count for rule, state, count in rows})


HEADLINES = (
    "cla-count",
    "cla-rate-per-10k",
    "placements-3plus-12m",
    "social-workers-3plus-12m",
    "iha-within-20wd",
    "rhi-within-72h",
    "care-leavers-in-touch",
)


def _warm_board(web: str, token: str) -> None:
    """Open the board page once: its early-warning charts are read from the whole event archive the first
    time (then kept until the archive changes), so the demo is ready when it says so."""
    response = httpx.get(f"{web}/board", headers={"Authorization": f"Bearer {token}"}, timeout=900)
    response.raise_for_status()


def _board_headlines(web: str, token: str, as_of: date) -> dict[str, Any]:
    response = httpx.get(
        f"{web}/v1/board/summary", params={"as_of": as_of.isoformat()}, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    indicators = response.json()["indicators"]
    return {name: indicators[name] for name in HEADLINES if name in indicators}


def _print_summary(result: DemoResult, echo: Echo) -> None:
    echo("")
    echo(
        f"events sent {result.events_sent}: accepted {result.events_accepted}, rejected {result.events_rejected}"
        f" (rejects are kept on the dead-letter topic); clock ticks {result.ticks_sent}"
    )
    states = ("raised", "acknowledged", "resolved", "closed")
    echo(f"\n  {'alerts by rule':<38}" + "".join(f"{state:>14}" for state in states))
    for rule in sorted({rule for rule, _ in result.alerts_by_rule}):
        counts = "".join(f"{result.alerts_by_rule[rule, state]:>14}" for state in states)
        echo(f"  {rule:<38}{counts}")
    if result.authority_alerts:
        echo(
            "\n  authority alerts (special causes on the board's series, the years before the demo's included;"
            " see the board's early-warning charts)"
        )
        for summary in result.authority_alerts:
            echo(f"  - {summary}")
    echo(f"\n  {'headline indicators':<38}{'value':>14}")
    for indicator, figure in result.indicators.items():
        value = "suppressed" if figure.get("suppressed") else figure.get("value")
        echo(f"  {indicator:<38}{value!s:>14}")
    echo("")
    for name, url in result.urls.items():
        echo(f"{name:<16} {url}")
    for role, token in result.tokens.items():
        use = "Authorization: Bearer <token> on POST /v1/events" if role == "ingest" else "sign in at /login"
        echo(f"{role + ' token':<16} {token}   ({use})")


def _wait_for_interrupt(procs: dict[str, ServiceProcess]) -> None:
    stop = False

    def on_signal(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop and all(process.running() for process in procs.values()):
        time.sleep(0.5)
    for process in procs.values():
        if not process.running():
            print(f"the {process.name} service stopped:\n{process.log_tail()}", file=sys.stderr)
