"""Disclosure control for board figures (reference §5.3): small numbers are never shown.

Rules, applied to the figures of one date with threshold ``t`` (``settings.board.suppression_threshold``, 5 by
default):

1. *small-count*: a count, or the numerator of a percentage, from 1 to ``t - 1`` is hidden. Zero is shown:
   it identifies nobody.
2. *small-denominator*: a percentage whose denominator is from 1 to ``t - 1`` is hidden (2 of 3 would say
   which children of a tiny group had the outcome).
3. *small-complement*: a percentage whose denominator minus numerator is from 1 to ``t - 1`` is hidden
   (96% of 100 tells a reader that exactly 4 children did not). Public audience only: see below.
4. *linked*: a figure computed from a hidden count is hidden with it (the rate per 10,000 and the UASC share
   follow the CLA and UASC counts, since the population is public).
5. *secondary*: the placement-mix shares add up to their common denominator, so one hidden share could be
   worked out from the others. When exactly one share is hidden, the smallest shown share is hidden too.

The audience decides which rules apply (``settings.board.audience``, ``carewatch board-pack --audience``):

* ``public`` (papers published to anyone): every rule above.
* ``internal`` (the authority's own board, the default): every rule but *small-complement*. The board is
  entitled to know that 98% of its care leavers have a health check; the 2% it does not name are children
  its own officers already know. Small counts and small groups stay hidden for both audiences.

A hidden figure keeps its flag and reason in every output; its value and numerator are dropped (and its
denominator when that is the small number). Exports (metrics, CSV, XLSX, the pack) never show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from schemas.board import SuppressionReason as Reason  # the contract is its home
from services.board.core.catalogue import INDICATORS, PLACEMENT_MIX_IDS

Audience = Literal["internal", "public"]
AUDIENCES: Final[tuple[str, ...]] = get_args(Audience)
RULES: Final[dict[str, frozenset[Reason]]] = {
    "public": frozenset(get_args(Reason)),
    "internal": frozenset(get_args(Reason)) - {"small-complement"},
}
"""The rules applied for each audience."""

LINKED_TO_COUNT: Final = {
    "cla-rate-per-10k": "cla-count",
    "uasc-share-of-child-population": "uasc-count",
}

REASON_TEXT: Final[dict[str, str]] = {
    "small-count": "fewer than {t} children: hidden so that nobody can be identified",
    "small-denominator": "group of fewer than {t} children: hidden so that nobody can be identified",
    "small-complement": "all but fewer than {t} children: hidden so that nobody can be identified",
    "linked": "worked out from a hidden count, so hidden too",
    "secondary": "hidden so that another hidden figure cannot be worked out from the total",
}


@dataclass(frozen=True, slots=True)
class Figure:
    """The raw totals of one indicator on one date."""

    numerator: int
    denominator: int | None


def _small(count: int | None, threshold: int) -> bool:
    return count is not None and 0 < count < threshold


def primary_reason(indicator: str, figure: Figure, threshold: int, audience: Audience = "public") -> Reason | None:
    if indicator in LINKED_TO_COUNT:
        return None
    if _small(figure.numerator, threshold):
        return "small-count"
    if INDICATORS[indicator].unit == "percent" and figure.denominator is not None:
        if _small(figure.denominator, threshold):
            return "small-denominator"
        if "small-complement" in RULES[audience] and _small(figure.denominator - figure.numerator, threshold):
            return "small-complement"
    return None


def hides_denominator(indicator: str, figure: Figure, threshold: int) -> bool:
    """A small denominator of a percentage is itself a small count, whatever else is hidden."""
    return indicator not in LINKED_TO_COUNT and _small(figure.denominator, threshold)


def suppress(figures: Mapping[str, Figure], threshold: int, audience: Audience = "public") -> dict[str, Reason | None]:
    """The suppression reason of each indicator (None = shown) for ``audience``."""
    reasons: dict[str, Reason | None] = {
        indicator: primary_reason(indicator, figure, threshold, audience) for indicator, figure in figures.items()
    }
    for derived, count in LINKED_TO_COUNT.items():
        if derived in reasons and reasons.get(count) is not None:
            reasons[derived] = "linked"
    mix = [indicator for indicator in PLACEMENT_MIX_IDS if indicator in figures]
    hidden = [indicator for indicator in mix if reasons[indicator] is not None]
    shown = [indicator for indicator in mix if reasons[indicator] is None]
    if len(hidden) == 1 and shown:
        smallest = min(shown, key=lambda indicator: (figures[indicator].numerator, mix.index(indicator)))
        reasons[smallest] = "secondary"
    return reasons


def series_point_reason(
    numerator: int, denominator: int | None, *, percent: bool, threshold: int, audience: Audience = "public"
) -> Reason | None:
    """Why one point of a monthly series (an SPC chart's) may not be shown to ``audience``, or None.

    The same rules as a figure of one date: a small count (or numerator), and for a percentage a small
    group or, for the public, a small complement. A rate per 10,000 follows its count (the population is
    public). An SPC chart is shown to the public only when none of its points is hidden: its mean and
    limits are worked out from every point, and a chart with gaps misleads (``domain/cin-cp.md`` §4.4).
    """
    if _small(numerator, threshold):
        return "small-count"
    if percent and denominator is not None:
        if _small(denominator, threshold):
            return "small-denominator"
        if "small-complement" in RULES[audience] and _small(denominator - numerator, threshold):
            return "small-complement"
    return None


def footnote(reason: str, threshold: int) -> str:
    """The note of a hidden figure, naming the rule that hid it."""
    return f"{reason} rule: " + REASON_TEXT[reason].format(t=threshold)
