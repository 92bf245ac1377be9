"""``carewatch archive``: status, republish (refill a broker), erase a child, apply retention."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

archive_app = typer.Typer(
    help="The durable event archive: every accepted event, appended before ingest acknowledges it.",
    no_args_is_help=True,
)


def _engine() -> Engine:
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings

    url = get_settings().sqlalchemy_url()
    migrate(url)
    return make_engine(url)


@archive_app.command()
def status() -> None:
    """How many events the archive holds and the last sequence number."""
    from services.archive import store

    engine = _engine()
    try:
        typer.echo(f"events {store.count(engine)}; last seq {store.high_water(engine)}")
    finally:
        engine.dispose()


@archive_app.command()
def republish(
    bootstrap: Annotated[str | None, typer.Option(help="Kafka HOST:PORT (default: CAREWATCH_KAFKA_BOOTSTRAP).")] = None,
) -> None:
    """Publish the archived events the case-events topic is missing (all of them on an emptied broker)."""
    from carewatch.broker import ensure_topics
    from carewatch.settings import get_settings
    from services.archive.republish import republish as run

    settings = get_settings()
    bootstrap = bootstrap or settings.kafka_bootstrap
    if not bootstrap:
        typer.echo("error: pass --bootstrap HOST:PORT or set CAREWATCH_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)
    ensure_topics(bootstrap, settings.topic_partitions, settings.topic_replication)
    engine = _engine()
    try:
        typer.echo(run(engine, bootstrap).line())
    finally:
        engine.dispose()


@archive_app.command()
def erase(
    child_id: Annotated[str, typer.Argument(help="The child's pseudonymous id.")],
    actor: Annotated[str | None, typer.Option(help="Who asked for the erasure (default: the OS user).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase every archived event of one child (right to erasure), with an entry in the audit log.

    The audit entry names the child by a SHA-256 digest, not the id. Erase the child's alerts and the
    events still on the broker separately (topic retention or compaction)."""
    from datetime import UTC, datetime

    from services.archive import store

    if not yes:
        typer.confirm("Erase every archived event of this child? This cannot be undone", abort=True)
    engine = _engine()
    try:
        deleted = store.erase_child(engine, child_id, actor=actor or getpass.getuser(), now=datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(f"erased {deleted} archived events; audit entry {store.subject_digest(child_id)}")


@archive_app.command()
def prune(
    years: Annotated[
        int | None, typer.Option(min=1, help="Delete events received more than N years ago (default: setting).")
    ] = None,
) -> None:
    """Apply retention: delete archived events older than N years (CAREWATCH_ARCHIVE_RETENTION_YEARS)."""
    from datetime import UTC, datetime

    from carewatch.settings import get_settings
    from services.archive import store

    years = years or get_settings().archive_retention_years
    if years is None:
        typer.echo("retention is off: pass --years N or set CAREWATCH_ARCHIVE_RETENTION_YEARS", err=True)
        raise typer.Exit(2)
    engine = _engine()
    try:
        deleted = store.prune(engine, older_than_years=years, now=datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(f"deleted {deleted} archived events received more than {years} years ago")
