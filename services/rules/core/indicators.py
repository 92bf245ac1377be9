"""Board indicator definitions (CONTRACT §3, reference §3): each child's contribution as of a date.

Every indicator is a sum over children of a :class:`Contribution` (numerator, denominator). A child
contributes only through facts dated on or before ``as_of``; a state keeps the facts read from its latest
event on (``horizon.py``), so a past date is computed from the state as it was then (replay), not from
today's. Children on a series of short breaks (legal status V3/V4) are left out of the looked-
after cohorts, as in every DfE figure.

Conventions (interpretations, written once here and used by every definition):

* *Looked after on d*: a period of care covers ``d`` (the day care ended is not looked after) and the legal
  status on ``d`` is not V3/V4.
* *In the 12 months up to d*: a date ``x`` with ``x <= d < x + 12 months`` (an event counts for the year
  that starts on its date; 29 February + 12 months is 1 March).
* *In date*: a check done on ``x`` with an interval of N months is in date up to and including ``x + N
  months`` (overdue from the day after, as the rules say).
* *Placements*: temporary placements (T0–T4: holidays, hospital, respite of the carer) are not placements
  of their own, and going back to the same placement type and provider after one is a return, not a new
  placement (reference §1.10, §2.4; DfE's exact counting rule is not published). A placement is "during"
  the 12 months when any of its days is.
* *Social workers*: distinct worker ids whose allocation overlaps the 12 months (A→B→A is two workers).
  A *change* of social worker is a ``social_worker.changed`` naming a worker other than the one allocated
  just before it (the first allocation is not a change; naming the same worker again is not one).
* *In timescale*: the statutory clock the matching rule watches (``visit-overdue``, ``review-overdue``,
  ``pathway-plan-overdue``) is not overdue on the date, read with the rule itself at the **default**
  thresholds (``services/rules/config/default.toml``: the regulations' intervals), not an authority's local
  settings, so the figure means the same everywhere and the boundary is the rule's own.

The per-indicator definitions, their DfE source and any interpretation are in the docstrings of the
``_<indicator>`` functions below; the board's catalogue (``services/board/core/catalogue.py``) holds the
plain-English wording shown to the board, and the board sums these contributions (it never computes them).

:data:`INDICATORS_VERSION` names this set of definitions: change it whenever a definition changes, so
that every stored child is re-evaluated after a deploy (see ``kernel.catalogue_version``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from operator import attrgetter
from typing import Final

from schemas.codes import (
    EET_ACTIVITIES,
    PLACEMENT_GROUPS,
    SHORT_BREAK_LEGAL_STATUSES,
    SUITABLE_ACCOMMODATION,
)
from schemas.deltas import Contribution

from .calendar import SchoolCalendar, add_months, add_working_days, add_years, age_on, birthday
from .config import RulesConfig
from .definitions import (
    CARE_LEAVER_MIN_DAYS_SINCE_14,
    PEP_MAX_AGE,
    PEP_MIN_AGE,
    UNKNOWN_SUFFIX,
    continues_stay,
    days_looked_after_since_14,
    full_care_since,
    initial_clocks_unknown,
    is_short_break,
    is_temporary,
    pep_clock_start,
)
from .rules import pathway_plan_overdue, review_overdue, visit_overdue
from .rules.base import Verdict, looked_after
from .rules.leaving import leaver
from .state import ChildState, Period, Placement

INDICATORS_VERSION: Final = "indicators-2026-12-3"
"""Bump when any definition below changes (part of the catalogue version stored with each child)."""

IHA_WORKING_DAYS: Final = 20
PEP_FIRST_WORKING_DAYS: Final = 20
PEP_INTERVAL_MONTHS: Final = 4
RHA_INTERVAL_MONTHS_UNDER_5: Final = 6
RHA_INTERVAL_MONTHS_5_AND_OVER: Final = 12
DENTAL_INTERVAL_MONTHS: Final = 12
SDQ_CONCERN_SCORE: Final = 17
RHI_DAYS: Final = 3  # 72 hours, with dates only: by the third day after the return
IHA_EARLIER_ASSESSMENT_MONTHS: Final = 3
ADOPTION_WITH_CURRENT_CARER: Final = frozenset({"A3", "A5"})
GROUP_OF_PLACEMENT: Final = {code: group for group, codes in PLACEMENT_GROUPS.items() for code in codes}

_SCHOOL_TERMS: Final = SchoolCalendar()
"""The default school terms (the board reads no rules configuration; terms set in it are the rule's)."""

CARE_LEAVER_AGES: Final = {"19-21": (19, 21), "17-18": (17, 18)}
"""The OC3 age bands (DfE measures each around the birthday; the older band keeps its original ids)."""


@cache
def statutory_defaults() -> RulesConfig:
    """The rules' default thresholds (the regulations' intervals), read once: the in-timescale indicators
    measure against them whatever an authority configures for its alerts."""
    return RulesConfig.default()


ONE: Final = Contribution(1, 0)
IN_COHORT: Final = Contribution(0, 1)
MET: Final = Contribution(1, 1)
_DAY: Final = timedelta(days=1)


def _share(met: bool) -> Contribution:
    return MET if met else IN_COHORT


def in_12_months(day: date, as_of: date) -> bool:
    return day <= as_of < add_years(day, 1)


@dataclass(frozen=True, slots=True)
class Stay:
    """A placement as the board counts it: temporary moves folded into the stay they interrupt."""

    start: date
    last_day: date | None  # None while it goes on
    placement_type: str


class _View:
    """The facts of one child as of a date, computed once for every indicator."""

    def __init__(self, state: ChildState, as_of: date) -> None:
        self.state = state
        self.as_of = as_of
        self.periods = tuple(p for p in state.periods if p.start <= as_of)
        period = state.looked_after_on(as_of)
        self.period: Period | None = period if period is not None and not self.short_break_on(as_of) else None
        self.dob = self.periods[-1].date_of_birth if self.periods else None
        self._stays: list[Stay] | None = None

    def short_break_on(self, day: date) -> bool:
        return self.state.legal_status_on(day) in SHORT_BREAK_LEGAL_STATUSES

    def age(self) -> int | None:
        return age_on(self.dob, self.as_of) if self.dob else None

    def placements_of(self, period: Period) -> list[Placement]:
        end = period.end if period.end is not None and period.end <= self.as_of else None
        return [
            p for p in self.state.placements if period.start <= p.start <= self.as_of and (end is None or p.start < end)
        ]

    def stays(self) -> list[Stay]:
        """Non-temporary placements of every period up to as_of, returns after a temporary move merged
        (computed once per view: two indicators read them)."""
        if self._stays is None:
            self._stays = self._compute_stays()
        return self._stays

    def _compute_stays(self) -> list[Stay]:
        stays: list[Stay] = []
        for period in self.periods:
            end = period.end if period.end is not None and period.end <= self.as_of else None
            placements = self.placements_of(period)
            period_stays: list[tuple[Placement, date | None]] = []  # (placement, next start)
            previous: Placement | None = None
            interrupted = False
            for index, placement in enumerate(placements):
                following = placements[index + 1].start if index + 1 < len(placements) else end
                if is_temporary(placement):
                    interrupted = True
                    if period_stays:
                        period_stays[-1] = (period_stays[-1][0], following)
                    continue
                returning = continues_stay(previous, placement, after_temporary=interrupted)
                if returning and period_stays:
                    period_stays[-1] = (period_stays[-1][0], following)
                else:
                    period_stays.append((placement, following))
                previous, interrupted = placement, False
            for placement, following in period_stays:
                last = None if following is None else max(placement.start, following - _DAY)
                stays.append(Stay(placement.start, last, placement.placement_type))
        return stays

    def current_placement(self) -> Placement | None:
        if self.period is None:
            return None
        placements = self.placements_of(self.period)
        return placements[-1] if placements else None

    def latest(self, days: Iterable[date]) -> date | None:
        return max((day for day in days if day <= self.as_of), default=None)

    def full_care_since(self) -> date | None:
        """The first day of the current run of full care (see ``definitions.full_care_since``)."""
        return None if self.period is None else full_care_since(self.state, self.period, self.as_of)


def contributions(state: ChildState, as_of: date) -> dict[str, Contribution]:
    """This child's contribution to every indicator as of ``as_of`` (indicators it adds nothing to are
    left out). Rates per population are derived from the counts in the summary, not per child."""
    view = _View(state, as_of)
    return {
        indicator: Contribution(numerator, denominator)
        for definition, _ in DEFINITIONS
        for indicator, numerator, denominator in definition(view)
    }


def contribution_rows(state: ChildState, as_of: date) -> tuple[tuple[str, int, int], ...]:
    """:func:`contributions` as sorted plain rows (indicator, numerator, denominator): the form the
    kernel stores with the child's state."""
    view = _View(state, as_of)
    return tuple(sorted(row for definition, _ in DEFINITIONS for row in definition(view)))


Row = tuple[str, int, int]
Parts = tuple[tuple[Row, ...], ...]
"""Per entry of :data:`DEFINITIONS` (in that order), its rows (indicator, numerator, denominator)."""
Definition = Callable[[_View], tuple[Row, ...]]
"""A definition: the rows (indicator, numerator, denominator) of the contributions it gives that are not
zero."""


def contribution_parts(
    state: ChildState, as_of: date, previous: Parts | None = None, redo: frozenset[int] = frozenset()
) -> Parts:
    """The rows of every definition of :data:`DEFINITIONS` as of ``as_of``. With ``previous`` (the parts
    of an earlier check of the same child), only the definitions at the positions in ``redo`` are
    computed again and the others keep their rows: the kernel passes those whose read fields changed or
    whose own next-change date has come (:func:`due_definitions`)."""
    if previous is None:
        view = _View(state, as_of)
        return tuple(definition(view) for definition, _ in DEFINITIONS)
    if not redo:
        return previous
    view = _View(state, as_of)
    parts = list(previous)
    changed = False
    for position in redo:
        rows = DEFINITIONS[position][0](view)
        if rows != parts[position]:
            parts[position] = rows
            changed = True
    # The very ``previous`` when no definition gave other rows (the kernel then keeps its sorted rows).
    return tuple(parts) if changed else previous


def rows_of(parts: Parts) -> tuple[Row, ...]:
    """The parts as the sorted rows :func:`contribution_rows` gives."""
    return tuple(sorted(row for rows in parts for row in rows))


def _rows(found: Iterable[tuple[str, Contribution | None]]) -> tuple[Row, ...]:
    return tuple((indicator, c.numerator, c.denominator) for indicator, c in found if c is not None and c)


def _one(indicator: str, measure: Callable[[_View], Contribution | None]) -> Definition:
    def definition(view: _View) -> tuple[Row, ...]:
        found = measure(view)
        if found is None or not found:
            return ()
        return ((indicator, found.numerator, found.denominator),)

    return definition


def _or_unknown(indicator: str, measure: Callable[[_View], Contribution | str | None]) -> Definition:
    def definition(view: _View) -> tuple[Row, ...]:
        return _rows(_known_or_not(indicator, measure(view)))

    return definition


def _many(measure: Callable[[_View], Iterable[tuple[str, Contribution | None]]]) -> Definition:
    def definition(view: _View) -> tuple[Row, ...]:
        return _rows(measure(view))

    return definition


UNKNOWN: Final = "unknown"


def _known_or_not(indicator: str, found: Contribution | str | None) -> Iterator[tuple[str, Contribution | None]]:
    """A measure's contribution, or the child counted in ``<indicator>.unknown`` (and left out of the
    indicator's denominator) when the data starts too late to know it."""
    if isinstance(found, str):
        yield indicator + UNKNOWN_SUFFIX, ONE
    else:
        yield indicator, found


def _cla_count(view: _View) -> Contribution | None:
    """Children looked after on the date (DfE "CLA at 31 March", here at any date), V3/V4 excluded."""
    return ONE if view.period else None


def _entered_care_12m(view: _View) -> Contribution | None:
    """Children who started to be looked after in the 12 months (DfE "started during the year"); a child
    starting twice counts once; a period starting on a short-break legal status is left out, and so is a
    period that began before the data (its first day in the data is not when it started)."""
    started = any(
        in_12_months(p.start, view.as_of)
        and p.legal_status not in SHORT_BREAK_LEGAL_STATUSES
        and not p.began_before_data
        for p in view.periods
    )
    return ONE if started else None


def _left_care_12m(view: _View) -> Contribution | None:
    """Children who ceased to be looked after in the 12 months (DfE "ceased during the year"), each child
    once, short-break periods left out."""
    left = any(
        p.end is not None and in_12_months(p.end, view.as_of) and not view.short_break_on(p.end - _DAY)
        for p in view.periods
    )
    return ONE if left else None


def _placements_3plus_12m(view: _View) -> Contribution | str | None:
    """% of children looked after on the date with 3 or more placements during the 12 months (DfE
    short-term placement stability, historic NI 62): the placement in progress at the window's start
    included. Stays as counted by :meth:`_View.stays` (a same-carer change is not a new placement).
    Not known (``.unknown``) when the period began before the data inside the window and fewer than 3
    placements are seen (the ones before the data may count)."""
    if view.period is None:
        return None
    during = [s for s in view.stays() if s.last_day is None or in_12_months(s.last_day, view.as_of)]
    if len(during) < 3 and _history_missing(view, add_years(view.as_of, -1) + _DAY):
        return UNKNOWN
    return _share(len(during) >= 3)


def _history_missing(view: _View, since: date) -> bool:
    """The child's data starts after ``since`` with a period already going on before it."""
    first = next((p for p in view.periods if p.end is None or p.end > since), None)
    return first is not None and first.began_before_data and first.start > since


def _long_term_stability(view: _View) -> Contribution | str | None:
    """% of children under 16 looked after continuously for 2.5 years or more who have been in the same
    placement for 2 years or more, or are placed for adoption (A3/A5, with their current foster carer)
    and that placement together with the one before lasted 2 years (DfE long-term stability, NI 63). DfE
    now says "same carer": a same-carer change (903 RNE T/U) does not break the stay; otherwise carers
    are not in the events, so the same placement stands for it. A period that began before the data and
    is seen for less than 2.5 years is not known (``.unknown``)."""
    period, age = view.period, view.age()
    if period is None or age is None or age >= 16:
        return None
    if view.as_of < add_months(period.start, 30):
        return UNKNOWN if period.began_before_data else None
    stays = [s for s in view.stays() if s.start >= period.start]
    if not stays:
        return IN_COHORT
    since = stays[-1].start
    if stays[-1].placement_type in ADOPTION_WITH_CURRENT_CARER and len(stays) > 1:
        since = stays[-2].start
    return _share(view.as_of >= add_years(since, 2))


def _social_workers_3plus_12m(view: _View) -> Contribution | None:
    """% of children looked after on the date who had 3 or more social workers in the 12 months (DfE
    stability measures: a worker is counted once per child)."""
    if view.period is None:
        return None
    workers = [w for w in view.state.social_workers if w.start <= view.as_of]
    seen = set()
    for index, worker in enumerate(workers):
        following = workers[index + 1].start if index + 1 < len(workers) else None
        last_day = None if following is None else max(worker.start, following - _DAY)
        if last_day is None or in_12_months(last_day, view.as_of):
            seen.add(worker.worker_id)
    return _share(len(seen) >= 3)


def _social_worker_changed_12m(view: _View) -> Contribution | None:
    """% of children looked after on the date who had at least one change of social worker in the 12
    months up to it (a ``social_worker.changed`` dated in the 12 months naming a worker other than the one
    allocated just before; the first allocation is not a change). There is no DfE statistic: this is the
    Children's Commissioner's Stability Index measure (cin-cp.md §5: 60% of children in care in 2017/18),
    which the DfE's "children with a change of social worker" wording in board reports follows."""
    if view.period is None:
        return None
    workers = [w for w in view.state.social_workers if w.start <= view.as_of]
    changed = any(
        in_12_months(worker.start, view.as_of) and worker.worker_id != workers[index - 1].worker_id
        for index, worker in enumerate(workers)
        if index
    )
    return _share(changed)


def _agency_sw_share(view: _View) -> Contribution | None:
    """% of children looked after on the date whose allocated social worker (the latest
    ``social_worker.changed`` on or before it) is an agency worker (``employment = "agency"``). DfE's
    agency worker rate (workforce census, at 30 September) is agency FTE ÷ (agency + employed FTE), per
    worker; the events allocate workers to children, so this is its caseload-weighted reading: each child
    counts once, a worker with more children weighs more. Not comparable to the national 17.8% as it
    stands. A worker whose employment is not recorded is left out, as is a child with no worker allocated
    (the board's snapshots keep catalogue ids only, so a ``.unknown`` count here would not survive them)."""
    if view.period is None:
        return None
    current = next((w for w in reversed(view.state.social_workers) if w.start <= view.as_of), None)
    if current is None or current.employment is None:
        return None
    return _share(current.employment == "agency")


def _in_timescale(verdict: Verdict) -> Contribution:
    """In timescale unless the rule finds the clock overdue (``rules.base.overdue``: from the day after)."""
    return _share(not verdict.findings)


def _visits_in_timescale(view: _View) -> Contribution | None:
    """% of children looked after on the date (full order, with a placement in this period of care) whose
    statutory social-worker visit is not overdue: CPPCR 2010 reg 28(2), within a week of a placement
    starting, then at most 6 weeks apart (3 months after the first year of a placement intended until 18);
    the ``visit-overdue`` rule's boundary at its default thresholds (a visit due on the date is still in
    timescale; overdue from the day after). No national statistic."""
    period = looked_after(view.state, view.as_of, include_short_breaks=False)
    if period is None or not any(period.start <= p.start <= view.as_of for p in view.state.placements):
        return None
    return _in_timescale(visit_overdue.evaluate(view.state, view.as_of, statutory_defaults()))


def _reviews_in_timescale(view: _View) -> Contribution | None:
    """% of children looked after on a full order on the date whose statutory review is not overdue:
    CPPCR 2010 reg 33, the first within 20 working days of care starting, the second within 3 months of
    the first, then at most 6 months apart; the ``review-overdue`` rule's boundary at its default
    thresholds (full care counted from ``definitions.full_care_since``). No national statistic."""
    period = looked_after(view.state, view.as_of, include_short_breaks=False)
    if period is None or full_care_since(view.state, period, view.as_of) is None:
        return None
    return _in_timescale(review_overdue.evaluate(view.state, view.as_of, statutory_defaults()))


def _pathway_plans_in_date(view: _View) -> Contribution | None:
    """% of care leavers (as the ``pathway-plan-overdue`` rule defines them: left care aged 16 or over
    after 13 weeks since the 14th birthday, not adopted or on an SGO, under 21) whose pathway plan has
    been reviewed within 6 months (Children Act 1989 s23E; Care Leavers (England) Regulations 2010: at
    least every six months), at the rule's default thresholds; due by the later of the last review and
    the day care ended, + 6 months. No national statistic."""
    config = statutory_defaults()
    params = config.params(pathway_plan_overdue.ID, pathway_plan_overdue.Params)
    if leaver(view.state, view.as_of, params) is None:
        return None
    return _in_timescale(pathway_plan_overdue.evaluate(view.state, view.as_of, config))


def _iha_deadline(period: Period) -> date:
    return add_working_days(period.start, IHA_WORKING_DAYS)


def _iha_within_20wd(view: _View) -> Contribution | None:
    """% of children who started care in the 12 months, whose 20-working-day deadline has passed (the
    day after it) and who were still looked after on it, with a health assessment between 3 months
    before care started and the deadline (reference §1.3: an assessment in the previous 3 months
    suffices). The latest such period of the child counts. A child on short breaks (V3/V4) who moves to a
    full order is counted from that day (the clock is never back-dated); a period that began before the
    data is left out (its deadline is unknown). No national statistic."""
    for period in reversed(view.periods):
        start = period.full_care_from
        if start is None or start > view.as_of or initial_clocks_unknown(period, start):
            continue
        deadline = add_working_days(start, IHA_WORKING_DAYS)
        if not in_12_months(start, view.as_of) or view.as_of <= deadline:
            continue
        if period.end is not None and period.end <= deadline:
            continue
        earliest = add_months(start, -IHA_EARLIER_ASSESSMENT_MONTHS)
        return _share(any(earliest <= a.on <= deadline for a in view.state.health_assessments))
    return None


def _continuously_12_months(view: _View) -> Period | None:
    """The period of a child looked after on a full order continuously for 12 months (short-break days
    before a move to a full order do not count)."""
    since = view.full_care_since()
    if view.period is None or since is None or view.as_of < add_years(since, 1):
        return None
    return view.period


def _rha_in_date(view: _View) -> Contribution | None:
    """% of children looked after continuously for 12 months or more (DfE OC2 cohort, at any date) whose
    latest health assessment is in date: 6 months under 5, 12 months from the 5th birthday."""
    if _continuously_12_months(view) is None:
        return None
    last = view.latest(a.on for a in view.state.health_assessments)
    age = view.age() or 0
    months = RHA_INTERVAL_MONTHS_UNDER_5 if age < 5 else RHA_INTERVAL_MONTHS_5_AND_OVER
    return _share(last is not None and view.as_of <= add_months(last, months))


def _dental_in_date(view: _View) -> Contribution | None:
    """% of children looked after continuously for 12 months or more with a dental check in the last 12
    months (DfE OC2 "teeth checked by a dentist")."""
    if _continuously_12_months(view) is None:
        return None
    last = view.latest(c.on for c in view.state.dental_checks)
    return _share(last is not None and view.as_of <= add_months(last, DENTAL_INTERVAL_MONTHS))


def _pep_in_date(view: _View) -> Contribution | None:
    """% of children under 18 looked after on a full order past the 20-working-day deadline for the first
    PEP, with a PEP of this period of care in the last 4 months (termly reviews, "no more than about 4
    months apart", reference §0). The deadline counts from ``definitions.pep_clock_start`` (full care, or
    the first term after the 3rd birthday), as the pep-overdue rule does. No national statistic."""
    period, age, since = view.period, view.age(), view.full_care_since()
    if period is None or age is None or age >= PEP_MAX_AGE or since is None or view.dob is None:
        return None
    clock = pep_clock_start(since, view.dob, _SCHOOL_TERMS, PEP_MIN_AGE)
    if view.as_of <= add_working_days(clock, PEP_FIRST_WORKING_DAYS):
        return None
    last = view.latest(p.on for p in view.state.peps if p.on >= period.start)
    return _share(last is not None and view.as_of <= add_months(last, PEP_INTERVAL_MONTHS))


def _sdq_concern(view: _View) -> Contribution | None:
    """% of children aged 4–16 looked after continuously for 12 months or more with an SDQ score in the
    last 12 months whose latest score is 17 or more ("cause for concern" band). Lower is better."""
    age = view.age()
    if _continuously_12_months(view) is None or age is None or not 4 <= age <= 16:
        return None
    scores = [s for s in view.state.sdq_scores if in_12_months(s.on, view.as_of)]
    if not scores:
        return None
    latest = max(scores, key=lambda s: s.on)
    return _share(latest.score >= SDQ_CONCERN_SCORE)


def _while_looked_after(view: _View, day: date | None) -> bool:
    return day is not None and view.state.looked_after_on(day) is not None and not view.short_break_on(day)


def _missing_children_12m(view: _View) -> Contribution | None:
    """Children with a missing episode starting in the 12 months while looked after (DfE missing
    release, counted as children, not incidents). "Away from placement without authorisation" (903 A,
    ``kind="away"``) is a separate DfE count and is left out; an episode of unstated kind counts as
    missing; episodes while not looked after (or on short breaks) are left out."""
    went = any(
        e.kind != "away"
        and e.start is not None
        and in_12_months(e.start, view.as_of)
        and _while_looked_after(view, e.start)
        for e in view.state.missing_episodes
    )
    return ONE if went else None


def _rhi_within_72h(view: _View) -> Contribution | None:
    """% of missing episodes ended in the 12 months, counted once 72 hours have passed (from the 4th day
    after the return), with a return interview within 72 hours (dates only: by the 3rd day after the
    return). Per episode, so one child can add several; episodes that started while looked after only
    (missing and away alike, as the rhi-overdue rule). No national statistic in SSDA903."""
    numerator = denominator = 0
    for episode in view.state.missing_episodes:
        end = episode.end
        if end is None or not in_12_months(end, view.as_of) or not _while_looked_after(view, episode.start):
            continue
        deadline = end + timedelta(days=RHI_DAYS)
        if view.as_of <= deadline:
            continue
        denominator += 1
        numerator += any(end <= interview.on <= deadline for interview in episode.return_interviews)
    return Contribution(numerator, denominator) if denominator else None


def _care_leaver(view: _View, ages: tuple[int, int]) -> bool:
    """Aged ``ages`` (inclusive), not looked after, and looked after for 13 weeks or more since the 14th
    birthday with some of it at 16 or later (DfE care-leaver definition), every period since the 14th
    birthday counted (``definitions.days_looked_after_since_14``; short-break days do not count)."""
    age = view.age()
    youngest, oldest = ages
    if view.dob is None or age is None or not youngest <= age <= oldest or view.state.looked_after_on(view.as_of):
        return False
    sixteen = birthday(view.dob, 16)
    after_sixteen = any(
        p.full_care_from is not None and p.full_care_from < view.as_of and (p.end is None or p.end > sixteen)
        for p in view.periods
    )
    days = days_looked_after_since_14(view.periods, view.dob, view.as_of)
    return days >= CARE_LEAVER_MIN_DAYS_SINCE_14 and after_sixteen


def _care_leavers(view: _View) -> Iterator[tuple[str, Contribution | None]]:
    """Care leavers aged 19–21 and, separately, aged 17–18 (DfE OC3, both bands published): in touch, in
    education/employment/training (EET activity codes), in accommodation considered suitable (ACCOM codes
    ending 1). DfE measures around each birthday; here the latest contact of the last 12 months is used,
    and no contact counts against every measure (DfE denominators include "no information"). The 19–21
    ids keep their first names (``care-leavers-in-touch`` has no age suffix)."""
    for band, ages in CARE_LEAVER_AGES.items():
        if not _care_leaver(view, ages):
            continue
        contacts = [c for c in view.state.care_leaver_contacts if in_12_months(c.on, view.as_of)]
        latest = max(contacts, key=lambda c: c.on) if contacts else None
        in_touch = latest is not None and latest.in_touch
        yield ("care-leavers-in-touch" if band == "19-21" else f"care-leavers-in-touch-{band}"), _share(in_touch)
        yield (
            f"care-leavers-eet-{band}",
            _share(in_touch and latest is not None and latest.activity in EET_ACTIVITIES),
        )
        yield (
            f"care-leavers-suitable-accommodation-{band}",
            _share(in_touch and latest is not None and latest.accommodation in SUITABLE_ACCOMMODATION),
        )


def _uasc_count(view: _View) -> Contribution | None:
    """Unaccompanied asylum-seeking children looked after on the date (UASC flag of the period, up to the
    day before the date UASC status ceased, SSDA903 DUC)."""
    period = view.period
    if period is None or not period.uasc:
        return None
    return ONE if period.uasc_ceased_on is None or view.as_of < period.uasc_ceased_on else None


def _placement_mix(view: _View) -> Iterator[tuple[str, Contribution | None]]:
    """% of children looked after on the date with a placement, by the group of their current placement
    type (``schemas.codes.PLACEMENT_GROUPS``; a temporary placement counts as "temporary")."""
    placement = view.current_placement()
    if placement is None:
        return
    own = GROUP_OF_PLACEMENT.get(placement.placement_type)
    for group in PLACEMENT_GROUPS:
        yield f"placement-mix.{group}", _share(group == own)


_BASE: Final = frozenset({"periods", "legal_statuses"})
"""What every definition reads through :class:`_View` (the period of care, short breaks)."""

DEFINITIONS: Final[tuple[tuple[Definition, frozenset[str]], ...]] = (
    (_one("cla-count", _cla_count), _BASE),
    (_one("entered-care-12m", _entered_care_12m), _BASE),
    (_one("left-care-12m", _left_care_12m), _BASE),
    (_or_unknown("placements-3plus-12m", _placements_3plus_12m), _BASE | {"placements"}),
    (_or_unknown("long-term-stability", _long_term_stability), _BASE | {"placements"}),
    (_one("social-workers-3plus-12m", _social_workers_3plus_12m), _BASE | {"social_workers"}),
    (_one("social-worker-changed-12m", _social_worker_changed_12m), _BASE | {"social_workers"}),
    (_one("agency-sw-share", _agency_sw_share), _BASE | {"social_workers"}),
    (_one("visits-in-timescale", _visits_in_timescale), _BASE | set(visit_overdue.SPEC.reads)),
    (_one("reviews-in-timescale", _reviews_in_timescale), _BASE | set(review_overdue.SPEC.reads)),
    (_one("pathway-plans-in-date", _pathway_plans_in_date), _BASE | set(pathway_plan_overdue.SPEC.reads)),
    (_one("iha-within-20wd", _iha_within_20wd), _BASE | {"health_assessments"}),
    (_one("rha-in-date", _rha_in_date), _BASE | {"health_assessments"}),
    (_one("dental-in-date", _dental_in_date), _BASE | {"dental_checks"}),
    (_one("pep-in-date", _pep_in_date), _BASE | {"peps"}),
    (_one("sdq-concern", _sdq_concern), _BASE | {"sdq_scores"}),
    (_one("missing-children-12m", _missing_children_12m), _BASE | {"missing_episodes"}),
    (_one("rhi-within-72h", _rhi_within_72h), _BASE | {"missing_episodes"}),
    (_many(_care_leavers), _BASE | {"care_leaver_contacts"}),
    (_one("uasc-count", _uasc_count), _BASE),
    (_many(_placement_mix), _BASE | {"placements"}),
)
"""Every definition with the state fields it reads (besides ``as_of``), in the board's order; each
indicator comes from one definition. ``tests/unit/test_kernel_schedule.py`` checks, on every day of
generated histories, that contributions re-computed only where a read field changed equal those
computed afresh."""


def next_change(state: ChildState, as_of: date) -> date | None:
    """The first date after ``as_of`` on which this child's contributions may change with no new event.

    A superset is safe (re-checking a day on which nothing changes costs one evaluation), a missing date
    is not: :func:`_candidates` lists, per fact, the first day each comparison the definitions above make
    with the date flips (no day-after margins: each wake-up costs a full evaluation). The candidates come
    in groups by the fields they are computed from (:data:`_GROUPS`), kept in the state's memo: a new fact
    re-computes only the groups of the fields that are new tuples.
    """
    return earliest(schedule(state, as_of)[1])


Schedule = tuple[date | None, ...]
"""Per group of :data:`_GROUPS`, its first candidate date after the date of a contribution check."""


def schedule(
    state: ChildState, as_of: date, previous: Schedule | None = None, moved: Iterable[str] = ()
) -> tuple[set[int], Schedule]:
    """(the positions in :data:`DEFINITIONS` due by ``as_of``, the schedule after ``as_of``).

    With the ``previous`` schedule (of an earlier check of the same child) and the fields of
    :data:`FACTS_READ` that are new tuples since (``moved``), the definitions due are those reading a
    group whose next candidate has come (every comparison a definition makes with the date is with a date
    of its own read facts); only those groups and the ones of moved fields look for their next date
    again. The readers of the moved fields are the caller's to add (:data:`FIELD_READERS`). Without
    ``previous``, none is due and every group looks afresh. The earliest of the schedule is
    :func:`next_change`."""
    groups = _candidate_groups(state)
    due: set[int] = set()
    if previous is None:
        return due, tuple(_after(dates, as_of) for dates in groups)
    stale = {group for name in moved for group in _FIELD_GROUPS[name]}
    nexts = list(previous)
    for group, when in enumerate(previous):
        if when is not None and when <= as_of:
            due |= _GROUP_READERS[group]
            nexts[group] = _after(groups[group], as_of)
        elif group in stale:
            nexts[group] = _after(groups[group], as_of)
    return due, tuple(nexts)


def _after(dates: list[date], as_of: date) -> date | None:
    index = bisect.bisect_right(dates, as_of)
    return dates[index] if index < len(dates) else None


def earliest(nexts: Schedule) -> date | None:
    """The first date of a schedule (None: no candidate left)."""
    return min((when for when in nexts if when is not None), default=None)


def _candidate_groups(state: ChildState) -> tuple[list[date], ...]:
    """Each group's sorted candidates, kept in the state's memo with the state's :data:`FACTS_READ`: a new
    fact re-computes only the groups of the fields that are new tuples."""
    memo = state.memo
    facts = facts_read(state)
    cached: tuple[tuple[object, ...], tuple[list[date], ...]] | None = memo.get(_CANDIDATES)
    if cached is None:
        groups = tuple(sorted(dates_of(state)) for _, dates_of in _GROUPS)
    elif cached[0] != facts:
        old = cached[0]
        stale: set[int] = set()
        for position, now in enumerate(facts):
            if now is not old[position]:
                stale.update(_POSITION_GROUPS[position])
        fresh = list(cached[1])
        for group in stale:
            fresh[group] = sorted(_GROUPS[group][1](state))
        groups = tuple(fresh)
    else:
        return cached[1]
    memo[_CANDIDATES] = (facts, groups)
    return groups


_CANDIDATES: Final = "board.next_change"
FACTS_READ: Final = (
    "periods",
    "legal_statuses",
    "placements",
    "social_workers",
    "health_assessments",
    "dental_checks",
    "peps",
    "sdq_scores",
    "missing_episodes",
    "care_leaver_contacts",
    "visits",
    "reviews",
    "pruned_reviews",
    "pathway_plan_reviews",
)
"""The state fields the definitions and :func:`_candidates` read."""
facts_read: Final = attrgetter(*FACTS_READ)
"""The fields of :data:`FACTS_READ` of a state, as a tuple in that order."""


def _candidates(state: ChildState) -> set[date]:
    """The dates on which a definition above can change its answer with no new fact (the facts it reads
    are dated on or before the date it is computed for). Per fact, the thresholds the definitions compare
    the date with: a fact's own date (it starts to be read) and the first day each comparison flips:

    * in the 12 months up to d (``in_12_months(x, d)``): ``x`` and ``add_years(x, 1)``;
    * in date up to ``x + N months``: the day after it; a deadline ``as_of <= deadline``: the day after;
    * a stay's or a social worker's last day is the day before the next start (or the start itself):
      it leaves the 12 months a year after either;
    * two years in the same placement, 30 months in care, a year in care: that anniversary;
    * ages the cohorts test (4, 5, 16, 17, 19, 22; and 14) on the birthday; the legal status on each
      change (V3/V4 short breaks); a period of care on its start and end.

    Only the flips that can show are kept: of facts of which only the latest is read (checks, PEPs,
    scores, contacts, visits, reviews), an earlier one's flips on or after a later one's date are left
    out (:func:`_until_superseded`); a spell's start only where full care can start
    (:func:`_full_care_restarts`); stays and workers leaving the 12 months only where 3 could be counted.

    A date missing here would leave a contribution stale until the next event (the daily-recomputation
    tests in ``tests/unit/test_kernel_schedule.py`` check it); an extra one costs one evaluation.
    """
    candidates: set[date] = set()
    for _, dates_of in _GROUPS:
        candidates.update(dates_of(state))
    return candidates


def _year(add: Callable[[date], None], day: date | None) -> None:
    if day is not None:
        add(day)
        add(add_years(day, 1))


def _window(add: Callable[[date], None], day: date | None) -> None:
    # Wider than ``_year`` (the day after too): for the readings of care starts, legal statuses and
    # placements, where a safe superset is kept.
    if day is not None:
        add(day)
        add(day + _DAY)
        add(add_years(day, 1))


def _period_dates(state: ChildState) -> set[date]:
    candidates: set[date] = set()
    add = candidates.add
    for period in state.periods:
        _window(add, period.start)
        _window(add, period.end)
        candidates.update(
            (
                add_years(period.start, 1),
                add_months(period.start, 30),
                _iha_deadline(period) + _DAY,
                add_working_days(period.start, PEP_FIRST_WORKING_DAYS) + _DAY,
            )
        )
        if period.uasc_ceased_on is not None:
            add(period.uasc_ceased_on)
        if period.began_before_data:
            _window(add, period.start - _DAY)
        if period.full_care_from is not None:
            _window(add, period.full_care_from)
            candidates.update(
                (
                    add_working_days(period.full_care_from, IHA_WORKING_DAYS) + _DAY,
                    add_working_days(period.full_care_from, PEP_FIRST_WORKING_DAYS) + _DAY,
                )
            )
        if period.end is not None:
            _year(add, period.end)
            add(add_years(period.end - _DAY, 1))
    for period in state.periods:
        for age in (4, 5, 14, 16, 17, 18, 19, 21, 22):
            add(birthday(period.date_of_birth, age))
        for began in (period.start, period.full_care_from):
            if began is not None:
                clock = pep_clock_start(began, period.date_of_birth, _SCHOOL_TERMS, PEP_MIN_AGE)
                add(add_working_days(clock, PEP_FIRST_WORKING_DAYS) + _DAY)
    return candidates


def _legal_status_dates(state: ChildState) -> set[date]:
    candidates: set[date] = set()
    add = candidates.add
    for spell in state.legal_statuses:
        add(spell.since)
    # The date is compared with a spell's start only where full care may start that day (a year of
    # full care, the first PEP's deadline); the period's own starts are in ``_period_dates``.
    for since in _full_care_restarts(state):
        add(add_years(since, 1))
        for period in state.periods:
            clock = pep_clock_start(since, period.date_of_birth, _SCHOOL_TERMS, PEP_MIN_AGE)
            add(add_working_days(clock, PEP_FIRST_WORKING_DAYS) + _DAY)
    return candidates


def _full_care_restarts(state: ChildState) -> list[date]:
    """The starts of the legal-status spells that follow a short-break spell: besides a period's start
    and its ``full_care_from``, the only days ``definitions.full_care_since`` can give (the spells of
    a period are a run of the date-ordered spells)."""
    spells = state.legal_statuses
    return [spells[i].since for i in range(1, len(spells)) if is_short_break(spells[i - 1].code)]


def _placement_dates(state: ChildState) -> set[date]:
    candidates: set[date] = set()
    add = candidates.add
    starts = [placement.start for placement in state.placements]
    # Stays leaving the 12 months can only matter to a count of 3 or more (a stay is a non-temporary
    # placement or several).
    counted = sum(not is_temporary(placement) for placement in state.placements) >= 3
    for index, start in enumerate(starts):
        add(start)
        add(add_years(start, 2))  # two years in the same placement
        if counted:
            # A stay's last day is the day before the next start (or period end, in ``_period_dates``),
            # or its own start when the next one starts that day: it leaves the 12 months a year later.
            add(add_years(start - _DAY, 1))
            if start in starts[index + 1 :]:
                add(add_years(start, 1))
    return candidates


def _social_worker_dates(state: ChildState) -> set[date]:
    candidates: set[date] = set()
    add = candidates.add
    workers = state.social_workers
    # Workers leaving the 12 months can only matter to a count of 3 or more distinct workers.
    counted = len({worker.worker_id for worker in workers}) >= 3
    for index, worker in enumerate(workers):
        add(worker.start)
        if index and counted:
            # The previous worker's last day (the day before this start, or that start when both start
            # on one day) leaves the 12 months a year later.
            add(add_years(worker.start - _DAY, 1))
            if worker.start == workers[index - 1].start:
                add(add_years(worker.start, 1))
    # Of the changes of worker, the latest in the 12 months decides whether there was one.
    changes = (w.start for i, w in enumerate(workers) if i and w.worker_id != workers[i - 1].worker_id)
    candidates.update(_until_superseded(changes, _year_after))
    return candidates


def _until_superseded(days: Iterable[date], *flips: Callable[[date], date | None]) -> set[date]:
    """The dates of facts of which only the latest on or before the date is read (the latest check, PEP,
    score, contact, visit, review), and each one's ``flips`` (the first day a comparison of it with the
    date flips; None: none) that come before a later fact: from a later fact's date on, that one is the
    latest read, so an earlier fact's flips on or after it can no longer show."""
    ordered = sorted(set(days))
    candidates = set(ordered)
    for index, day in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        for flip in flips:
            when = flip(day)
            if when is not None and (following is None or following > when):
                candidates.add(when)
    return candidates


def _months_after(months: int) -> Callable[[date], date]:
    """The day after ``months`` months from a date (in date up to and including it)."""
    return lambda day: add_months(day, months) + _DAY


def _year_after(day: date) -> date:
    """The first day a date is no longer in the 12 months (``in_12_months``)."""
    return add_years(day, 1)


def _health_dates(state: ChildState) -> set[date]:
    # Only the latest assessment is read by the date (``_rha_in_date``); ``_iha_within_20wd`` compares
    # them with the period's deadline, not with the date. The 6-month interval holds under 5 only (the
    # 5th birthday is in ``_period_dates``).
    fifth = max((birthday(p.date_of_birth, 5) for p in state.periods), default=None)

    def under_5(day: date) -> date | None:
        flip = add_months(day, RHA_INTERVAL_MONTHS_UNDER_5) + _DAY
        return flip if fifth is not None and flip < fifth else None

    return _until_superseded(
        (a.on for a in state.health_assessments), under_5, _months_after(RHA_INTERVAL_MONTHS_5_AND_OVER)
    )


def _dental_dates(state: ChildState) -> set[date]:
    return _until_superseded((c.on for c in state.dental_checks), _months_after(DENTAL_INTERVAL_MONTHS))


def _pep_dates(state: ChildState) -> set[date]:
    # The latest PEP of the period: a later one is of the same period or of a later one, where the
    # earlier is not read at all.
    return _until_superseded((p.on for p in state.peps), _months_after(PEP_INTERVAL_MONTHS))


def _sdq_dates(state: ChildState) -> set[date]:
    # The latest score of the 12 months decides; earlier ones leaving them change nothing.
    return _until_superseded((s.on for s in state.sdq_scores), _year_after)


def _missing_dates(state: ChildState) -> set[date]:
    candidates: set[date] = set()
    add = candidates.add
    for episode in state.missing_episodes:
        _year(add, episode.start)
        _year(add, episode.end)
        if episode.end is not None:
            add(episode.end + timedelta(days=RHI_DAYS + 1))
    return candidates


def _contact_dates(state: ChildState) -> set[date]:
    # The latest contact of the 12 months decides; earlier ones leaving them change nothing.
    return _until_superseded((c.on for c in state.care_leaver_contacts), _year_after)


@cache
def _timescale_settings() -> tuple[visit_overdue.Params, review_overdue.Params, pathway_plan_overdue.Params]:
    config = statutory_defaults()
    return (
        config.params(visit_overdue.ID, visit_overdue.Params),
        config.params(review_overdue.ID, review_overdue.Params),
        config.params(pathway_plan_overdue.ID, pathway_plan_overdue.Params),
    )


def _visit_dates(state: ChildState) -> set[date]:
    """The days ``visits-in-timescale`` can flip with no new event: the day after each deadline the
    ``visit-overdue`` rule computes at its default thresholds."""
    visits = _timescale_settings()[0]
    out: set[date] = set()
    days = sorted(v.on for v in state.visits)
    first_visit = timedelta(days=visits.first_visit_days)
    for placement in state.placements:
        # The first visit's deadline is read only while the placement has had no visit.
        index = bisect.bisect_left(days, placement.start)
        if index == len(days) or days[index] > placement.start + first_visit:
            out.add(placement.start + first_visit + _DAY)
    # The rule reads the latest visit of the placement (a long-term placement is told by that visit's
    # date, not by the date of the check), so a visit's deadline passing after the next visit is no flip.
    interval = timedelta(weeks=visits.interval_weeks) + _DAY
    flips: list[Callable[[date], date]] = [lambda day: day + interval]
    if any(placement.intended_until_18 for placement in state.placements):
        flips.append(_months_after(visits.long_term_interval_months))
    out.update(_until_superseded((v.on for v in state.visits), *flips))
    return out


def _review_dates(state: ChildState) -> set[date]:
    """The days ``reviews-in-timescale`` can flip: after each deadline of the ``review-overdue`` rule."""
    reviews = _timescale_settings()[1]
    out: set[date] = set()
    for period in state.periods:
        for began in (period.start, period.full_care_from):
            if began is not None:
                out.add(add_working_days(began, reviews.first_working_days) + _DAY)
                out.add(add_months(began, reviews.later_months) + _DAY)
    restarts = _full_care_restarts(state)
    for since in restarts:
        out.add(add_working_days(since, reviews.first_working_days) + _DAY)
        out.add(add_months(since, reviews.later_months) + _DAY)
    # The deadline counts from the latest review held (or the first, while it is the only one): once a
    # later review is held, neither of an earlier one's deadlines is read. A review is the first held
    # only if full care may have started since the review before it.
    sinces = [*restarts, *(day for p in state.periods for day in (p.start, p.full_care_from) if day is not None)]
    days = sorted({r.on for r in state.reviews})
    firsts = {day for i, day in enumerate(days) if not i or any(days[i - 1] < since <= day for since in sinces)}

    def second(day: date) -> date | None:
        return add_months(day, reviews.second_months) + _DAY if day in firsts else None

    out.update(_until_superseded(days, second, _months_after(reviews.later_months)))
    return out


def _pathway_plan_dates(state: ChildState) -> set[date]:
    """The days ``pathway-plans-in-date`` can flip: after each deadline of ``pathway-plan-overdue``."""
    plans = _timescale_settings()[2]
    out: set[date] = set()
    for period in state.periods:
        if period.end is not None:
            out.add(add_months(period.end, plans.interval_months) + _DAY)
    # Due by the latest review (or the day care ended): an earlier review's deadline is not read.
    out.update(_until_superseded((r.on for r in state.pathway_plan_reviews), _months_after(plans.interval_months)))
    return out


def _fields(*names: str) -> tuple[int, ...]:
    return tuple(FACTS_READ.index(name) for name in names)


_GROUPS: Final[tuple[tuple[tuple[int, ...], Callable[[ChildState], set[date]]], ...]] = (
    (_fields("periods"), _period_dates),
    (_fields("legal_statuses", "periods"), _legal_status_dates),
    (_fields("placements"), _placement_dates),
    (_fields("social_workers"), _social_worker_dates),
    (_fields("health_assessments", "periods"), _health_dates),
    (_fields("dental_checks"), _dental_dates),
    (_fields("peps"), _pep_dates),
    (_fields("sdq_scores"), _sdq_dates),
    (_fields("missing_episodes"), _missing_dates),
    (_fields("care_leaver_contacts"), _contact_dates),
    (_fields("placements", "visits"), _visit_dates),
    (_fields("periods", "legal_statuses", "reviews"), _review_dates),
    (_fields("periods", "pathway_plan_reviews"), _pathway_plan_dates),
)
"""The candidate dates of :func:`_candidates` by group: (the positions in :data:`FACTS_READ` of the fields
a group's dates are computed from, the function computing them)."""

_DEFINITION_GROUPS: Final = tuple(
    tuple(group for group, (positions, _) in enumerate(_GROUPS) if {FACTS_READ[i] for i in positions} <= reads)
    for _, reads in DEFINITIONS
)
"""Per definition, the groups whose dates it may change on: those computed from fields it reads."""
_GROUP_READERS: Final = tuple(
    frozenset(position for position, groups in enumerate(_DEFINITION_GROUPS) if group in groups)
    for group in range(len(_GROUPS))
)
"""Per group of candidate dates, the positions of the definitions that may change on them."""
_FIELD_GROUPS: Final = {
    name: tuple(group for group, (positions, _) in enumerate(_GROUPS) if FACTS_READ.index(name) in positions)
    for name in FACTS_READ
}
"""Per field of :data:`FACTS_READ`, the groups of candidate dates computed from it."""
_POSITION_GROUPS: Final = tuple(_FIELD_GROUPS[name] for name in FACTS_READ)
""":data:`_FIELD_GROUPS` by position in :data:`FACTS_READ`."""
FIELD_READERS: Final = {
    name: frozenset(position for position, (_, reads) in enumerate(DEFINITIONS) if name in reads) for name in FACTS_READ
}
"""Per field of :data:`FACTS_READ`, the positions in :data:`DEFINITIONS` of the definitions reading it."""
