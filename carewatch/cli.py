"""The ``carewatch`` command line (CONTRACT §4).

Each sub-command lives beside the service it drives; this module only assembles them. Heavy imports
(faust, SQLAlchemy, matplotlib) happen inside the commands, so ``carewatch --help`` stays quick.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from schemas.alerts import AlertTransition
    from schemas.events import CaseEvent

app = typer.Typer(
    name="carewatch",
    help=(
        "carewatch tracks children in care case by case: it ingests care events, applies statutory clocks "
        "and patterns, raises danger-indicator alerts for service managers and keeps rolling indicators "
        "for the Corporate Parenting Board.\n\n"
        "Start with `carewatch demo` to see it run on a synthetic local authority."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at debug level.")) -> None:
    configure_logging(verbose)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request or broker reconnect drowns what a person needs to read. Never below INFO even
    # when verbose: kafka-python's debug lines dump raw protocol bytes, record values (child ids) among them.
    for chatty in ("httpx", "kafka", "alembic"):
        logging.getLogger(chatty).setLevel(logging.INFO if verbose else logging.WARNING)


class Service(enum.StrEnum):
    ingest = "ingest"
    rules = "rules"
    alerts = "alerts"


@app.command()
def serve(
    service: Service = typer.Argument(
        ...,
        help="ingest: HTTP intake; rules: the faust worker; alerts: consumer, notifier, API, pages and board.",
    ),
) -> None:
    """Run one service in the foreground, configured from CAREWATCH_* settings (for deployment)."""
    from carewatch import settings

    # Each service reads its own sections of the settings only.
    if service is Service.ingest:
        from services.ingest.cli import serve as run_ingest

        run_ingest(settings.ingest_settings())
    elif service is Service.rules:
        from services.rules.stream.cli import serve as run_rules

        run_rules(settings.rules_settings())
    else:
        from services.alerts.cli import serve as run_alerts

        run_alerts(settings.alerts_settings())


def _authority_alerts(events: Sequence[CaseEvent], until: date) -> list[AlertTransition]:
    """The board's authority alerts over a replayed history (``replay --out`` writes them with the rest)."""
    from carewatch.settings import get_settings
    from services.board.early_warning import SpcSettings, authority_alerts

    board = get_settings().board
    return authority_alerts(events, until, population=board.population_0_17, watched=SpcSettings.of(board).watched)


def _authority_part(events: Sequence[CaseEvent], until: date) -> Any:
    """One shard's part in the authority alerts of a history replayed in shards."""
    from carewatch.settings import get_settings
    from services.board.early_warning import SpcSettings, authority_part

    return authority_part(events, until, watched=SpcSettings.of(get_settings().board).watched)


def _authority_join(parts: list[Any], until: date) -> list[AlertTransition]:
    """The authority alerts from every shard's part: those of :func:`_authority_alerts` over the whole."""
    from carewatch.settings import get_settings
    from services.board.early_warning import SpcSettings, authority_alerts_of

    board = get_settings().board
    return authority_alerts_of(parts, until, population=board.population_0_17, watched=SpcSettings.of(board).watched)


def _register() -> None:
    """Attach the services' commands (kept in their own packages)."""
    from services.board.core.summary import summary_of_totals
    from services.rules import cli as rules_cli

    authority = rules_cli.Authority(_authority_alerts, _authority_part, _authority_join)
    app.command("replay")(rules_cli.replay_command(summary_of_totals, authority))
    app.add_typer(rules_cli.rules_app, name="rules")
    from services.ingest import cli as ingest_cli

    app.command("ingest")(ingest_cli.ingest)
    from services.ingest import dlq as dlq_cli

    app.add_typer(dlq_cli.dlq_app, name="dlq")
    from services.ingest.ssda903 import cli as ssda903_cli

    app.command("import-903")(ssda903_cli.import_903)
    app.command("export-903")(ssda903_cli.export_903)
    app.command("return-health")(ssda903_cli.return_health)
    from services.ingest.cin import cli as cin_cli

    app.command("import-cin")(cin_cli.import_cin)
    from services.board import cli as board_cli

    app.command("board-pack")(board_cli.board_pack)
    app.command("board-snapshots")(board_cli.board_snapshots)
    from services.board import annex_a as annex_a_cli

    app.command("annex-a")(annex_a_cli.annex_a)
    from services.alerts import cli as alerts_cli

    app.add_typer(alerts_cli.users, name="users")
    from services.archive import cli as archive_cli

    app.add_typer(archive_cli.archive_app, name="archive")
    app.command("reconcile")(archive_cli.reconcile)
    from services.demo import cli as demo_cli

    app.command("demo")(demo_cli.demo)


_register()
