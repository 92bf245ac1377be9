"""Keeping indicator totals live from the kernel's deltas.

The per-child contributions, and the dates they are re-checked, are the rules kernel's
(:class:`services.rules.core.kernel.Kernel`): every driver of the kernel gets indicator deltas from its
steps. :class:`Tracker` only sums those deltas into an :class:`~services.board.core.aggregate.Aggregate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.board.core.aggregate import Aggregate, Delta


@dataclass
class Tracker:
    """Running totals of the deltas applied so far."""

    aggregate: Aggregate = field(default_factory=Aggregate)

    def apply(self, changes: Iterable[Delta]) -> list[Delta]:
        applied = list(changes)
        self.aggregate.apply_all(applied)
        return applied
