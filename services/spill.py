"""Temporary files for work larger than memory, shared by the commands that need them: one temporary
directory for all of a command's files, removed when its ``with`` block ends, on success, on error, on
Ctrl-C and on SIGTERM (:class:`Workspace`), and items sorted with a bounded number of them in memory, as
sorted runs on disk merged when read (:class:`RunSorter`, :func:`read_run`).

Used by ``import-903`` and ``import-cin`` (through :mod:`services.ingest.spill`) and by the sharded
``carewatch replay`` (:mod:`services.rules.sharded`).
"""

from __future__ import annotations

import heapq
import pickle
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, Self

SPILL_AT: Final = 20_000
"""Events (or outcomes) held in memory before a sorted run of them is written to a file."""
FAN_IN: Final = 64
"""At most this many runs are merged at once (more are merged into fewer runs first)."""


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
            merged = self._write(heapq.merge(*(read_run(path) for path in group)))
            for path in group:
                path.unlink()
            self.runs.append(merged)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if not self.runs:
            return iter(self.buffer)
        return heapq.merge(*(read_run(path) for path in self.runs))

    def __len__(self) -> int:
        return self.count


def read_run(path: Path) -> Iterator[tuple[Any, ...]]:
    """The items of a file written one pickle after another, in order."""
    with path.open("rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


class Workspace:
    """A temporary directory for the parts and runs, removed when the ``with`` block ends, however it ends.

    Inside the block SIGTERM (what a service manager or ``kill`` sends) ends the process as Ctrl-C does, through
    Python's unwinding, so the directory is removed then too; the exit status is 143 (128 + SIGTERM), as if the
    signal had ended the process.
    """

    def __init__(self, parent: Path | None = None, *, prefix: str = "carewatch-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._previous_sigterm: Any = None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
