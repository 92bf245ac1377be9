"""SSDA903 returns converted with bounded memory: the same events, in the same order, and the same row
outcomes as :func:`services.ingest.ssda903.convert.convert_returns`, whatever the size of the returns.

How: a row's outcome and events depend only on the rows of its own child (event ids, duplicates, episode
chains and child details are all per child), apart from two facts of the whole: the latest collection year
and the years in which some episode is kept. So the rows are first written, compactly, to ``parts`` files by
child (a hash of the CHILD value), those two facts noted on the way; each part is then converted alone by
:func:`~services.ingest.ssda903.convert.convert_part`. The events (sort key and encoded event) and the
outcomes (row number in the whole and outcome) go to :class:`RunSorter` s, which keep at most ``spill_at``
items in memory and write each full batch as a sorted run to a file; the runs are merged (``heapq.merge``) as
the events are written out. Every file lives in one temporary directory, removed when the conversion's
``with`` block ends: on success, on error and on Ctrl-C (both in :mod:`services.ingest.spill`, shared with
the CIN census import).
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Final

from services.ingest.spill import (
    SPILL_AT,
    Events,
    Outcomes,
    RunSorter,
    StreamedImport,
    Workspace,
    event_text,
    outcome_fields,
    read_run,
)
from services.ingest.ssda903 import convert
from services.ingest.ssda903.convert import KEYED_EVENT, Tally
from services.ingest.ssda903.source import Fields, SourceRow

__all__ = ["SPILL_AT", "Events", "Outcomes", "RunSorter", "StreamedImport", "Workspace", "convert_streamed"]

PART_BYTES: Final = 1 << 19
"""Bytes of return files per part: a part's rows are converted together, in memory."""
MAX_PARTS: Final = 512
"""At most this many part files are open at once while the rows are shared out."""


def parts_for(size: int) -> int:
    """The number of parts for returns of ``size`` bytes: one per :data:`PART_BYTES`, at most :data:`MAX_PARTS`."""
    return max(1, min(MAX_PARTS, -(-size // PART_BYTES)))


def _pack(index: int, year: int, row: SourceRow, columns: dict[tuple[str, ...], int]) -> bytes:
    fields = row.fields
    if isinstance(fields, Fields):
        shape = columns.setdefault(fields.columns, len(columns))
        values: Any = fields.cells
    else:
        shape, values = -1, dict(fields)
    return pickle.dumps(
        (index, year, row.file, row.table, row.row, row.locator, shape, values), pickle.HIGHEST_PROTOCOL
    )


def convert_streamed(
    returns: Sequence[tuple[int, Iterable[SourceRow]]],
    workspace: Workspace,
    *,
    parts: int,
    spill_at: int = SPILL_AT,
    hidden_file: str | None = None,
    reading: Callable[[int], None] | None = None,
    read_all: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> StreamedImport:
    """Convert several returns (collection year, rows) into one history, as ``convert_returns`` does, with
    at most one part of the rows (about 1/``parts``) and ``spill_at`` events and outcomes in memory.

    ``hidden_file``: rows of this file are converted (their events count) but their outcomes are not kept
    (earlier events given back as rows). ``reading`` is told of rows shared out, ``progress`` of rows
    converted; ``read_all`` of the number of rows once all are read. The files live in ``workspace``:
    read the result before its ``with`` block ends."""
    columns: dict[tuple[str, ...], int] = {}
    latest = 0
    episode_years: set[int] = set()
    handles: list[IO[bytes]] = []
    total = 0
    try:
        for number in range(parts):
            handles.append((workspace.path / f"part-{number}.rows").open("wb"))
        for year, source in returns:
            latest = max(latest, year)
            for row in source:
                if year not in episode_years and convert.has_episode(row, year):
                    episode_years.add(year)
                child = row.fields.get("CHILD", "").strip()
                handles[zlib.crc32(child.encode()) % parts].write(_pack(total, year, row, columns))
                total += 1
                if reading is not None and total % 1000 == 0:
                    reading(1000)
        if reading is not None and total % 1000:
            reading(total % 1000)
    finally:
        for handle in handles:
            handle.close()
    if read_all is not None:
        read_all(total)
    shapes = {
        number: (shape, {name: position for position, name in enumerate(shape)}) for shape, number in columns.items()
    }
    events = RunSorter(workspace.path, "events", spill_at)
    outcomes = RunSorter(workspace.path, "outcomes", spill_at)
    counts: dict[tuple[str, str], Tally] = {}
    for number in range(parts):
        path = workspace.path / f"part-{number}.rows"
        indices, row_years, rows = _load(path, shapes)
        path.unlink()
        keyed, done = convert.convert_part(rows, row_years, latest, episode_years, progress)
        del rows
        for entry in keyed:
            # the key as it was, the event as JSON text; the row number is not needed
            events.add((*entry[:KEYED_EVENT], event_text(entry[KEYED_EVENT])))
        keyed.clear()
        for index, outcome in zip(indices, done, strict=True):
            if outcome.file == hidden_file:
                continue
            convert.count(counts, outcome)
            outcomes.add((index, outcome_fields(outcome)))
    events.finish()
    outcomes.finish()
    return StreamedImport(Events(events), Outcomes(outcomes), counts)


def _load(
    path: Path, shapes: dict[int, tuple[tuple[str, ...], dict[str, int]]]
) -> tuple[list[int], list[int], list[SourceRow | None]]:
    """One part's rows, in the order read, with their row numbers in the whole and their years."""
    indices: list[int] = []
    row_years: list[int] = []
    rows: list[SourceRow | None] = []
    pool: dict[str, str] = {}
    held = pool.setdefault
    for index, year, file, table, number, locator, shape, values in read_run(path):
        indices.append(index)
        row_years.append(year)
        if shape >= 0:
            columns, positions = shapes[shape]
            fields: Any = Fields(columns, positions, tuple(held(value, value) for value in values))
        else:
            fields = values
        rows.append(SourceRow(held(file, file), held(table, table), number, locator, fields))
    return indices, row_years, rows
