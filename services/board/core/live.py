"""Keeping indicator totals live: per-child contributions, re-checked on events and on due ticks.

:class:`Tracker` is the pure object a stream processor (or replay) drives: after a child's state changes
it calls :meth:`Tracker.update`; on each daily clock tick it re-evaluates the children whose
:func:`~services.board.core.indicators.next_change` date has come (:meth:`Tracker.tick`). Both return the
deltas to publish (a :class:`~services.board.core.aggregate.DeltaBatch` on ``INDICATOR_DELTAS``) and apply
them to the tracker's own :class:`~services.board.core.aggregate.Aggregate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from services.board.core.aggregate import Aggregate, Contribution, Delta, deltas
from services.board.core.indicators import contributions, next_change
from services.rules.core.state import ChildState


@dataclass
class Tracker:
    """Last contributions and next re-check date of every child seen, and their running totals."""

    aggregate: Aggregate = field(default_factory=Aggregate)
    last: dict[str, dict[str, Contribution]] = field(default_factory=dict)
    due: dict[date, set[str]] = field(default_factory=dict)
    due_of: dict[str, date] = field(default_factory=dict)

    def update(self, state: ChildState, as_of: date) -> list[Delta]:
        """Re-evaluate one child as of ``as_of`` (after an event, or when due)."""
        child = state.child_id
        new = contributions(state, as_of)
        changes = deltas(child, self.last.get(child, {}), new)
        self.aggregate.apply_all(changes)
        if new:
            self.last[child] = new
        else:
            self.last.pop(child, None)
        self._schedule(child, next_change(state, as_of))
        return changes

    def tick(self, as_of: date, state_of: Callable[[str], ChildState | None]) -> list[Delta]:
        """Re-evaluate every child due on or before ``as_of``; ``state_of`` looks a child's state up."""
        changes: list[Delta] = []
        for day in sorted(day for day in self.due if day <= as_of):
            for child in sorted(self.due.pop(day)):
                self.due_of.pop(child, None)
                state = state_of(child)
                if state is not None:
                    changes.extend(self.update(state, as_of))
        return changes

    def _schedule(self, child: str, day: date | None) -> None:
        previous = self.due_of.pop(child, None)
        if previous is not None:
            waiting = self.due.get(previous)
            if waiting is not None:
                waiting.discard(child)
                if not waiting:
                    del self.due[previous]
        if day is not None:
            self.due_of[child] = day
            self.due.setdefault(day, set()).add(child)
