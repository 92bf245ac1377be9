"""The ``carewatch`` command line (CONTRACT §4).

Each sub-command lives beside the service it drives; this module only assembles them. Heavy imports
(faust, SQLAlchemy, matplotlib) happen inside the commands, so ``carewatch --help`` stays quick.
"""

from __future__ import annotations

import logging

import typer

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
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    """Attach the services' commands (kept in their own packages)."""


_register()
