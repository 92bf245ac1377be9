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
``with`` block ends: on success, on error and on Ctrl-C.
"""

from __future__ import annotations

import heapq
import pickle
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import orjson

from services.ingest.ssda903 import convert
from services.ingest.ssda903.convert import KEYED_EVENT, RowOutcome, Tally
from services.ingest.ssda903.source import Fields, SourceRow

SPILL_AT: Final = 20_000
"""Events (or outcomes) held in memory before a sorted run of them is written to a file."""
PART_BYTES: Final = 1 << 19
"""Bytes of return files per part: a part's rows are converted together, in memory."""
MAX_PARTS: Final = 512
"""At most this many part files are open at once while the rows are shared out."""
FAN_IN: Final = 64
"""At most this many runs are merged at once (more are merged into fewer runs first)."""


def parts_for(size: int) -> int:
    """The number of parts for returns of ``size`` bytes: one per :data:`PART_BYTES`, at most :data:`MAX_PARTS`."""
    return max(1, min(MAX_PARTS, -(-size // PART_BYTES)))


class RunSorter:
    """Items sorted with at most ``spill_at`` of them in memory: full batches are written to ``directory`` as
    sorted runs (one pickle per item) and merged when read. Iterate after :meth:`finish`, as often as needed.

    The items are tuples whose leading fields are distinct (the rest is never compared)."""

    def __init__(self, directory: Path, name: str, spill_at: int = SPILL_AT) -> None:
        self.directory, self.name, self.spill_at = directory, name, spill_at
        self.buffer: list[tuple[Any, ...]] = []
        self.runs: list[Path] = []
        self.count = 0
        self.written = 0

    def add(self, item: tuple[Any, ...]) -> None:
        self.buffer.append(item)
        self.count += 1
        if len(self.buffer) >= self.spill_at:
            self._spill()

    def _spill(self) -> None:
        self.buffer.sort()
        self.runs.append(self._write(self.buffer))
        self.buffer.clear()

    def _write(self, items: Iterable[tuple[Any, ...]]) -> Path:
        self.written += 1
        path = self.directory / f"{self.name}-{self.written}.run"
        with path.open("wb") as handle:
            for item in items:
                handle.write(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
        return path

    def finish(self) -> None:
        """Everything added is sorted: the last batch written as a run if others were (else kept in memory)."""
        if self.runs and self.buffer:
            self._spill()
        self.buffer.sort()
        while len(self.runs) > FAN_IN:
            group, self.runs = self.runs[:FAN_IN], self.runs[FAN_IN:]
            merged = self._write(heapq.merge(*(_read(path) for path in group)))
            for path in group:
                path.unlink()
            self.runs.append(merged)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if not self.runs:
            return iter(self.buffer)
        return heapq.merge(*(_read(path) for path in self.runs))

    def __len__(self) -> int:
        return self.count


def _read(path: Path) -> Iterator[tuple[Any, ...]]:
    with path.open("rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


class Events:
    """The converted events in output order (date, child, episode order), each read back as a dict."""

    def __init__(self, sorter: RunSorter) -> None:
        self._sorter = sorter

    def __iter__(self) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        return (loads(item[KEYED_EVENT]) for item in self._sorter)

    def __len__(self) -> int:
        return len(self._sorter)


class Outcomes:
    """Every row's outcome, in the order the rows were read."""

    def __init__(self, sorter: RunSorter) -> None:
        self._sorter = sorter

    def __iter__(self) -> Iterator[RowOutcome]:
        return (RowOutcome(*item[1]) for item in self._sorter)

    def __len__(self) -> int:
        return len(self._sorter)


@dataclass
class StreamedImport:
    """What :func:`convert_streamed` gives: the same as an :class:`~convert.ImportResult`, read from files."""

    events: Events
    outcomes: Outcomes
    counts: dict[tuple[str, str], Tally]
    changes: list[str] = field(default_factory=list)

    def tallies(self) -> list[Tally]:
        return [self.counts[key] for key in sorted(self.counts)]


class Workspace:
    """A temporary directory for the parts and runs, removed when the ``with`` block ends, however it ends."""

    def __init__(self, parent: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="carewatch-903-", dir=parent))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


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
            # the key as it was, the event as JSON text (a fraction of a dict's memory; text, not the bytes
            # orjson gives, which keep the whole of its write buffer); the row number is not needed
            events.add((*entry[:KEYED_EVENT], orjson.dumps(entry[KEYED_EVENT], option=orjson.OPT_SORT_KEYS).decode()))
        keyed.clear()
        for index, outcome in zip(indices, done, strict=True):
            if outcome.file == hidden_file:
                continue
            tally = counts.setdefault((outcome.file, outcome.table), Tally(outcome.file, outcome.table))
            tally.read += 1
            setattr(tally, outcome.status, getattr(tally, outcome.status) + 1)
            tally.events += len(outcome.event_ids)
            tally.problems += len(outcome.problems)
            outcomes.add((index, _fields_of(outcome)))
    events.finish()
    outcomes.finish()
    return StreamedImport(Events(events), Outcomes(outcomes), counts)


def _fields_of(outcome: RowOutcome) -> tuple[Any, ...]:
    return (
        outcome.file,
        outcome.table,
        outcome.row,
        outcome.locator,
        outcome.status,
        outcome.field,
        outcome.reason,
        outcome.event_ids,
        outcome.problems,
    )


def _load(
    path: Path, shapes: dict[int, tuple[tuple[str, ...], dict[str, int]]]
) -> tuple[list[int], list[int], list[SourceRow | None]]:
    """One part's rows, in the order read, with their row numbers in the whole and their years."""
    indices: list[int] = []
    row_years: list[int] = []
    rows: list[SourceRow | None] = []
    pool: dict[str, str] = {}
    held = pool.setdefault
    for index, year, file, table, number, locator, shape, values in _read(path):
        indices.append(index)
        row_years.append(year)
        if shape >= 0:
            columns, positions = shapes[shape]
            fields: Any = Fields(columns, positions, tuple(held(value, value) for value in values))
        else:
            fields = values
        rows.append(SourceRow(held(file, file), held(table, table), number, locator, fields))
    return indices, row_years, rows
