"""Pure date helpers the contracts need; the rules calendar re-exports them (schemas import nothing above)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache


@lru_cache(maxsize=65_536)  # ages and anniversaries are asked for every child on every evaluation
def add_years(day: date, years: int) -> date:
    """The same date ``years`` later; 29 February in a non-leap target year becomes 1 March.

    So a child born on 29 Feb 2012 is 5 from 1 Mar 2017 and 4 until 28 Feb 2017 (the usual English
    reading for ages, Family Law Reform Act 1969 s9 counts the anniversary).
    """
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)
