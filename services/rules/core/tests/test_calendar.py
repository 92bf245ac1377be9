from datetime import date

from services.rules.core.calendar import (
    SchoolCalendar,
    Term,
    add_months,
    add_working_days,
    add_years,
    age_on,
    default_terms,
    is_working_day,
)


def test_weekend_christmas_observed_days_are_not_working_days() -> None:
    # 2021: Christmas Sat 25, Boxing Day Sun 26 → observed Mon 27 and Tue 28 December.
    assert not is_working_day(date(2021, 12, 27))
    assert not is_working_day(date(2021, 12, 28))
    assert is_working_day(date(2021, 12, 29))
    assert add_working_days(date(2021, 12, 24), 1) == date(2021, 12, 29)


def test_twenty_working_days_across_easter() -> None:
    # From Thu 2 Apr 2026: Good Friday 3 Apr and Easter Monday 6 Apr are skipped.
    # Working days: 7-10 Apr (4), 13-17 (5), 20-24 (5), 27-30 (4) = 18, 1 May = 19, Tue 5 May = 20
    # (Mon 4 May is the Early May bank holiday).
    assert add_working_days(date(2026, 4, 2), 20) == date(2026, 5, 5)


def test_zero_working_days_is_the_day_itself() -> None:
    assert add_working_days(date(2026, 1, 3), 0) == date(2026, 1, 3)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


def test_leap_day_birthdays() -> None:
    dob = date(2012, 2, 29)
    assert add_years(dob, 5) == date(2017, 3, 1)
    assert add_years(dob, 4) == date(2016, 2, 29)
    assert age_on(dob, date(2017, 2, 28)) == 4
    assert age_on(dob, date(2017, 3, 1)) == 5
    assert age_on(dob, date(2016, 2, 29)) == 4


def test_default_terms_follow_easter() -> None:
    # Easter Sunday 2026 is 5 April: spring ends Thu 2 Apr, summer starts Mon 13 Apr.
    spring, summer, autumn = default_terms(2026)
    assert (spring.start, spring.end) == (date(2026, 1, 5), date(2026, 4, 2))
    assert (summer.start, summer.end) == (date(2026, 4, 13), date(2026, 7, 20))
    assert (autumn.start, autumn.end) == (date(2026, 9, 1), date(2026, 12, 20))


def test_explicit_terms_replace_a_year() -> None:
    explicit = (Term(date(2026, 9, 3), date(2026, 12, 18), "2026-autumn"),)
    calendar = SchoolCalendar(explicit)
    assert calendar.terms_of(2026) == explicit
    assert calendar.terms_of(2027) == default_terms(2027)
    names = [t.name for t in calendar.terms_between(date(2026, 12, 1), date(2027, 2, 1))]
    assert names == ["2026-autumn", "2027-spring"]
