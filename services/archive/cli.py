"""``carewatch archive``: status, republish (refill a broker), erase a child, apply retention."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.archive import reconcile as reconcile_module

archive_app = typer.Typer(
    help="The durable event archive: every accepted event, appended before ingest acknowledges it.",
    no_args_is_help=True,
)


def _engine() -> Engine:
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings

    url = get_settings().database.sqlalchemy_url()
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
    """Publish the archived events the case-events topic is missing (all of them on an emptied broker).

    Compares the whole topic with the whole archive (the rules service's start compares only what was
    appended since the last check, unless the broker lost data)."""
    from carewatch.broker import ensure_topics
    from carewatch.settings import get_settings
    from services.archive.republish import republish as run

    settings = get_settings()
    bootstrap = bootstrap or settings.broker.kafka_bootstrap
    if not bootstrap:
        typer.echo("error: pass --bootstrap HOST:PORT or set CAREWATCH_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)
    ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication)
    engine = _engine()
    try:
        typer.echo(run(engine, bootstrap, incremental=False).line())
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

    years = years or get_settings().archive.retention_years
    if years is None:
        typer.echo("retention is off: pass --years N or set CAREWATCH_ARCHIVE_RETENTION_YEARS", err=True)
        raise typer.Exit(2)
    engine = _engine()
    try:
        deleted = store.prune(engine, older_than_years=years, now=datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(f"deleted {deleted} archived events received more than {years} years ago")


def reconcile(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Apply the transitions that make the open alerts those of the replay, and write the replay's "
            "totals into the board's snapshot of the day where they differ (both audited).",
        ),
    ] = False,
    until: Annotated[
        str | None, typer.Option("--until", help="Replay up to this day (YYYY-MM-DD; default: today in England).")
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="TOML/YAML rule overrides.")] = None,
) -> None:
    """Compare the open alerts and the board's totals with a replay of the event archive.

    Prints the counts and each alert that differs (rule, pseudonymous child id, severity); the exit code
    is 1 when anything differs (after --repair: when anything still does)."""
    from datetime import date, datetime

    from carewatch.settings import get_settings
    from schemas.events import LONDON
    from services.archive import reconcile as run
    from services.rules.core.config import ConfigError, RulesConfig

    try:
        day = date.fromisoformat(until) if until else datetime.now(LONDON).date()
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {until!r}") from None
    path = rules or get_settings().rules.config
    try:
        config = RulesConfig.load(path) if path is not None else RulesConfig.default()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = _engine()
    try:
        report = run.compare(engine, day, config)
        _print_report(report)
        if repair and report.differs:
            if report.alerts_differ:
                stats = run.repair(engine, report)
                typer.echo("repaired: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.actions.items())))
            if report.board:
                fixed = run.repair_board(engine, report)
                typer.echo(f"repaired board: {fixed} indicators of {day.isoformat()}")
            report = run.compare(engine, day, config)
            _print_report(report)
    finally:
        engine.dispose()
    if report.differs:
        raise typer.Exit(1)


def _print_report(report: reconcile_module.Report) -> None:
    typer.echo(
        f"until {report.until.isoformat()}: open alerts {report.live_open} live, {report.expected_open} in the "
        f"replay; {len(report.missing)} missing, {len(report.stray)} not in the replay, "
        f"{len(report.severity)} with another severity"
    )
    for transition in report.missing:
        typer.echo(f"  missing    {transition.rule} {transition.child_id} {transition.severity}")
    for alert in report.stray:
        typer.echo(f"  not-replay {alert.rule} {alert.child_id} {alert.severity}")
    for transition, alert in report.severity:
        typer.echo(f"  severity   {transition.rule} {transition.child_id} {alert.severity} -> {transition.severity}")
    if report.board_date is None:
        typer.echo(f"board: no snapshot of {report.until.isoformat()} to compare")
    else:
        typer.echo(f"board: {len(report.board)} indicators differ")
        for indicator, (have, want) in sorted(report.board.items()):
            stored, replayed = f"{have.numerator}/{have.denominator}", f"{want.numerator}/{want.denominator}"
            typer.echo(f"  {indicator}: {stored} stored, {replayed} replayed")
