"""A Children in Need census return converted with bounded memory: the same events, in the same order, and
the same item outcomes as :func:`services.ingest.cin.convert.convert` on the whole return, whatever its size.

How: the XML is read one ``Child`` at a time (:class:`~services.ingest.cin.source.CensusReader`) and each
child converted alone (:func:`~services.ingest.cin.convert.convert_child`): a child's events and outcomes
depend on its own items only, apart from one fact of the whole, which children have an LAchildID that an
earlier child has (rule 8510). The events (sort key and JSON text) and the outcomes (item number and outcome)
go to :class:`~services.ingest.spill.RunSorter` s, sorted runs on disk merged when read, as do the LAchildIDs
of the children. Those are merged at the end: if some LAchildID is used twice, the return is converted once
more, the later children with it known from the start (a second reading only for such a return). Nothing is
written out before the whole file has been read, so XML refused late in the file (not well formed) leaves no
output. Every file lives in the :class:`~services.ingest.spill.Workspace`, removed when its ``with`` block
ends: on success, on error and on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Final

from services.ingest.cin.convert import Taken, convert_child
from services.ingest.cin.source import CensusReader
from services.ingest.spill import (
    SPILL_AT,
    Events,
    Outcomes,
    RunSorter,
    StreamedImport,
    Workspace,
    event_text,
    outcome_fields,
)
from services.ingest.ssda903.convert import Tally, count

__all__ = ["SPILL_AT", "Workspace", "convert_streamed"]

PREFIX: Final = "carewatch-cin-"
"""The name of the temporary directory starts so."""


def convert_streamed(
    reader: CensusReader,
    year: int,
    workspace: Workspace,
    *,
    spill_at: int = SPILL_AT,
    progress: Callable[[int], None] | None = None,
    again: Callable[[], None] | None = None,
) -> StreamedImport:
    """Convert the return ``reader`` reads, child by child, with at most one child's items and ``spill_at``
    events, outcomes and LAchildIDs in memory. ``progress`` is told of the bytes read; ``again`` before a
    second reading (an LAchildID used twice). Read the result before the ``workspace`` block ends."""
    first = workspace.path / "1"
    first.mkdir()
    claims = RunSorter(first, "ids", spill_at)

    def claiming(child_id: str, number: int) -> bool:
        claims.add((child_id, number))
        return False

    result = _convert(reader, year, first, spill_at, claiming, progress)
    claims.finish()
    later = _later_claims(claims)
    if not later:
        return result
    if again is not None:
        again()
    for path in first.iterdir():
        path.unlink()
    second = workspace.path / "2"
    second.mkdir()
    return _convert(reader, year, second, spill_at, lambda _, number: number in later, progress)


def _later_claims(claims: RunSorter) -> set[int]:
    """The children whose LAchildID an earlier child has."""
    later: set[int] = set()
    for _, group in groupby(claims, key=lambda claim: claim[0]):
        numbers = [number for _, number in group]
        later.update(numbers[1:])  # the first child with it keeps it
    return later


def _convert(
    reader: CensusReader,
    year: int,
    directory: Path,
    spill_at: int,
    taken: Taken,
    progress: Callable[[int], None] | None,
) -> StreamedImport:
    events = RunSorter(directory, "events", spill_at)
    outcomes = RunSorter(directory, "outcomes", spill_at)
    counts: dict[tuple[str, str], Tally] = {}
    index = 0
    for items in reader.children(progress):
        keyed, done = convert_child(reader.name, items, year, taken)
        for key, data in keyed:
            events.add((*key, event_text(data)))
        for outcome in done:
            count(counts, outcome)
            outcomes.add((index, outcome_fields(outcome)))
            index += 1
    events.finish()
    outcomes.finish()
    return StreamedImport(Events(events), Outcomes(outcomes), counts)
