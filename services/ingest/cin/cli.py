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
    from tqdm import tqdm

    from services.ingest.cin import stream
    from services.ingest.cin.convert import header_note
    from services.ingest.cin.source import CensusReader, CensusRefused
    from services.ingest.ssda903.cli import _publish, _write_events
    from services.ingest.ssda903.report import print_counts, write_report
    from services.ingest.ssda903.source import SourceFile

    reader = CensusReader(file)
    # read one Child at a time and converted child by child; the events and outcomes wait in sorted runs on
    # disk until the whole file is read: memory does not grow with the return, and nothing is written out
    # from a file refused part way through
    bar = tqdm(
        desc="reading children",
        total=file.stat().st_size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None,
    )
    with stream.Workspace(prefix=stream.PREFIX) as workspace, bar:

        def again() -> None:
            bar.set_description("an LAchildID is used twice: reading again", refresh=False)
            bar.reset(total=file.stat().st_size)

        try:
            result = stream.convert_streamed(
                reader, year, workspace, spill_at=stream.SPILL_AT, progress=bar.update, again=again
            )
        except CensusRefused as exc:
            bar.close()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        bar.close()
        if out is not None or bootstrap is None:
            _write_events(result.events, out)
        if bootstrap is not None:
            _publish(bootstrap, result.events, len(result.events))
        note = header_note(reader.header, year)
        if report is not None:
            write_report(report, result, [SourceFile(reader.name, "xml", [], note)])
    if note:
        typer.echo(f"note: {reader.name}: {note}", err=True)
    print_counts(result.tallies(), sys.stderr)
