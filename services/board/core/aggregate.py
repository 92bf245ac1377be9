"""Aggregation by deltas: each child's contribution to an indicator goes out (old) and comes in (new).

The aggregate of a set of children is the sum of their contributions, so it can be kept live from deltas
with any number of workers (one aggregate per partition) and merged where it is read. The invariant the
tests hold it to: applying every delta of a stream gives the same totals as summing the children's
contributions from scratch.

The record on topic ``schemas.topics.INDICATOR_DELTAS`` is a :class:`DeltaBatch` serialised as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import PSEUDONYM_PATTERN


@dataclass(frozen=True, slots=True)
class Contribution:
    """One child's share of one indicator: how many numerator and denominator units it adds."""

    numerator: int = 0
    denominator: int = 0

    def __add__(self, other: Contribution) -> Contribution:
        return Contribution(self.numerator + other.numerator, self.denominator + other.denominator)

    def __sub__(self, other: Contribution) -> Contribution:
        return Contribution(self.numerator - other.numerator, self.denominator - other.denominator)

    def __bool__(self) -> bool:
        return self.numerator != 0 or self.denominator != 0


NOTHING: Final = Contribution()
Contributions = Mapping[str, Contribution]


@dataclass(frozen=True, slots=True)
class Delta:
    """A change of one child's contribution to one indicator."""

    child: str
    indicator: str
    old: Contribution
    new: Contribution


def deltas(child: str, old: Contributions, new: Contributions) -> list[Delta]:
    """The deltas that turn ``old`` into ``new`` (indicators absent from a side contribute nothing)."""
    changed = []
    for indicator in sorted(old.keys() | new.keys()):
        before, after = old.get(indicator, NOTHING), new.get(indicator, NOTHING)
        if before != after:
            changed.append(Delta(child, indicator, before, after))
    return changed


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


class ContributionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    numerator: int
    denominator: int


class DeltaRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    child_id: str = Field(pattern=PSEUDONYM_PATTERN)
    indicator: str
    old: ContributionRecord
    new: ContributionRecord


class DeltaBatch(BaseModel):
    """The record on ``INDICATOR_DELTAS``: the deltas one event or tick caused, with its as_of date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    deltas: tuple[DeltaRecord, ...]

    @classmethod
    def of(cls, as_of: date, changes: Iterable[Delta]) -> DeltaBatch:
        return cls(
            as_of=as_of,
            deltas=tuple(
                DeltaRecord(
                    child_id=d.child,
                    indicator=d.indicator,
                    old=ContributionRecord(numerator=d.old.numerator, denominator=d.old.denominator),
                    new=ContributionRecord(numerator=d.new.numerator, denominator=d.new.denominator),
                )
                for d in changes
            ),
        )

    def to_deltas(self) -> list[Delta]:
        return [
            Delta(
                r.child_id,
                r.indicator,
                Contribution(r.old.numerator, r.old.denominator),
                Contribution(r.new.numerator, r.new.denominator),
            )
            for r in self.deltas
        ]
