"""Indicator deltas: one child's contribution to a board indicator, and its changes (old out, new in).

The rules kernel computes each child's contributions and emits :class:`Delta` values; the board sums them
(``services.board.core.aggregate``). The record on topic ``schemas.topics.INDICATOR_DELTAS`` is a
:class:`DeltaBatch` serialised as JSON (the wire format: ``{"as_of": "YYYY-MM-DD", "deltas": [{"child_id",
"indicator", "old": {"numerator", "denominator"}, "new": {...}}]}``).

:class:`Contribution` and :class:`Delta` are plain slotted dataclasses (built on the hot path of the
kernel); the pydantic models validate the record at the edges only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
