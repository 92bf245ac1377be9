"""Loading event files into the broker in acknowledged batches, with a reject file beside them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from services.ingest.files import EventFile
from services.ingest.metrics import IngestMetrics
from services.ingest.producer import Archiver, IngestProducer, PublishError, write_outcomes
from services.ingest.records import Origin
from services.ingest.validation import Accepted, BatchValidator, Outcome, Rejected


@dataclass
class Counts:
    received: int = 0
    accepted: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.rejected += other.rejected

    def line(self) -> str:
        return f"received {self.received} = accepted {self.accepted} + rejected {self.rejected}"


class RejectLog:
    """NDJSON of rejected lines (file, line, reasons, original); created only when there is a rejection,
    so a clean load leaves no empty file behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._handle: IO[bytes] | None = None

    def write(self, file: Path, line: int, rejected: Rejected) -> None:
        if self._handle is None:
            self._handle = self.path.open("wb")
        record: dict[str, Any] = {
            "file": str(file),
            "line": line,
            "reason": rejected.reason,
            "errors": [error.to_json() for error in rejected.errors],
            "original": rejected.original.decode("utf-8", errors="replace"),
        }
        self._handle.write(orjson.dumps(record) + b"\n")
        self.written += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class LoadInterrupted(RuntimeError):
    """The broker failed part-way: ``confirmed_through`` is the last line known written."""

    def __init__(self, path: Path, confirmed_through: int, cause: PublishError) -> None:
        super().__init__(
            f"{path}: {cause}. Lines up to {confirmed_through} are written; the rest are not. "
            "Run the same command again: events already written are recognised by event_id and ignored."
        )
        self.confirmed_through = confirmed_through


def load_file(
    event_file: EventFile,
    producer: IngestProducer,
    rejects: RejectLog,
    *,
    batch_size: int = 1000,
    metrics: IngestMetrics | None = None,
    on_progress: Callable[[int], None] = lambda _bytes: None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    archive: Archiver | None = None,
) -> Counts:
    """Validate and write one file, ``batch_size`` lines at a time, each batch acknowledged before the next.

    Duplicate event_ids are judged across the whole file (the file is one batch for that purpose).
    Raises :class:`LoadInterrupted` when the broker fails.
    """
    counts = Counts()
    validator = BatchValidator(now())
    confirmed_through = 0
    name = str(event_file.path)
    batch: list[tuple[int, Outcome]] = []

    def flush() -> None:
        nonlocal confirmed_through
        if not batch:
            return
        try:
            write_outcomes(
                producer,
                [(outcome, Origin.file(name, line)) for line, outcome in batch],
                received_at=validator.received_at,
                archive=archive,
            )
        except PublishError as exc:
            raise LoadInterrupted(event_file.path, confirmed_through, exc) from exc
        for line, outcome in batch:
            counts.received += 1
            if isinstance(outcome, Accepted):
                counts.accepted += 1
            else:
                counts.rejected += 1
                rejects.write(event_file.path, line, outcome)
        if metrics is not None:
            outcomes = [outcome for _, outcome in batch]
            metrics.count_received(outcomes)
            metrics.count_written(outcomes)
        confirmed_through = batch[-1][0]
        batch.clear()
        on_progress(event_file.bytes_read)

    for line, item in event_file:
        batch.append((line, item if isinstance(item, Rejected) else validator.check(item)))
        if len(batch) >= batch_size:
            flush()
            validator.received_at = now()
    flush()
    on_progress(event_file.bytes_read)
    return counts
