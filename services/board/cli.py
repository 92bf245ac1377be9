"""``carewatch board-pack`` and ``carewatch board-snapshots``."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from carewatch.settings import Settings
    from schemas.events import CaseEvent
    from services.board.core.comparators import Comparators
    from services.board.core.disclosure import Audience


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _comparators(settings: Settings) -> Comparators:
    from services.board.core import comparators

    try:
        return comparators.load(
            neighbours=settings.board.neighbours_csv,
            targets=settings.board.targets_csv,
            amber_band=settings.board.amber_band,
        )
    except comparators.ComparatorFileError as exc:
        raise _fail(str(exc)) from None


def _events(path: Path) -> list[CaseEvent]:
    from services.rules.replay import read_events

    events, rejected = read_events(path)
    for bad in rejected[:20]:
        typer.echo(f"{path}:{bad.line}: rejected: {bad.reason}", err=True)
    if rejected:
        typer.echo(f"{len(rejected)} line(s) of {path} rejected, {len(events)} events used", err=True)
    return events


def _engine(settings: Settings) -> Any:
    from carewatch.db import make_engine, migrate

    url = settings.database.sqlalchemy_url()
    migrate(url)
    return make_engine(url)


def uncomputed_warnings(trend: dict[date, dict[str, Any]], population: int | None) -> list[str]:
    """Plain warnings, one per cause, for the figures of ``trend`` that could not be computed (not those
    hidden by disclosure control, which the pack explains itself)."""
    from services.board.core.catalogue import INDICATORS

    warnings: list[str] = []
    if population is None:
        titles = [indicator.title for indicator in INDICATORS.values() if indicator.needs_population]
        warnings.append(
            "no child population is configured (CAREWATCH_BOARD_POPULATION_0_17, children aged 0-17 in the area), "
            f"so these are not computed: {'; '.join(titles)}"
        )
    empty: dict[str, int] = {}
    for summary in trend.values():
        for id_, entry in summary["indicators"].items():
            if INDICATORS[id_].needs_population or entry["suppressed"] or entry["value"] is not None:
                continue
            empty[id_] = empty.get(id_, 0) + 1
    for id_, count in empty.items():
        warnings.append(
            f"{INDICATORS[id_].title}: not computed on {count} of {len(trend)} date(s): no children in the group"
        )
    return warnings


EventsOption = Annotated[
    Path | None,
    typer.Option("--events", exists=True, dir_okay=False, help="Build from this NDJSON events file."),
]


def board_pack(
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the figures (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory for the HTML, CSV and XLSX.")],
    events: EventsOption = None,
    months: Annotated[int, typer.Option("--months", min=1, max=60, help="Months of trend before --as-of.")] = 12,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="Disclosure rules: internal (the authority's own board) or public (published papers); "
            "default CAREWATCH_BOARD_AUDIENCE, else internal.",
        ),
    ] = None,
) -> None:
    """Write the Corporate Parenting Board pack (HTML + CSV + XLSX) as of --as-of.

    Figures come from --events when given (replayed with a daily clock; the pack then also has the
    early-warning SPC charts of the watched series), otherwise from the daily snapshots in the database
    (each trend date uses the latest snapshot on or before it).
    """
    from dataclasses import replace

    from carewatch.settings import get_settings
    from services.board.core.summary import build_summary
    from services.board.pack import Pack, example_notes, from_snapshots, trend_dates, write_pack
    from services.board.replay import snapshots

    settings = get_settings()
    day = _day(as_of)
    chosen = settings.board.audience if audience is None else audience
    if chosen not in ("internal", "public"):
        raise _fail(f"--audience must be internal or public, not {audience!r}")
    rules: Audience = "public" if chosen == "public" else "internal"
    comparators = _comparators(settings)
    wanted = trend_dates(day, months)

    def summarise(aggregate: Any, when: date) -> dict[str, Any]:
        return build_summary(
            aggregate,
            when,
            settings.board.suppression_threshold,
            population=settings.board.population_0_17,
            comparators=comparators,
            audience=rules,
        )

    if events is not None:
        from services.board.early_warning import SpcSettings, kernel_panels, panels, spc_month_ends

        history = _events(events)
        ends = spc_month_ends(day)
        totals = snapshots(history, [*wanted, *ends], progress=sys.stderr.isatty())
        trend = {when: summarise(aggregate, when) for when, aggregate in totals.items() if when in wanted}
        origin = f"case events ({events.name}), replayed day by day"
        spc_settings = SpcSettings.of(settings.board)
        spc = panels(
            history,
            day,
            population=settings.board.population_0_17,
            audience=rules,
            threshold=settings.board.suppression_threshold,
            spc=spc_settings,
        ) + kernel_panels({end: summarise(totals[end], end) for end in ends}, day, spc=spc_settings)
        pack = Pack(settings.board.authority_name, trend[max(trend)], trend, origin, spc=spc)
    else:
        engine = _engine(settings)
        stored = from_snapshots(
            engine,
            settings.board.authority_name,
            day,
            months,
            settings.board.suppression_threshold,
            settings.board.population_0_17,
            comparators,
            audience=rules,
        )
        engine.dispose()
        if stored is None:
            raise _fail(f"no board snapshot on or before {day}: run `carewatch board-snapshots` or pass --events")
        pack = stored
    pack = replace(pack, examples=example_notes(settings.board.neighbours_csv, settings.board.targets_csv))
    for warning in uncomputed_warnings(pack.trend, settings.board.population_0_17):
        typer.echo(f"warning: {warning}", err=True)
    paths = write_pack(out, pack)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")


def board_snapshots(
    events: Annotated[Path, typer.Option("--events", exists=True, dir_okay=False, help="NDJSON events file.")],
    first: Annotated[str, typer.Option("--from", help="First day to snapshot (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day to snapshot (YYYY-MM-DD).")],
) -> None:
    """Replay --events and write one indicator snapshot per day from --from to --to into the database
    (a day already stored is replaced, so a rebuild gives the same rows)."""
    from carewatch.settings import get_settings
    from services.board import store
    from services.board.replay import snapshots

    start, end = _day(first), _day(last)
    if end < start:
        raise _fail("--to is before --from")
    settings = get_settings()
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    totals = snapshots(_events(events), days, progress=sys.stderr.isatty())
    engine = _engine(settings)
    rows = store.save(engine, totals)
    engine.dispose()
    typer.echo(f"{len(totals)} daily snapshots ({rows} rows) written for {start} to {end}")
