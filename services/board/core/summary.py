"""The board summary of one date (CONTRACT §4): totals turned into values, suppressed, compared.

Format: :class:`schemas.board.BoardSummary`::

    {"as_of": "2026-03-31", "threshold": 5, "population": 52000,
     "indicators": {id: {"value", "numerator", "denominator", "suppressed", "suppression", "unit",
                         "better", "national", "neighbours", "target", "rag", "nts_threshold"}}}

``value`` is a count, a percentage (one decimal; three for the UASC share, whose threshold is 0.1%) or a
rate per 10,000 children. A suppressed figure has ``value`` and ``numerator`` set to null (and the
denominator too when that is the small number) and ``suppression`` says why (see :mod:`.disclosure`).
Figures that need the child population are null when it is not configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from schemas.board import BoardSummary, ComparatorValue, IndicatorFigure
from schemas.deltas import Contribution
from services.board.core.aggregate import Aggregate
from services.board.core.catalogue import INDICATORS, UASC_NTS_THRESHOLD_PERCENT, Indicator
from services.board.core.comparators import Comparator, Comparators, rag
from services.board.core.disclosure import LINKED_TO_COUNT, Audience, Figure, hides_denominator, suppress
from services.rules.core.definitions import UNKNOWN_SUFFIX

PERCENT_DECIMALS: Final = 1
UASC_SHARE_DECIMALS: Final = 3


def _figure(indicator: Indicator, aggregate: Aggregate, population: int | None) -> Figure:
    if indicator.id in LINKED_TO_COUNT:
        return Figure(aggregate.get(LINKED_TO_COUNT[indicator.id]).numerator, population)
    total = aggregate.get(indicator.id)
    return Figure(total.numerator, None if indicator.is_count else total.denominator)


def _value(indicator: Indicator, figure: Figure) -> float | None:
    if indicator.is_count:
        return figure.numerator
    if not figure.denominator:
        return None
    if indicator.unit == "rate-per-10k":
        return round(figure.numerator * 10_000 / figure.denominator, PERCENT_DECIMALS)
    decimals = UASC_SHARE_DECIMALS if indicator.id == "uasc-share-of-child-population" else PERCENT_DECIMALS
    return round(figure.numerator * 100 / figure.denominator, decimals)


def _unknown(indicator: Indicator, aggregate: Aggregate, threshold: int) -> tuple[int | None, bool]:
    """The children left out of the indicator as not known (``<id>.unknown``), and whether that count is
    hidden (a count of children below the threshold, as any other count)."""
    if not indicator.may_be_unknown:
        return None, False
    count = aggregate.get(indicator.id + UNKNOWN_SUFFIX).numerator
    return (None, True) if 0 < count < threshold else (count, False)


def _comparator(found: Comparator | None) -> ComparatorValue | None:
    if found is None:
        return None
    return ComparatorValue(value=found.value, year=found.year, source=found.source)


def build_summary(
    aggregate: Aggregate,
    as_of: date,
    threshold: int,
    population: int | None = None,
    comparators: Comparators | None = None,
    audience: Audience = "public",
) -> dict[str, Any]:
    """The summary of the totals in ``aggregate`` (from scratch or kept live by deltas), in the JSON form of
    :class:`schemas.board.BoardSummary` (the contract: built through the model, so it cannot drift), with
    the disclosure rules of ``audience``."""
    comparators = comparators or Comparators.empty()
    figures = {id_: _figure(indicator, aggregate, population) for id_, indicator in INDICATORS.items()}
    reasons = suppress(figures, threshold, audience)
    indicators: dict[str, IndicatorFigure] = {}
    for id_, indicator in INDICATORS.items():
        figure, reason = figures[id_], reasons[id_]
        value = _value(indicator, figure)
        hidden = reason is not None
        target = comparators.targets.get(id_)
        unknown, unknown_hidden = _unknown(indicator, aggregate, threshold)
        entry = IndicatorFigure(
            title=indicator.title,
            unit=indicator.unit,
            better=indicator.better,
            value=None if hidden else value,
            numerator=None if hidden else figure.numerator,
            denominator=None if hides_denominator(id_, figure, threshold) else figure.denominator,
            suppressed=hidden,
            suppression=reason,
            national=_comparator(comparators.national.get(id_)),
            neighbours=_comparator(comparators.neighbours.get(id_)),
            target=target.value if target else None,
            rag=None if hidden else rag(value, target, indicator.better, comparators.amber_band),
            nts_threshold=UASC_NTS_THRESHOLD_PERCENT if id_ == "uasc-share-of-child-population" else None,
            unknown=unknown,
            unknown_suppressed=unknown_hidden,
        )
        indicators[id_] = entry
    return BoardSummary(
        as_of=as_of, threshold=threshold, audience=audience, population=population, indicators=indicators
    ).to_json()


def summary_of_totals(totals: Mapping[str, Contribution], as_of: date, threshold: int) -> dict[str, Any]:
    """The summary of a replay's totals (``carewatch replay --summary``)."""
    return build_summary(Aggregate(dict(totals)), as_of, threshold)
