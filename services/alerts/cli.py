"""Command line of the alerts service: ``carewatch users ...`` and the service runner ``serve``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from carewatch.settings import AlertsProcess

log = logging.getLogger(__name__)

users = typer.Typer(help="Who may use the alerts API and pages: add, list, rotate, revoke.", no_args_is_help=True)


def _engine() -> Engine:
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings

    url = get_settings().database.sqlalchemy_url()
    migrate(url)
    return make_engine(url)


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="A login name for a member of staff.")],
    role: Annotated[str, typer.Option("--role", "-r", help="manager, board, board-data, admin or ingest.")],
    team: Annotated[list[str] | None, typer.Option("--team", "-t", help="A team (repeatable).")] = None,
    new_team: Annotated[
        bool, typer.Option("--new-team", help="Accept team names carewatch has not seen yet (no check).")
    ] = False,
) -> None:
    """Create a user and print their access token. The token is shown once and never stored.

    A manager's teams must be ones carewatch knows (in the routing file, or on an alert) unless --new-team."""
    from datetime import UTC, datetime

    from carewatch.db import session_factory
    from services.alerts.auth import UserError, add_user

    engine = _engine()
    try:
        with session_factory(engine).begin() as session:
            if not new_team:
                _check_teams(session, team or [])
            token = add_user(session, name, role, team or [], datetime.now(UTC))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(token)
    typer.echo(f"Token for {name} ({role}) printed above: store it now, it cannot be shown again.", err=True)


def _check_teams(session: object, teams: list[str]) -> None:
    from carewatch.settings import get_settings
    from services.alerts.auth import UserError
    from services.alerts.routing import RoutingConfigError, load_routing
    from services.alerts.workspace import known_teams

    extra: set[str] = set()
    routes = get_settings().alerts.routes
    if routes is not None:
        try:
            extra = set(load_routing(routes).teams)
        except RoutingConfigError as exc:
            raise UserError(str(exc)) from exc
    known = known_teams(session) | extra  # type: ignore[arg-type]
    unknown = sorted(set(teams) - known)
    if unknown:
        listing = ", ".join(sorted(known)) or "none yet (set CAREWATCH_ALERTS_ROUTES or ingest events first)"
        raise UserError(
            f"unknown team {', '.join(map(repr, unknown))}; known teams: {listing} "
            "(use --new-team to add a team carewatch has not seen yet)"
        )


@users.command("teams")
def users_teams(
    name: Annotated[str, typer.Argument(help="The manager whose teams change.")],
    team: Annotated[list[str], typer.Option("--team", "-t", help="A team (repeatable): the full new list.")],
    new_team: Annotated[
        bool, typer.Option("--new-team", help="Accept team names carewatch has not seen yet (no check).")
    ] = False,
) -> None:
    """Replace a manager's teams (checked like ``users add``)."""
    from sqlalchemy import select

    from carewatch.db import session_factory
    from services.alerts.auth import UserError
    from services.alerts.models import User, UserTeam

    engine = _engine()
    try:
        with session_factory(engine).begin() as session:
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                raise UserError(f"no user {name!r}")
            if user.role != "manager":
                raise UserError("only managers have teams")
            if not team:
                raise UserError("a manager needs at least one --team")
            if not new_team:
                _check_teams(session, team)
            user.teams = [UserTeam(team=t) for t in sorted(set(team))]
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(f"{name}: {', '.join(sorted(set(team)))}")


@users.command("list")
def users_list() -> None:
    """Every user with role, teams and whether revoked."""
    from carewatch.db import session_factory
    from services.alerts.auth import list_users

    engine = _engine()
    try:
        with session_factory(engine)() as session:
            for user in list_users(session):
                teams = ",".join(sorted(t.team for t in user.teams)) or "-"
                state = f"revoked {user.revoked_at:%Y-%m-%d}" if user.revoked_at else "active"
                typer.echo(f"{user.name}\t{user.role}\t{teams}\t{state}")
    finally:
        engine.dispose()


@users.command("rotate")
def users_rotate(name: str = typer.Argument(..., help="The user who gets a new token.")) -> None:
    """Issue a new token and revoke the old ones (and end the user's page sessions); the change is audited.

    The new token is printed once; give it to the person or service, whose old token stops working now."""
    import getpass
    from datetime import UTC, datetime

    from carewatch.db import session_factory
    from services.alerts.auth import UserError, rotate_token

    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        actor = "cli"
    engine = _engine()
    try:
        with session_factory(engine).begin() as session:
            token = rotate_token(session, name, datetime.now(UTC), actor=actor)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(token)
    typer.echo(f"New token for {name} printed above (the old one no longer works): store it now.", err=True)


@users.command("revoke")
def users_revoke(name: str = typer.Argument(..., help="The user whose tokens stop working now.")) -> None:
    """Revoke a user and every token they hold."""
    from datetime import UTC, datetime

    from carewatch.db import session_factory
    from services.alerts.auth import UserError, revoke_user

    engine = _engine()
    try:
        with session_factory(engine).begin() as session:
            revoke_user(session, name, datetime.now(UTC))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(f"revoked {name}")


def serve(settings: AlertsProcess) -> None:
    """Run the alerts service: the topic consumer, the notifier loop and the web app, until interrupted."""
    import signal
    import threading
    from datetime import UTC, datetime

    import uvicorn

    from carewatch.broker import broker_from_settings, ensure_topics
    from carewatch.db import make_engine, migrate, session_factory
    from services.alerts.app import create_app
    from services.alerts.auth import BOARD_DATA_ROLES, audit_writer, require_board_data, require_board_reader
    from services.alerts.consumer import AlertConsumer, ConsumerStats
    from services.alerts.lifecycle import EscalationPolicy
    from services.alerts.notify import DigestTiming, Notifier, senders_from_settings
    from services.alerts.routing import load_routing, seed_routes
    from services.board.authority_feed import AuthorityPublisher
    from services.board.early_warning import SpcSettings
    from services.board.feed import DeltaFeed
    from services.board.metrics import BoardCollector, ReturnHealthCollector, latest_snapshot
    from services.board.store import latest_return_health
    from services.board.web import DataAccess, build_router

    url = settings.database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    if settings.alerts.routes is not None:
        config = load_routing(settings.alerts.routes)
        with session_factory(engine).begin() as session:
            seed_routes(session, config)
        log.info("routing loaded from %s: %d teams", settings.alerts.routes, len(config.teams))
    else:
        log.warning("no CAREWATCH_ALERTS_ROUTES file: notifying only the routes already in the database")

    stop = threading.Event()
    stats = ConsumerStats()
    notifier = Notifier(
        engine,
        DigestTiming.from_settings(settings),
        EscalationPolicy(settings.alerts.escalation_working_days),
        senders_from_settings(settings),
        settings.web.public_url or f"http://{settings.web.host}:{settings.web.port}",
        include_child_ids=settings.notify.include_child_id,
    )

    def notify_loop() -> None:
        while not stop.is_set():
            try:
                notifier.tick(datetime.now(UTC))
            except Exception:
                log.exception("notifier tick failed; trying again next tick")
            stop.wait(settings.notify.tick_seconds)

    with broker_from_settings(settings.broker.kafka_bootstrap) as bootstrap:
        ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication)
        group, batch = settings.alerts.group_id, settings.alerts.batch_size
        consumer = AlertConsumer(bootstrap, engine, group, batch, stats)
        # The board's month-end reading of its series publishes the authority alerts this consumer stores.
        authority = AuthorityPublisher(
            bootstrap,
            engine,
            population=settings.board.population_0_17,
            watched=SpcSettings.of(settings.board).watched,
        )
        board_feed = DeltaFeed(bootstrap, engine, stats=stats, authority=authority)
        threads = [
            threading.Thread(target=consumer.run, args=(stop,), name="alerts-consumer", daemon=True),
            threading.Thread(target=notify_loop, name="alerts-notifier", daemon=True),
            threading.Thread(target=board_feed.run, args=(stop,), name="board-feed", daemon=True),
        ]
        for thread in threads:
            thread.start()
        if threading.current_thread() is threading.main_thread():
            # uvicorn shuts down gracefully, then re-raises SIGTERM: turn it into a normal exit so the
            # consumer and notifier are stopped below and the exit status is 0.
            signal.signal(signal.SIGTERM, _exit_quietly)
        try:
            app = create_app(
                settings,
                engine,
                consumer_stats=stats,
                extra_routers=[
                    build_router(
                        engine,
                        settings,
                        require_board_reader,
                        DataAccess(require_board_data, frozenset(BOARD_DATA_ROLES), audit_writer(engine)),
                    )
                ],
                extra_collectors=[
                    BoardCollector(latest_snapshot(engine, settings)),
                    ReturnHealthCollector(lambda: latest_return_health(engine)),
                ],
            )
            from carewatch.httpguard import redact_access_log

            redact_access_log()
            uvicorn.run(app, host=settings.web.host, port=settings.web.port, log_level="info")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            consumer.close()
            board_feed.close()
            engine.dispose()


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)
