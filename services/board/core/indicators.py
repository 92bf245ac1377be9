"""The board's view of the indicators: the per-child definitions live in the rules core
(:mod:`services.rules.core.indicators`, computed by the per-child kernel); here they are summed into the
board summary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from services.board.core.aggregate import Aggregate
from services.board.core.comparators import Comparators
from services.board.core.summary import build_summary
from services.rules.core.indicators import INDICATORS_VERSION, contributions, next_change
from services.rules.core.state import ChildState

__all__ = ["INDICATORS_VERSION", "contributions", "next_change", "summarise"]


def summarise(
    states: Iterable[ChildState],
    as_of: date,
    threshold: int,
    population: int | None = None,
    comparators: Comparators | None = None,
) -> dict[str, Any]:
    """The board summary (CONTRACT §4) of ``states`` as of ``as_of``, small numbers suppressed."""
    aggregate = Aggregate.of(contributions(state, as_of) for state in states)
    return build_summary(aggregate, as_of, threshold, population=population, comparators=comparators)
