"""Aggregation by deltas: each child's contribution to an indicator goes out (old) and comes in (new).

The aggregate of a set of children is the sum of their contributions, so it can be kept live from deltas
with any number of workers (one aggregate per partition) and merged where it is read. The invariant the
tests hold it to: applying every delta of a stream gives the same totals as summing the children's
contributions from scratch.

The record on topic ``schemas.topics.INDICATOR_DELTAS`` and the contribution/delta values are the contract
in :mod:`schemas.deltas` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.deltas import (
    NOTHING,
    Contribution,
    ContributionRecord,
    Contributions,
    Delta,
    DeltaBatch,
    DeltaRecord,
    deltas,
)

__all__ = [
    "NOTHING",
    "Aggregate",
    "Contribution",
    "ContributionRecord",
    "Contributions",
    "Delta",
    "DeltaBatch",
    "DeltaRecord",
    "deltas",
]


@dataclass(slots=True)
class Aggregate:
    """Running totals per indicator; mergeable (sum) across partitions."""

    totals: dict[str, Contribution] = field(default_factory=dict)

    def apply(self, delta: Delta) -> None:
        total = self.totals.get(delta.indicator, NOTHING) + delta.new - delta.old
        if total:
            self.totals[delta.indicator] = total
        else:
            self.totals.pop(delta.indicator, None)

    def apply_all(self, changes: Iterable[Delta]) -> None:
        for delta in changes:
            self.apply(delta)

    def merge(self, other: Aggregate) -> Aggregate:
        merged = Aggregate(dict(self.totals))
        for indicator, total in other.totals.items():
            merged.apply(Delta("", indicator, NOTHING, total))
        return merged

    @classmethod
    def of(cls, contributions: Iterable[Contributions]) -> Aggregate:
        """From-scratch totals of a set of children."""
        aggregate = cls()
        for child in contributions:
            aggregate.apply_all(deltas("", {}, child))
        return aggregate

    def get(self, indicator: str) -> Contribution:
        return self.totals.get(indicator, NOTHING)
