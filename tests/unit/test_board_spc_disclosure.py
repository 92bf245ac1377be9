"""Small numbers on the board's SPC charts: a point is hidden by the same rules as a figure of one date, and
the public audience gets no chart for a series with any hidden point (its limits would be worked out from
it); the authority's own board sees every chart."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.events import CaseEvent, parse_event
from services.board.core.disclosure import series_point_reason
from services.board.early_warning import panels


@pytest.mark.parametrize(
    ("numerator", "denominator", "percent", "audience", "reason"),
    [
        (0, None, False, "public", None),  # zero identifies nobody
        (1, None, False, "public", "small-count"),
        (4, None, False, "internal", "small-count"),
        (5, None, False, "public", None),
        (5, 9, True, "public", "small-complement"),  # 9 - 5 = 4 did not: small
        (6, 9, True, "public", "small-complement"),
        (6, 9, True, "internal", None),
        (5, 5, True, "public", None),  # all of them: a complement of 0 identifies nobody
        (5, 10, True, "public", None),
        (0, 4, True, "public", "small-denominator"),
        (3, 40, True, "internal", "small-count"),
    ],
)
def test_a_point_is_hidden_by_the_figure_rules(
    numerator: int, denominator: int | None, percent: bool, audience: str, reason: str | None
) -> None:
    found = series_point_reason(numerator, denominator, percent=percent, threshold=5, audience=audience)  # type: ignore[arg-type]
    assert found == reason


ENTERED = ["entered-care-month"]


def _entries(per_month: int, months: int = 15) -> list[CaseEvent]:
    events = []
    for m in range(months):
        for n in range(per_month + (m % 2)):  # per_month or one more
            on = date(2024 + (m // 12), m % 12 + 1, 3 + n)
            events.append(
                parse_event(
                    {"event_id": f"e{m}-{n}", "type": "care.started", "child_id": f"c{m}-{n}",
                     "occurred_at": on.isoformat(), "date_of_birth": "2015-01-01", "sex": "F",
                     "legal_status": "C2"},
                    received_at=None,
                )
            )  # fmt: skip
    return events


def test_the_public_gets_no_chart_of_a_series_with_small_months_and_the_board_does() -> None:
    small = _entries(per_month=3)  # 3 or 4 a month
    as_of = date(2025, 3, 31)
    internal = panels(small, as_of, population=None, indicators=ENTERED, audience="internal", threshold=5)
    public = panels(small, as_of, population=None, indicators=ENTERED, audience="public", threshold=5)
    assert [p.indicator_id for p in internal] == ["entered-care-month"]
    assert public == ()


def test_the_public_gets_the_chart_when_no_month_is_small() -> None:
    enough = _entries(per_month=5)  # 5 or 6 a month
    as_of = date(2025, 3, 31)
    public = panels(enough, as_of, population=None, indicators=ENTERED, audience="public", threshold=5)
    assert [p.indicator_id for p in public] == ["entered-care-month"]
    assert min(p.value for p in public[0].chart.points) >= 5
