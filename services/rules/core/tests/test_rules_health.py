"""iha-overdue, rha-overdue, dental-overdue, sdq-concern: dates worked out by hand in each comment."""

from datetime import date

from .factory import ev, fires, started

SCHOOL_AGE = date(2015, 1, 1)


# care started Mon 6 Jan 2025: 20 working days = 7–10 Jan (4), 13–17 (5), 20–24 (5), 27–31 (5), Mon 3 Feb.
def test_iha_boundary_day_before_of_and_after() -> None:
    events = [started(date(2025, 1, 6), SCHOOL_AGE)]
    assert not fires("iha-overdue", events, date(2025, 2, 2))
    assert not fires("iha-overdue", events, date(2025, 2, 3))
    assert fires("iha-overdue", events, date(2025, 2, 4))


def test_iha_on_the_deadline_is_on_time_and_a_late_one_resolves() -> None:
    on_time = [
        started(date(2025, 1, 6), SCHOOL_AGE),
        ev("health_assessment.completed", "2025-02-03", kind="initial"),
    ]
    assert not fires("iha-overdue", on_time, date(2025, 2, 4))
    late = [
        started(date(2025, 1, 6), SCHOOL_AGE),
        ev("health_assessment.completed", "2025-02-10", kind="initial"),
    ]
    assert fires("iha-overdue", late, date(2025, 2, 9))
    assert not fires("iha-overdue", late, date(2025, 2, 10))


# care started Fri 12 Dec 2025: 15–19 Dec (5), 22–24 (3) = 8; 25, 26 Dec bank holidays; 29–31 (3) = 11;
# 1 Jan holiday; Fri 2 Jan = 12; 5–9 Jan = 17; 12, 13, 14 Jan = 20 → deadline Wed 14 Jan 2026.
def test_iha_bank_holidays_inside_the_window() -> None:
    events = [started(date(2025, 12, 12), SCHOOL_AGE)]
    assert not fires("iha-overdue", events, date(2026, 1, 14))
    assert fires("iha-overdue", events, date(2026, 1, 15))


# An assessment in the 3 months before care started (12 Sep 2025 or later) satisfies the IHA.
def test_iha_prior_assessment_within_three_months() -> None:
    inside = [
        ev("health_assessment.completed", "2025-09-12", kind="review"),
        started(date(2025, 12, 12), SCHOOL_AGE),
    ]
    outside = [
        ev("health_assessment.completed", "2025-09-11", kind="review"),
        started(date(2025, 12, 12), SCHOOL_AGE),
    ]
    assert not fires("iha-overdue", inside, date(2026, 1, 20))
    assert fires("iha-overdue", outside, date(2026, 1, 20))


def test_iha_short_breaks_excluded() -> None:
    events = [
        ev("care.started", "2025-01-06", date_of_birth="2015-01-01", sex="M", legal_status="V3"),
    ]
    assert not fires("iha-overdue", events, date(2025, 3, 1))


def _rha(dob: date, assessed: str) -> list[dict[str, object]]:
    return [started(date(2024, 1, 8), dob), ev("health_assessment.completed", assessed, kind="review")]


# under 5: 10 Jan 2025 + 6 months = 10 Jul 2025 (child born 15 Jun 2021 is 5 only on 15 Jun 2026).
def test_rha_under_five_six_months() -> None:
    events = _rha(date(2021, 6, 15), "2025-01-10")
    assert not fires("rha-overdue", events, date(2025, 7, 10))
    assert fires("rha-overdue", events, date(2025, 7, 11))


# turning 5 between assessments: 10 Jan 2026 + 6 months = 10 Jul 2026 is after the 5th birthday
# (15 Jun 2026) → the 12-month interval applies: due 10 Jan 2027.
def test_rha_child_turning_five_moves_to_yearly() -> None:
    events = _rha(date(2021, 6, 15), "2026-01-10")
    assert not fires("rha-overdue", events, date(2026, 7, 11))
    assert not fires("rha-overdue", events, date(2027, 1, 10))
    assert fires("rha-overdue", events, date(2027, 1, 11))


# born 29 Feb 2020: 5th birthday 1 Mar 2025. Assessed 31 Aug 2024 → +6 months = 28 Feb 2025 (clamped),
# still under 5 → due 28 Feb. Assessed 1 Sep 2024 → 1 Mar 2025 is the birthday → 12 months: 1 Sep 2025.
def test_rha_leap_day_birthday() -> None:
    leap = date(2020, 2, 29)
    early = _rha(leap, "2024-08-31")
    assert not fires("rha-overdue", early, date(2025, 2, 28))
    assert fires("rha-overdue", early, date(2025, 3, 1))
    later = _rha(leap, "2024-09-01")
    assert not fires("rha-overdue", later, date(2025, 3, 2))
    assert not fires("rha-overdue", later, date(2025, 9, 1))
    assert fires("rha-overdue", later, date(2025, 9, 2))


# no dental check: due 12 months after care started (6 Jan 2025) → 6 Jan 2026.
def test_dental_without_any_check() -> None:
    events = [started(date(2025, 1, 6), SCHOOL_AGE)]
    assert not fires("dental-overdue", events, date(2026, 1, 6))
    assert fires("dental-overdue", events, date(2026, 1, 7))


def test_dental_from_the_last_check_and_a_late_check_resolves() -> None:
    events = [started(date(2025, 1, 6), SCHOOL_AGE), ev("dental_check.completed", "2025-02-10")]
    assert not fires("dental-overdue", events, date(2026, 2, 10))
    assert fires("dental-overdue", events, date(2026, 2, 11))
    assert not fires("dental-overdue", [*events, ev("dental_check.completed", "2026-03-01")], date(2026, 3, 1))


# a baby born 1 Jan 2025 is eligible from 1 Jan 2026: due 1 Jan 2027.
def test_dental_baby_counts_from_first_birthday() -> None:
    events = [started(date(2025, 1, 6), date(2025, 1, 1))]
    assert not fires("dental-overdue", events, date(2026, 6, 1))
    assert not fires("dental-overdue", events, date(2027, 1, 1))
    assert fires("dental-overdue", events, date(2027, 1, 2))


def test_sdq_threshold_and_latest_score() -> None:
    care = started(date(2025, 1, 6), SCHOOL_AGE)
    assert not fires("sdq-concern", [care, ev("sdq.recorded", "2025-02-01", score=16)], date(2025, 2, 1))
    assert fires("sdq-concern", [care, ev("sdq.recorded", "2025-02-01", score=17)], date(2025, 2, 1))
    later_low = [care, ev("sdq.recorded", "2025-02-01", score=30), ev("sdq.recorded", "2025-08-01", score=12)]
    assert fires("sdq-concern", later_low, date(2025, 7, 31))
    assert not fires("sdq-concern", later_low, date(2025, 8, 1))
