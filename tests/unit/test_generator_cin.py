"""The synthetic authority's children in need and child protection flow against the national figures of
``domain/cin-cp.md`` §1.2 (England, year ending 31 March 2025), read by the board's own indicator code over
the demo year. Seed 1, 200 children in care (about 29,900 children), year to 31 March 2026:

| indicator                        | national | this history |
|----------------------------------|----------|--------------|
| referrals per 10,000             | 527      | 536.7        |
| re-referrals within 12 months    | 22.6%    | 22.0%        |
| assessments within 45 working d. | 85.7%    | 84.7%        |
| children on a CP plan per 10,000 | about 41 (49,420 over 12.0m) | 39.2 |
| CP plans second or subsequent    | 16.6% (2015, latest found) | 18.2% |
| plans lasting 2 years or more when they ended | 4.4% | 5.9% (10 of 169) |
| children in need per 10,000      | 332.9 (2024) | 325.6    |

Plans lasting 2 years or more end in the window because the plans already open when the flow begins
(400 days before the window) are there, begun up to 900 days before it.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import pytest

from schemas.events import parse_event
from services.board.core.cin_indicators import Value, values
from services.demo.cin_flow import LOOKED_AFTER_PER_10K
from services.demo.generator import generate
from services.rules.core.cin.facts import fold_all

CHILDREN = 200


@cache
def _year() -> dict[str, Value]:
    events = [
        parse_event(raw, received_at=None)
        for raw in generate(seed=1, children=CHILDREN, months=12, start=date(2025, 4, 1), cin=True, bad_share=0.0)
    ]
    population = round(CHILDREN * 10_000 / LOOKED_AFTER_PER_10K)
    return values(list(fold_all(events).values()), date(2026, 3, 31), population=population)


@pytest.mark.parametrize(
    ("indicator", "national", "tolerance"),
    [
        ("referrals-rate-per-10k", 527.0, 50.0),
        ("re-referrals-12m", 22.6, 3.0),
        ("assessments-within-45wd", 85.7, 3.0),
        ("cp-plans-rate-per-10k", 41.2, 6.0),
        ("cp-plans-second-or-subsequent", 16.6, 6.0),
        ("cin-rate-per-10k", 332.9, 30.0),
        ("cp-plans-ended-2y-plus", 4.4, 3.0),
    ],
)
def test_the_flow_lands_near_the_national_figure(indicator: str, national: float, tolerance: float) -> None:
    found = _year()[indicator].value
    assert found is not None and abs(found - national) <= tolerance, (indicator, found)


def test_the_care_histories_are_the_same_with_or_without_the_flow() -> None:
    start = date(2025, 4, 1)
    without = list(generate(seed=2, children=20, months=3, start=start))
    with_flow = list(generate(seed=2, children=20, months=3, start=start, cin=True))
    assert [e for e in with_flow if "-cin-" not in e["event_id"]] == without
    assert any(e["type"] == "cp_plan.started" for e in with_flow)
