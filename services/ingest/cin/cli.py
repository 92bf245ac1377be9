"""``carewatch import-cin``: a Children in Need census return (XML) → case events, NDJSON or the broker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def import_cin(
    file: Annotated[
        Path,
        typer.Argument(exists=True, file_okay=True, dir_okay=False, help="The census return (XML)."),
    ],
    year: Annotated[
        int,
        typer.Option(
            "--year",
            min=2000,
            max=2100,
            help="Collection year, named by its end: 2025 = 1 April 2024–31 March 2025.",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(help="Write events as NDJSON to this file ('-' = stdout; default stdout unless --bootstrap)."),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="host:port of Kafka: send the events to the case-events topic.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write rejected/skipped items and closing counts here (.ndjson or .csv)."),
    ] = None,
) -> None:
    """Convert a Children in Need census return into carewatch events.

    Every item (each block under Child, each review date) is converted, rejected or skipped with its XML
    path and reason; closing counts per table go to stderr. Hostile XML (DTDs, entities) is refused.
    """
    import orjson

    from services.ingest.cin.convert import convert, header_note
    from services.ingest.cin.source import CensusRefused, read_census
    from services.ingest.ssda903.cli import _publish
    from services.ingest.ssda903.report import print_counts, write_report
    from services.ingest.ssda903.source import SourceFile

    try:
        census = read_census(file)
    except CensusRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    result = convert(census, year)
    lines = [orjson.dumps(event, option=orjson.OPT_SORT_KEYS) for event in result.events]
    if out is not None or bootstrap is None:
        if out in (None, "-"):
            for line in lines:
                sys.stdout.buffer.write(line + b"\n")
            sys.stdout.buffer.flush()
        else:
            with Path(out).open("wb") as handle:
                handle.writelines(line + b"\n" for line in lines)
    if bootstrap is not None:
        _publish(bootstrap, result.events, len(result.events))
    note = header_note(census, year)
    if report is not None:
        write_report(report, result, [SourceFile(census.name, "xml", [], note)])
    if note:
        typer.echo(f"note: {census.name}: {note}", err=True)
    print_counts(result.tallies(), sys.stderr)
