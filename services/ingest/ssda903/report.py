"""The import report: one record per row not converted (with file, row, field and reason) and one closing
count per file and table, as NDJSON (``.ndjson``/``.jsonl``) or CSV (any other suffix).

Child ids are left out on purpose: the file and row number find the row, and the report may travel
further than the return itself.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

import orjson

from services.ingest.ssda903.convert import RowOutcome, Tally


class Result(Protocol):
    """An import's outcomes (held, or read back from disk), its changes and its counts."""

    @property
    def outcomes(self) -> Iterable[RowOutcome]: ...

    @property
    def changes(self) -> list[str]: ...

    def tallies(self) -> list[Tally]: ...


class Source(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def note(self) -> str | None: ...


COLUMNS: Final = (
    "kind", "file", "table", "row", "locator", "status", "field", "rule", "reason",
    "read", "converted", "rejected", "skipped", "events", "problems",
)  # fmt: skip


def records(result: Result, files: Sequence[Source]) -> Iterator[dict[str, Any]]:
    """Rows not converted, problems on converted rows, file notes, changes to earlier events, counts."""
    for outcome in result.outcomes:
        for rule, message in outcome.problems:
            yield {
                "kind": "problem",
                "file": outcome.file,
                "table": outcome.table,
                "row": outcome.row,
                "locator": outcome.locator,
                "status": outcome.status,
                "rule": rule,
                "reason": message,
            }
        if outcome.status == "converted":
            continue
        yield {
            "kind": "row",
            "file": outcome.file,
            "table": outcome.table,
            "row": outcome.row,
            "locator": outcome.locator,
            "status": outcome.status,
            "field": outcome.field,
            "reason": outcome.reason,
        }
    for source in files:
        if source.note:
            yield {"kind": "file", "file": source.name, "reason": source.note}
    for change in result.changes:
        yield {"kind": "change", "reason": change}
    for tally in result.tallies():
        yield {
            "kind": "count",
            "file": tally.file,
            "table": tally.table,
            "read": tally.read,
            "converted": tally.converted,
            "rejected": tally.rejected,
            "skipped": tally.skipped,
            "events": tally.events,
            "problems": tally.problems,
        }


def write_report(path: Path, result: Result, files: Sequence[Source]) -> None:
    rows = records(result, files)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() in {".ndjson", ".jsonl", ".json"}:
            for record in rows:
                handle.write(orjson.dumps({k: v for k, v in record.items() if v is not None}).decode() + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def print_counts(tallies: list[Tally], stream: TextIO) -> None:
    """The closing count per file and table: read = converted + rejected + skipped."""
    print(
        f"{'file':<28} {'table':<20} {'read':>7} {'converted':>9} {'rejected':>8} {'skipped':>7} {'events':>7}",
        file=stream,
    )
    total = Tally("total", "")
    for tally in tallies:
        print(
            f"{tally.file:<28} {tally.table:<20} {tally.read:>7} {tally.converted:>9} {tally.rejected:>8} "
            f"{tally.skipped:>7} {tally.events:>7}",
            file=stream,
        )
        for name in ("read", "converted", "rejected", "skipped", "events"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
    print(
        f"{'total':<28} {'':<20} {total.read:>7} {total.converted:>9} {total.rejected:>8} {total.skipped:>7} "
        f"{total.events:>7}",
        file=stream,
    )
    problems = sum(tally.problems for tally in tallies)
    if problems:
        print(f"{problems} chronology or coding problems on converted rows (DfE rule numbers in --report)", file=stream)
