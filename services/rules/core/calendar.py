"""Calendar arithmetic for statutory clocks: working days, months, birthdays, school terms.

Working days exclude weekends and England & Wales bank holidays (``holidays.UK(subdiv="ENG")``). When a
holiday falls at a weekend the package also lists its "(observed)" substitute weekday; that weekday is the
day off, so every listed date is treated as non-working (the weekend date already is).
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays

from schemas.dates import add_years as add_years  # re-exported: the calendar is its home for the rules

ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=256)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


@lru_cache(maxsize=65_536)
def add_working_days(start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself is never counted).

    Counting from the day after the trigger is the common local-authority practice (reference §1.10);
    with ``count == 0`` the answer is ``start``.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    day = start
    remaining = count
    while remaining:
        day += ONE_DAY
        if is_working_day(day):
            remaining -= 1
    return day


@lru_cache(maxsize=65_536)
def add_months(day: date, months: int) -> date:
    """Calendar months later (or earlier), clamped to the end of a shorter month (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = _stdlib_calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def birthday(date_of_birth: date, age: int) -> date:
    """The date on which a child reaches ``age``."""
    return add_years(date_of_birth, age)


def age_on(date_of_birth: date, day: date) -> int:
    """Whole years of age on ``day`` (consistent with :func:`birthday`)."""
    years = day.year - date_of_birth.year
    if birthday(date_of_birth, years) > day:
        years -= 1
    return years


@dataclass(frozen=True, order=True)
class Term:
    """A school term, both ends inclusive; ``name`` is e.g. ``2025-autumn``."""

    start: date
    end: date
    name: str


def _easter_sunday(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=256)
def default_terms(year: int) -> tuple[Term, Term, Term]:
    """A simple English pattern: spring 5 Jan–Maundy Thursday, summer from a week after Easter Monday
    to 20 Jul, autumn 1 Sep–20 Dec. Local term dates differ by a few days; override them in the config."""
    easter = _easter_sunday(year)
    return (
        Term(date(year, 1, 5), easter - timedelta(days=3), f"{year}-spring"),
        Term(easter + timedelta(days=8), date(year, 7, 20), f"{year}-summer"),
        Term(date(year, 9, 1), date(year, 12, 20), f"{year}-autumn"),
    )


class SchoolCalendar:
    """School terms by year: the default pattern, replaced year by year by explicit terms from config."""

    def __init__(self, explicit: tuple[Term, ...] = ()) -> None:
        by_year: dict[int, list[Term]] = {}
        for term in explicit:
            by_year.setdefault(term.start.year, []).append(term)
        self._explicit = {year: tuple(sorted(terms)) for year, terms in by_year.items()}
        self._covering: dict[date, tuple[Term, Term]] = {}

    def terms_of(self, year: int) -> tuple[Term, ...]:
        return self._explicit.get(year) or default_terms(year)

    def terms_between(self, first: date, last: date) -> list[Term]:
        """Every term overlapping [first, last], in date order."""
        found: list[Term] = []
        for year in range(first.year, last.year + 1):
            found.extend(t for t in self.terms_of(year) if t.end >= first and t.start <= last)
        return found

    def term_after_covering(self, day: date) -> tuple[Term, Term]:
        """The term covering ``day`` (or the next one when ``day`` is in a holiday) and the term after it."""
        cached = self._covering.get(day)
        if cached is None:
            terms = self.terms_between(day, add_years(day, 2))
            covered = next(t for t in terms if t.end >= day)
            cached = (covered, terms[terms.index(covered) + 1])
            self._covering[day] = cached
        return cached
