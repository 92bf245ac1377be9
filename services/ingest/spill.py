"""What an import needs to convert a return of any size with bounded memory: the events and outcomes read
back from sorted runs on disk (:class:`Events`, :class:`Outcomes`, :class:`StreamedImport`). The runs
(:class:`~services.spill.RunSorter`) and the temporary directory removed however the conversion ends
(:class:`~services.spill.Workspace`) are the shared ones of :mod:`services.spill`, re-exported here.

Used by ``import-903`` (:mod:`services.ingest.ssda903.stream`) and ``import-cin``
(:mod:`services.ingest.cin.stream`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.ingest.ssda903.convert import RowOutcome, Tally
from services.spill import FAN_IN, SPILL_AT, RunSorter, Workspace, read_run

__all__ = [
    "FAN_IN",
    "SPILL_AT",
    "Events",
    "Outcomes",
    "RunSorter",
    "StreamedImport",
    "Workspace",
    "event_text",
    "outcome_fields",
    "read_run",
]


def event_text(event: dict[str, Any]) -> str:
    """An event as it waits in a run: JSON text with sorted keys (a fraction of a dict's memory; text, not the
    bytes orjson gives, which keep the whole of its write buffer). Read back by :class:`Events`."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()


class Events:
    """The converted events in output order, each read back as a dict from the last field of its item."""

    def __init__(self, sorter: RunSorter) -> None:
        self._sorter = sorter

    def __iter__(self) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        return (loads(item[-1]) for item in self._sorter)

    def __len__(self) -> int:
        return len(self._sorter)


class Outcomes:
    """Every row's (or item's) outcome, in the order read: items ``(index, outcome_fields(outcome))``."""

    def __init__(self, sorter: RunSorter) -> None:
        self._sorter = sorter

    def __iter__(self) -> Iterator[RowOutcome]:
        return (RowOutcome(*item[1]) for item in self._sorter)

    def __len__(self) -> int:
        return len(self._sorter)


def outcome_fields(outcome: RowOutcome) -> tuple[Any, ...]:
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


@dataclass
class StreamedImport:
    """A streamed conversion's result: the same as an :class:`~services.ingest.ssda903.convert.ImportResult`,
    read from files."""

    events: Events
    outcomes: Outcomes
    counts: dict[tuple[str, str], Tally]
    changes: list[str] = field(default_factory=list)

    def tallies(self) -> list[Tally]:
        return [self.counts[key] for key in sorted(self.counts)]
