"""The board summary (CONTRACT §4): ``GET /v1/board/summary`` and ``carewatch replay --summary``.

Totals per indicator turned into values, suppressed by disclosure control and compared with national,
neighbour and local figures. A suppressed figure has ``value`` and ``numerator`` null (and the denominator
too when that is the small number) and ``suppression`` says why.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Unit = Literal["count", "percent", "rate-per-10k"]
Direction = Literal["higher", "lower", "neutral"]
Rag = Literal["green", "amber", "red"]
SuppressionReason = Literal["small-count", "small-denominator", "small-complement", "linked", "secondary"]


class ComparatorValue(BaseModel):
    """A published figure to compare with: national or statistical neighbours."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: int | float
    year: str
    source: str


class IndicatorFigure(BaseModel):
    """One indicator on the summary's date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    unit: Unit
    better: Direction
    value: int | float | None = Field(
        description="Count, percentage or rate per 10,000; null when suppressed or undefined"
    )
    numerator: int | None
    denominator: int | None
    suppressed: bool
    suppression: SuppressionReason | None = Field(description="Why the figure is hidden, when it is")
    national: ComparatorValue | None
    neighbours: ComparatorValue | None
    target: int | float | None
    rag: Rag | None
    nts_threshold: float | None = Field(
        default=None, description="National Transfer Scheme threshold (percent), on the UASC share only (else null)"
    )
    unknown: int | None = Field(
        default=None,
        description="Children left out of the figure because it is not known for them (their period of care began "
        "before the data); null on indicators that are always known, or when the count is hidden (unknown_suppressed)",
    )
    unknown_suppressed: bool = Field(
        default=False, description="The count of children not known is hidden: it is below the threshold"
    )


class BoardSummary(BaseModel):
    """Every indicator of the catalogue on one date, disclosure control applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    threshold: int = Field(ge=1, description="Counts below this are suppressed")
    audience: Literal["internal", "public"] = Field(
        default="public",
        description="Whose disclosure rules were applied: public (every rule) or internal (no small-complement rule)",
    )
    population: int | None = Field(description="Children aged 0-17 in the area, for rates; null if not configured")
    indicators: dict[str, IndicatorFigure]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (dates as ISO strings)."""
        return self.model_dump(mode="json")


BOARD_SUMMARY_ADAPTER: Final = TypeAdapter(BoardSummary)
