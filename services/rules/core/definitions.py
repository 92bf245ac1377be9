"""Shared definitions read by both the rules and the board's indicators (one home for each).

* **Full care and short breaks.** A child accommodated under a series of short breaks (legal status V3/V4)
  is outside the full-care clocks (initial health assessment, reviews, PEP, health and dental checks) and
  never becomes a care leaver through short breaks alone. When such a child moves to a full care order
  within the same period, the full-care clocks start that day (:func:`full_care_since`), never back-dated
  to the start of the short-break period.
* **Placements.** A temporary placement (T0–T4) is not a placement of its own; going back to the same
  placement type and provider after one is a return; a change of placement with the same carer(s)
  (SSDA903 RNE T/U, ``Placement.same_carer``) is not a move either (DfE "same carer"):
  :func:`continues_stay`.
* **The care-leaver test** (Children (Leaving Care) Regs 2010 reg 40, DfE OC3): looked after for at least
  13 weeks since the 14th birthday, counting every period of care (on a full order) since then, with
  some of it at 16 or later: :func:`days_looked_after_since_14`.
* **The unregulated-placement ban** for under-16s took effect on 9 September 2021 (CPPCR 2010 as amended
  by SI 2021/161; reference §1.9, validation rules 370/371): :data:`UNREGULATED_BAN_FROM`.
* **PEP minimum age.** A child under the minimum age when care starts gets PEP deadlines from the first
  school term beginning on or after the birthday on which they reach it (the term after the birthday, as
  the early-education entitlement starts): :func:`pep_clock_start`. The rule and the board's measure
  both read it.
* **Not known.** A period whose start is before the data (``Period.began_before_data``) makes measures
  needing earlier history unknowable until an earlier return is imported; the indicators then leave the
  child out of that indicator and count them in ``<indicator>.unknown`` (numerator 1, denominator 0).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from schemas.codes import SHORT_BREAK_LEGAL_STATUSES, TEMPORARY_PLACEMENTS

from .calendar import SchoolCalendar, birthday
from .state import ChildState, Period, Placement

UNREGULATED_BAN_FROM: Final = date(2021, 9, 9)
"""The day the ban on placing under-16s in unregulated accommodation took effect (SI 2021/161)."""
CARE_LEAVER_MIN_DAYS_SINCE_14: Final = 13 * 7
CARE_LEAVER_AGE_AT_LEAVING: Final = 16
PEP_MIN_AGE: Final = 3
"""The default minimum age of the PEP duty (early years; the rule's ``min_age`` parameter defaults to it)."""
PEP_MAX_AGE: Final = 18
UNKNOWN_SUFFIX: Final = ".unknown"


def is_short_break(code: str | None) -> bool:
    return code in SHORT_BREAK_LEGAL_STATUSES


def full_care_since(state: ChildState, period: Period, as_of: date) -> date | None:
    """The day the full-care clocks of ``period`` start as of ``as_of``: the first day of the current run of
    full (not V3/V4) legal statuses within the period; None while on short breaks on ``as_of``.

    A legal-status spell that left the horizon is not seen: the run then starts at the period's first day
    on a full order (``Period.full_care_from``), or its start.
    """
    spells = [s for s in state.legal_statuses if period.start <= s.since <= as_of]
    if spells and is_short_break(spells[-1].code):
        return None
    for index in range(len(spells) - 1, -1, -1):
        if is_short_break(spells[index].code):
            return spells[index + 1].since
    if not spells and is_short_break(state.legal_status_on(as_of)):
        return None
    known = period.full_care_from
    if known is not None and known <= as_of:
        return known
    return None if is_short_break(period.legal_status) else period.start


def initial_clocks_unknown(period: Period, since: date) -> bool:
    """The full-care clock starts on the first day in the data of a period that began before it: the
    initial clocks (IHA, first review, first PEP) ran before the data, so they are not known (a rule stays
    silent on them, the board leaves the period out), and the repeating ones count from that day at the
    latest (the most lenient reading: never an alert the real history could contradict)."""
    return period.began_before_data and since == period.start


def continues_stay(normal: Placement | None, placement: Placement, *, after_temporary: bool) -> bool:
    """Whether non-temporary ``placement`` continues the stay in ``normal`` (the latest non-temporary
    placement before it in the period) rather than starting a new one: the same carer (903 RNE T/U), or
    the return after a temporary move to the same placement type and provider."""
    if normal is None:
        return False
    if placement.same_carer:
        return True
    return after_temporary and (normal.placement_type, normal.provider) == (
        placement.placement_type,
        placement.provider,
    )


def is_temporary(placement: Placement) -> bool:
    return placement.placement_type in TEMPORARY_PLACEMENTS


def days_looked_after_since_14(periods: tuple[Period, ...] | list[Period], date_of_birth: date, as_of: date) -> int:
    """Days on a full order since the 14th birthday, over every period of care up to ``as_of`` (a period's
    short-break days before its move to a full order are left out; a short-break-only period adds none)."""
    fourteen = birthday(date_of_birth, 14)
    days = 0
    for period in periods:
        start = period.full_care_from
        if start is None or start > as_of:
            continue
        end = period.end if period.end is not None and period.end <= as_of else as_of
        days += max(0, (end - max(start, fourteen)).days)
    return days


def pep_clock_start(full_care: date, date_of_birth: date, calendar: SchoolCalendar, min_age: int = PEP_MIN_AGE) -> date:
    """The day the PEP clock starts: the start of full care, or for a child under ``min_age`` then, the
    first day of the first school term starting on or after the ``min_age`` birthday."""
    reaches = birthday(date_of_birth, min_age)
    if full_care >= reaches:
        return full_care
    for term in calendar.terms_between(reaches, reaches + timedelta(days=400)):
        if term.start >= reaches:
            return max(full_care, term.start)
    return reaches  # pragma: no cover - every year has terms
