"""``carewatch import-903``: an SSDA903 return (CSV files or XML) → case events, NDJSON or the broker."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

PUBLISH_BATCH = 2000


def import_903(
    directories: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            help="Directory holding a return's CSV files or XML; several returns: one directory each.",
        ),
    ],
    year: Annotated[
        list[int],
        typer.Option(
            "--year",
            min=2000,
            max=2100,
            help="Collection year, named by its end: 2018 = 1 April 2017–31 March 2018. One per directory.",
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
        typer.Option(help="Write rejected/skipped rows and closing counts here (.ndjson or .csv)."),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Events an earlier import sent (NDJSON): send only what changed, corrections as retractions.",
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Encoding of the CSV files when not UTF-8 (e.g. cp1252); default: detect or refuse."),
    ] = None,
) -> None:
    """Convert SSDA903 returns into carewatch events: one history across the years given.

    Every row is converted, rejected or skipped with a reason; closing counts per file go to stderr.
    """
    import orjson
    from tqdm import tqdm

    from services.ingest.ssda903 import export, stream
    from services.ingest.ssda903.report import print_counts, write_report
    from services.ingest.ssda903.source import ReturnNotFound, stream_return

    if len(year) != len(directories):
        typer.echo(f"error: {len(directories)} directories but {len(year)} --year: give one each", err=True)
        raise typer.Exit(2)
    try:
        returns = [(y, stream_return(d, encoding)) for d, y in zip(directories, year, strict=True)]
    except (ReturnNotFound, ValueError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    files = [source for _, sources in returns for source in sources]
    earlier: list[dict[str, Any]] = []
    prior: list[tuple[int, list[Any]]] = []
    if previous is not None:
        earlier = [orjson.loads(line) for line in previous.read_bytes().splitlines() if line.strip()]
        standing = [e for e in export.effective(earlier) if e.get("source") == export.SOURCE]
        prior = [(y, list(export.as_source_rows(standing, y, PREVIOUS))) for y in export.years_covered(standing)]
    size = sum(source.path.stat().st_size for source in files)
    # the rows are read file by file and shared out by child to temporary files, each share converted alone;
    # the events and outcomes wait in sorted runs on disk: memory does not grow with the return
    bar = tqdm(desc="reading rows", unit="row", file=sys.stderr, disable=None)
    with stream.Workspace(prefix="carewatch-903-") as workspace, bar:

        def converting(total: int) -> None:
            bar.set_description("converting rows", refresh=False)
            bar.reset(total=total)

        try:
            result = stream.convert_streamed(
                [
                    *((y, _handed_over([rows])) for y, rows in prior),
                    *((y, _rows_of(sources)) for y, sources in returns),
                ],
                workspace,
                parts=stream.parts_for(size) + sum(len(rows) for _, rows in prior) // PART_ROWS,
                spill_at=stream.SPILL_AT,
                hidden_file=PREVIOUS,
                reading=bar.update,
                read_all=converting,
                progress=bar.update,
            )
        except _Unreadable as exc:
            bar.close()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        del prior
        bar.close()
        events: list[dict[str, Any]] | stream.Events = result.events
        if previous is not None:
            reconciled = export.reconcile(earlier, list(result.events))
            events = reconciled.events
            typer.echo(
                f"since the previous events: {reconciled.added} new, {len(reconciled.corrected)} corrected, "
                f"{len(reconciled.removed)} removed",
                err=True,
            )
            result.changes = [_describe(old, new) for old, new in reconciled.corrected] + [
                f"removed {old['type']} {old['event_id']} ({old['occurred_at']})" for old in reconciled.removed
            ]
        if out is not None or bootstrap is None:
            _write_events(events, out)
        if bootstrap is not None:
            _publish(bootstrap, events, len(events))
        if report is not None:
            write_report(report, result, files)
    for source in files:
        if source.note:
            typer.echo(f"note: {source.name}: {source.note}", err=True)
    print_counts(result.tallies(), sys.stderr)


PREVIOUS = "(previous events)"
"""The file named in the rows made from the events of an earlier import (``--previous``)."""
PART_ROWS = 20_000
"""Rows of earlier events per part of the conversion (the return's files are shared out by size)."""


class _Unreadable(Exception):
    """A file of the return cannot be read (its header, its XML, its encoding)."""


def _rows_of(sources: Sequence[Any]) -> Iterator[Any]:
    """The rows of each file in turn, read as they are asked for."""
    for source in sources:
        try:
            yield from source.rows()
        except (ValueError, LookupError) as exc:
            raise _Unreadable(str(exc)) from exc


def _handed_over(lists: list[list[Any]]) -> Iterator[Any]:
    """The items of ``lists`` in order, each list emptied once read (so only the reader holds them)."""
    for items in lists:
        yield from items
        items.clear()


def _describe(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if k != "event_id" and old.get(k) != new.get(k)]
    changed = ", ".join(f"{k} {old.get(k)!r}→{new.get(k)!r}" for k in keys)
    return f"corrected {old['type']} {old['event_id']} → {new['event_id']}: {changed}"


def _load_events(events: Path | None, *, archive: bool = False) -> list[dict[str, Any]]:
    """The events of ``events`` (NDJSON); when None, those of the event archive in the configured database
    if ``archive``, otherwise an error."""
    import orjson

    if events is None and archive:
        return _archived_events()
    if events is None:
        typer.echo(
            "error: no events file given and no event archive is configured here: "
            "give the events as NDJSON (e.g. the output of import-903 or of the ingest archive)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        return [orjson.loads(line) for line in events.read_bytes().splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        typer.echo(f"error: {events.name} is not NDJSON: {exc}", err=True)
        raise typer.Exit(2) from None


def _engine() -> Any:
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings

    url = get_settings().database.sqlalchemy_url()
    migrate(url)
    return make_engine(url)


def _archived_events() -> list[dict[str, Any]]:
    from schemas.events import event_to_json
    from services.archive.store import events_in_fold_order

    engine = _engine()
    try:
        events = [event_to_json(event) for event in events_in_fold_order(engine)]
    finally:
        engine.dispose()
    typer.echo(f"{len(events)} events read from the event archive", err=True)
    return events


def export_903(
    events: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="Events as NDJSON (one per line).")
    ] = None,
    year: Annotated[
        int, typer.Option("--year", min=2000, max=2100, help="Collection year by its end (2018 = 2017/18).")
    ] = 0,
    out: Annotated[Path, typer.Option(file_okay=False, help="Directory for the CSV files.")] = Path("."),
) -> None:
    """Write the SSDA903 return for the year ending 31 March YEAR (DfE CSV layout) from the event history."""
    from services.ingest.ssda903.export import return_rows, write_return

    if not year:
        typer.echo("error: --year is required", err=True)
        raise typer.Exit(2)
    written = write_return(return_rows(_load_events(events), year), out)
    for name, count in written.items():
        typer.echo(f"{name:<14} {count:>7} rows", err=True)


def return_health(
    events: Annotated[
        Path | None,
        typer.Argument(
            exists=True, dir_okay=False, help="Events as NDJSON (one per line); the event archive when not given."
        ),
    ] = None,
    as_of: Annotated[
        str, typer.Option("--as-of", help="The day (YYYY-MM-DD): the return as if made then (default: today).")
    ] = "",
    validator_python: Annotated[
        Path | None,
        typer.Option(help="Python with csc-validator-be-903 installed (default: .venv-oracle/bin/python)."),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store", help="Also store the result for the board page and its metrics (run it daily)."),
    ] = False,
) -> None:
    """Records that would fail the DfE validation rules if the return were made on AS_OF, by rule.

    With --store the result is written to the database the board reads; a validator that cannot be run is
    stored as such (the board then says the count is unknown) and the command exits with status 2."""
    from datetime import UTC, date, datetime

    from services.ingest.ssda903.health import collection_year
    from services.ingest.ssda903.health import return_health as health
    from services.ingest.ssda903.validator import ValidatorUnavailable, run_validator

    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        typer.echo("error: --as-of must be a date YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    python = validator_python or Path(".venv-oracle/bin/python")
    history = _load_events(events, archive=True)
    checked_at = datetime.now(UTC)
    try:
        rows = health(history, day, lambda directory, year: run_validator(python, directory, year))
    except ValidatorUnavailable as exc:
        if store:
            _store_health(checked_at, day, collection_year(day), False, str(exc), [])
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if store:
        _store_health(checked_at, day, collection_year(day), True, "", rows)
    typer.echo(f"{'rule':<8} {'records':>7}  message")
    for rule, count, message in rows:
        typer.echo(f"{rule:<8} {count:>7}  {message}")
    typer.echo(f"{'total':<8} {sum(count for _, count, _ in rows):>7}")


def _store_health(
    checked_at: Any, day: Any, year: int, available: bool, detail: str, rows: list[tuple[str, int, str]]
) -> None:
    from services.board.store import ReturnHealth, save_return_health

    engine = _engine()
    try:
        save_return_health(engine, ReturnHealth(checked_at, day, year, available, detail, tuple(rows)))
    finally:
        engine.dispose()
    typer.echo(f"return health as of {day} stored", err=True)


def _write_events(events: Iterable[dict[str, Any]], out: str | None) -> None:
    """The events as NDJSON to the file ``out`` (stdout when None or '-'), serialised one at a time: a list
    of every line would hold the return's events twice."""
    import orjson

    option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    if out in (None, "-"):
        for event in events:
            sys.stdout.buffer.write(orjson.dumps(event, option=option))
        sys.stdout.buffer.flush()
    else:
        with Path(out).open("wb") as handle:
            for event in events:
                handle.write(orjson.dumps(event, option=option))


def _batches(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[tuple[bytes, bytes]]]:
    import orjson

    batch: list[tuple[bytes, bytes]] = []
    for event in events:
        batch.append((event["child_id"].encode(), orjson.dumps(event, option=orjson.OPT_SORT_KEYS)))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _publish(bootstrap: str, records: Iterable[dict[str, Any]], count: int) -> None:
    from tqdm import tqdm

    from carewatch.broker import ensure_topics
    from carewatch.settings import get_settings
    from schemas.topics import CASE_EVENTS
    from services.ingest.producer import IngestProducer, PublishError

    settings = get_settings()
    ensure_topics(bootstrap, settings.broker.topic_partitions, settings.broker.topic_replication, names=[CASE_EVENTS])
    producer = IngestProducer(bootstrap, linger_ms=20, client_id="carewatch-import-903")
    try:
        bar = tqdm(total=count, desc="sending events", unit="event", file=sys.stderr, disable=None)
        with bar:
            for batch in _batches(records, PUBLISH_BATCH):
                bar.update(producer.publish(batch))
    except PublishError as exc:
        typer.echo(f"error: {exc} (re-running the import is safe: event ids are deterministic)", err=True)
        raise typer.Exit(1) from None
    finally:
        producer.close()
