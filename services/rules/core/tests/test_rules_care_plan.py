"""visit-overdue, review-overdue, pep-overdue: dates worked out by hand in each comment."""

from datetime import date
from typing import Any

from services.rules.core.config import RulesConfig

from .factory import ev, fires, started

DOB = date(2015, 1, 1)


def _placed(on: str = "2025-01-06", **fields: Any) -> list[dict[str, object]]:
    return [started(date.fromisoformat(on), DOB), ev("placement.started", on, placement_type="U6", **fields)]


# placed Mon 6 Jan 2025: first visit due within 7 calendar days → by 13 Jan.
def test_visit_first_week() -> None:
    events = _placed()
    assert not fires("visit-overdue", events, date(2025, 1, 13))
    assert fires("visit-overdue", events, date(2025, 1, 14))
    assert not fires("visit-overdue", [*events, ev("visit.completed", "2025-01-13")], date(2025, 1, 14))


# visit 13 Jan 2025 + 42 days = 24 Feb 2025.
def test_visit_six_weekly_in_first_year() -> None:
    events = [*_placed(), ev("visit.completed", "2025-01-13")]
    assert not fires("visit-overdue", events, date(2025, 2, 24))
    assert fires("visit-overdue", events, date(2025, 2, 25))


# placed 8 Jan 2024 intended until 18: first anniversary 8 Jan 2025. A visit on 10 Jan 2025 (after it)
# → next due 10 Apr 2025 (3 months). Not intended until 18 → 10 Jan + 42 days = 21 Feb 2025.
# A visit on 7 Jan 2025 (still year one) → 7 Jan + 42 days = 18 Feb 2025 even if intended until 18.
def test_visit_three_monthly_after_first_year_when_intended_until_18() -> None:
    long_term = [*_placed("2024-01-08", intended_until_18=True), ev("visit.completed", "2025-01-10")]
    assert not fires("visit-overdue", long_term, date(2025, 4, 10))
    assert fires("visit-overdue", long_term, date(2025, 4, 11))
    ordinary = [*_placed("2024-01-08"), ev("visit.completed", "2025-01-10")]
    assert not fires("visit-overdue", ordinary, date(2025, 2, 21))
    assert fires("visit-overdue", ordinary, date(2025, 2, 22))
    year_one = [*_placed("2024-01-08", intended_until_18=True), ev("visit.completed", "2025-01-07")]
    assert not fires("visit-overdue", year_one, date(2025, 2, 18))
    assert fires("visit-overdue", year_one, date(2025, 2, 19))


# a new placement on 1 Feb restarts the clock: first visit due 8 Feb.
def test_visit_clock_restarts_at_a_new_placement() -> None:
    events = [
        *_placed(),
        ev("visit.completed", "2025-01-13"),
        ev("placement.started", "2025-02-01", placement_type="U4"),
    ]
    assert not fires("visit-overdue", events, date(2025, 2, 8))
    assert fires("visit-overdue", events, date(2025, 2, 9))


# care started Mon 6 Jan 2025: first review by Mon 3 Feb (20 WD); second by 3 May (3 months);
# then by 3 Nov (6 months).
def test_review_cycle() -> None:
    care = started(date(2025, 1, 6), DOB)
    assert not fires("review-overdue", [care], date(2025, 2, 3))
    assert fires("review-overdue", [care], date(2025, 2, 4))
    first = [care, ev("review.held", "2025-02-03")]
    assert not fires("review-overdue", first, date(2025, 5, 3))
    assert fires("review-overdue", first, date(2025, 5, 4))
    second = [*first, ev("review.held", "2025-05-03")]
    assert not fires("review-overdue", second, date(2025, 11, 3))
    assert fires("review-overdue", second, date(2025, 11, 4))


def test_review_clock_restarts_with_a_new_period_of_care() -> None:
    events = [
        started(date(2024, 1, 8), DOB),
        ev("review.held", "2024-02-01"),
        ev("care.ended", "2024-03-01", reason="E4A"),
        started(date(2025, 1, 6), DOB),
    ]
    assert not fires("review-overdue", events, date(2025, 2, 3))
    assert fires("review-overdue", events, date(2025, 2, 4))
    assert not fires("review-overdue", events[:3], date(2024, 12, 1))


# initial PEP: 20 WD from 6 Jan 2025 → 3 Feb 2025.
def test_pep_initial() -> None:
    care = started(date(2025, 1, 6), DOB)
    assert not fires("pep-overdue", [care], date(2025, 2, 3))
    assert fires("pep-overdue", [care], date(2025, 2, 4))
    toddler = started(date(2025, 1, 6), date(2023, 1, 1))
    assert not fires("pep-overdue", [toddler], date(2025, 3, 1))


# Easter Sunday 2025 is 20 April: spring term ends Thu 17 Apr, summer runs 28 Apr–20 Jul, autumn 1 Sep–20 Dec.
# A PEP on 3 Feb (spring) covers spring; summer needs one by 20 Jul → overdue from 21 Jul.
# A PEP in the Easter holiday (20 Apr) counts for summer; then autumn needs one by 20 Dec.
def test_pep_termly() -> None:
    care = started(date(2025, 1, 6), DOB)
    spring = [care, ev("pep.completed", "2025-02-03", kind="initial")]
    assert not fires("pep-overdue", spring, date(2025, 7, 20))
    assert fires("pep-overdue", spring, date(2025, 7, 21))
    holiday = [*spring, ev("pep.completed", "2025-04-20", kind="review")]
    assert not fires("pep-overdue", holiday, date(2025, 7, 21))
    assert not fires("pep-overdue", holiday, date(2025, 12, 20))
    assert fires("pep-overdue", holiday, date(2025, 12, 21))


def test_pep_terms_from_config() -> None:
    care = started(date(2025, 1, 6), DOB)
    spring = [care, ev("pep.completed", "2025-02-03", kind="initial")]
    config = RulesConfig.from_mapping(
        {
            "calendar": {
                "terms": [
                    {"name": "2025-spring", "start": "2025-01-06", "end": "2025-03-28"},
                    {"name": "2025-summer", "start": "2025-04-14", "end": "2025-07-18"},
                    {"name": "2025-autumn", "start": "2025-09-03", "end": "2025-12-19"},
                ]
            }
        }
    )
    assert not fires("pep-overdue", spring, date(2025, 7, 18), config)
    assert fires("pep-overdue", spring, date(2025, 7, 19), config)
