"""``carewatch import-903``: an SSDA903 return (CSV files or XML) → case events, NDJSON or the broker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

PUBLISH_BATCH = 2000


def import_903(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            help="Directory holding the return's CSV files or XML.",
        ),
    ],
    year: Annotated[
        int,
        typer.Option(
            "--year",
            min=2000,
            max=2100,
            help="Collection year, named by its end: 2018 = 1 April 2017–31 March 2018.",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            help="Write events as NDJSON to this file ('-' = stdout; default stdout unless --bootstrap)."
        ),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="host:port of Kafka: send the events to the case-events topic.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write rejected/skipped rows and closing counts here (.ndjson or .csv)."),
    ] = None,
) -> None:
    """Convert an SSDA903 return into carewatch events.

    Every row is converted, rejected or skipped with a reason; closing counts per file go to stderr.
    """
    import orjson
    from tqdm import tqdm

    from services.ingest.ssda903.convert import convert
    from services.ingest.ssda903.report import print_counts, write_report
    from services.ingest.ssda903.source import ReturnNotFound, read_return

    try:
        files = read_return(directory)
    except (ReturnNotFound, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    rows = [row for source in files for row in source.rows]
    with tqdm(total=len(rows), desc="converting rows", unit="row", file=sys.stderr, disable=None) as bar:
        result = convert(rows, year, progress=bar.update)
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
        _publish(
            bootstrap,
            [(event["child_id"].encode(), line) for event, line in zip(result.events, lines, strict=True)],
        )
    if report is not None:
        write_report(report, result, files)
    for source in files:
        if source.note:
            typer.echo(f"note: {source.name}: {source.note}", err=True)
    print_counts(result.tallies(), sys.stderr)


def _batches(records: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def _publish(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    from tqdm import tqdm

    from carewatch.broker import ensure_topics
    from carewatch.settings import get_settings
    from schemas.topics import CASE_EVENTS
    from services.ingest.producer import IngestProducer, PublishError

    settings = get_settings()
    ensure_topics(bootstrap, settings.topic_partitions, settings.topic_replication, names=[CASE_EVENTS])
    producer = IngestProducer(bootstrap, linger_ms=20, client_id="carewatch-import-903")
    try:
        bar = tqdm(total=len(records), desc="sending events", unit="event", file=sys.stderr, disable=None)
        with bar:
            for batch in _batches(records, PUBLISH_BATCH):
                bar.update(producer.publish(batch))
    except PublishError as exc:
        typer.echo(f"error: {exc} (re-running the import is safe: event ids are deterministic)", err=True)
        raise typer.Exit(1) from None
    finally:
        producer.close()
