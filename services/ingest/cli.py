"""``carewatch ingest FILE...`` and the ingest service runner (``serve``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy import Engine

    from carewatch.settings import IngestProcess
    from schemas.events import CaseEvent
    from services.ingest.app import Authorizer
    from services.ingest.metrics import IngestMetrics
    from services.ingest.producer import Archiver

NO_BROKER = (
    "no broker to write to: pass --bootstrap HOST:PORT or set CAREWATCH_KAFKA_BOOTSTRAP=HOST:PORT "
    "(an embedded broker would forget the events as soon as the command ends)"
)
NO_BROKER_TO_SERVE = (
    "no broker to write to: set CAREWATCH_KAFKA_BOOTSTRAP=HOST:PORT "
    "(an embedded broker would forget the events as soon as the service stops)"
)
EXIT_REJECTS = 1
EXIT_USAGE = 2
EXIT_BROKER = 3
FILE_LOAD_JOB = "carewatch-ingest-file"
"""The Pushgateway job name of `carewatch ingest` (the HTTP service is scraped as carewatch-ingest)."""


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def ingest(
    files: Annotated[list[Path], typer.Argument(help="NDJSON (.ndjson, .jsonl) or CSV (.csv) event files")],
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Exit 0 even when lines were rejected.")
    ] = False,
    reject_file: Annotated[
        Path | None,
        typer.Option(help="Where rejected lines go (default: <file>.rejects.ndjson beside each file)."),
    ] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka HOST:PORT (default: CAREWATCH_KAFKA_BOOTSTRAP).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Lines written per acknowledged batch.")] = 1000,
) -> None:
    """Validate event files and write them to the broker; rejected lines go to a reject file and the DLQ.

    Prints `received N = accepted A + rejected R`.

    Exit codes: 0 done; 1 lines were rejected (unless --allow-rejects); 2 bad usage; 3 the broker failed
    (run the same command again: events already written are recognised by event_id and ignored).
    """
    from tqdm import tqdm

    from carewatch.broker import ensure_topics
    from carewatch.settings import get_settings
    from services.ingest.files import EventFile
    from services.ingest.loader import Counts, LoadInterrupted, RejectLog, load_file
    from services.ingest.metrics import IngestMetrics
    from services.ingest.producer import INGEST_TOPICS, IngestProducer

    settings = get_settings()
    metrics = IngestMetrics()
    bootstrap = bootstrap or settings.broker.kafka_bootstrap
    if not bootstrap:
        raise _fail(NO_BROKER, EXIT_USAGE)
    event_files: list[EventFile] = []
    for path in files:
        if not path.is_file():
            raise _fail(f"{path}: no such file", EXIT_USAGE)
        try:
            event_files.append(EventFile(path))
        except ValueError as exc:
            raise _fail(str(exc), EXIT_USAGE) from None

    ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication, names=INGEST_TOPICS)
    archive, archive_engine = archiver(settings)
    producer = IngestProducer(bootstrap)
    shared_rejects = RejectLog(reject_file) if reject_file is not None else None
    total = Counts()
    reject_paths: list[Path] = []
    try:
        for event_file in event_files:
            rejects = shared_rejects or RejectLog(event_file.path.with_name(event_file.path.name + ".rejects.ndjson"))
            with tqdm(
                total=event_file.path.stat().st_size,
                unit="B",
                unit_scale=True,
                desc=event_file.path.name,
                file=sys.stderr,
                disable=None,  # only on a terminal
                leave=False,
            ) as bar:

                def advance(done: int, bar: tqdm[None] = bar) -> None:
                    bar.update(done - bar.n)

                try:
                    counts = load_file(
                        event_file,
                        producer,
                        rejects,
                        batch_size=batch_size,
                        metrics=metrics,
                        on_progress=advance,
                        archive=archive,
                    )
                except LoadInterrupted as exc:
                    metrics.file_loads.labels(outcome="interrupted").inc()
                    raise _fail(str(exc), EXIT_BROKER) from None
                finally:
                    if rejects is not shared_rejects:
                        rejects.close()
            metrics.file_loads.labels(outcome="done").inc()
            metrics.last_file_load.set_to_current_time()
            total.add(counts)
            if len(event_files) > 1:
                typer.echo(f"{event_file.path}: {counts.line()}")
            if rejects.written and rejects.path not in reject_paths:
                reject_paths.append(rejects.path)
    finally:
        if shared_rejects is not None:
            shared_rejects.close()
        producer.close()
        if archive_engine is not None:
            archive_engine.dispose()
        _export_metrics(metrics, settings)
    for path in reject_paths:
        typer.echo(f"rejected lines (with reasons) written to {path}")
    typer.echo(total.line())
    if total.rejected and not allow_rejects:
        raise typer.Exit(EXIT_REJECTS)


def _export_metrics(metrics: IngestMetrics, settings: IngestProcess) -> None:
    """A file load is a batch job: its counts go to a textfile and/or a Pushgateway, when configured."""
    from prometheus_client import push_to_gateway, write_to_textfile

    if settings.ingest.metrics_file is not None:
        write_to_textfile(str(settings.ingest.metrics_file), metrics.registry)
    if settings.ingest.pushgateway_url:
        try:
            push_to_gateway(settings.ingest.pushgateway_url, job=FILE_LOAD_JOB, registry=metrics.registry, timeout=10)
        except OSError as exc:
            typer.echo(f"warning: metrics not pushed to {settings.ingest.pushgateway_url}: {exc}", err=True)


def serve(settings: IngestProcess | None = None) -> None:
    """Run the ingest HTTP service with uvicorn until interrupted."""
    import uvicorn

    from carewatch.broker import ensure_topics
    from carewatch.settings import ingest_settings
    from services.ingest.app import create_app
    from services.ingest.producer import INGEST_TOPICS, IngestProducer

    settings = settings if settings is not None else ingest_settings()
    if not settings.broker.kafka_bootstrap:
        raise _fail(NO_BROKER_TO_SERVE, EXIT_USAGE)
    ensure_topics(
        settings.broker.kafka_bootstrap,
        settings.broker.topic_partitions,
        settings.broker.topic_replication,
        names=INGEST_TOPICS,
    )
    producer = IngestProducer(settings.broker.kafka_bootstrap)
    users = None
    if settings.database.url:
        from carewatch.db import make_engine, migrate

        migrate(settings.database.url)
        users = make_engine(settings.database.url)
    archive, archive_engine = archiver(settings)
    try:
        checks = [] if users is None else [database_check(users)]
        app = create_app(
            settings,
            producer,
            authorize=authorizer(settings, users),
            health_checks=checks,
            archive=archive,
            lockout_store=users if users is not None else archive_engine,
        )
        from carewatch.httpguard import redact_access_log

        redact_access_log()
        uvicorn.run(app, host=settings.ingest.host, port=settings.ingest.port)
    finally:
        producer.close()
        if users is not None:
            users.dispose()
        if archive_engine is not None:
            archive_engine.dispose()


def archiver(settings: IngestProcess) -> tuple[Archiver | None, Engine | None]:
    """The event archive of the settings' database (migrated, retention applied), or none when disabled."""
    if not settings.archive.enabled:
        return None, None
    from datetime import UTC, datetime

    from carewatch.db import make_engine, migrate
    from services.archive import store

    url = settings.database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    if settings.archive.retention_years is not None:
        store.prune(engine, older_than_years=settings.archive.retention_years, now=datetime.now(UTC))

    def archive(events: Sequence[CaseEvent], received_at: datetime, payloads: Sequence[bytes]) -> None:
        store.append(engine, events, received_at, payloads)

    return archive, engine


def database_check(engine: Engine) -> Callable[[], tuple[bool, str]]:
    """For /healthz: does the user store answer? (Tokens with the ingest role are checked there.)"""
    from sqlalchemy import text

    def check() -> tuple[bool, str]:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the store is an outage for token checks
            return False, f"user store unavailable ({type(exc).__name__})"
        return True, "user store reachable"

    return check


def authorizer(settings: IngestProcess, users: Engine | None) -> Authorizer:
    """Tokens from settings and, given the user store's database, `carewatch users` tokens with the ingest role."""
    from services.ingest.app import token_authorizer

    from_settings = token_authorizer(settings.ingest.tokens)
    if users is None:
        return from_settings
    from services.alerts.auth import role_authorizer

    from_store = role_authorizer(users, "ingest")
    return lambda token: from_settings(token) or from_store(token)
