"""SSDA903 code lists that change by collection year (reference §2.3–2.5).

``year`` names a collection year by its end: 2018 = 1 April 2017 – 31 March 2018. The event contract
(``schemas.codes``) holds the union of every year's codes so that history stays valid; the importer and
the exporter check a return against the codes of its own year.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from schemas import codes

SEX_CODES_CHANGE: Final = 2025
"""SEX is 1/2 up to 2023/24 and M/F/U from 2024/25 (validator rule 101)."""


def year_start(year: int) -> date:
    return date(year - 1, 4, 1)


def year_end(year: int) -> date:
    return date(year, 3, 31)


def sex_codes(year: int) -> frozenset[str]:
    return frozenset({"M", "F", "U"}) if year >= SEX_CODES_CHANGE else frozenset({"1", "2"})


def sex_to_return(sex: str, year: int) -> str:
    """carewatch's M/F/U as the return of ``year`` writes it (1/2 before 2024/25; U has no old code)."""
    if year >= SEX_CODES_CHANGE:
        return sex
    return {"M": "1", "F": "2"}.get(sex, sex)


def placement_types(year: int) -> frozenset[str]:
    """PLACE (rule 146): K3 from 2024/25; H5, P2 and Z1 withdrawn and Z11–Z14 added in 2025/26."""
    found = set(codes.PLACEMENT_TYPE)
    if year < 2025:
        found.discard("K3")
    if year < 2026:
        found -= {"Z11", "Z12", "Z13", "Z14"}
    else:
        found -= {"H5", "P2", "Z1"}
    return frozenset(found)


def activities(year: int) -> frozenset[str]:
    """ACTIV (rule 132): F3/P3 (training or employment) until 2020/21; F4/P4 (apprenticeship) and F5/P5 after."""
    found = set(codes.ACTIVITY)
    if year <= 2021:
        return frozenset(found - {"F4", "P4", "F5", "P5"})
    return frozenset(found - {"F3", "P3"})
