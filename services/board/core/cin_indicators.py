"""Authority-level indicators of the children in need and child protection journey (CONTRACT §6).

Each indicator is a sum over children of a :class:`Contribution`, as for the looked-after indicators, over
the children's CIN/CP facts (:mod:`services.rules.core.cin.facts`) as of a date. A child contributes only
through facts dated on or before ``as_of``. Rates per 10,000 use the population aged 0–17 (ONS mid-year
estimate) as their denominator, passed in.

Conventions:

* *In the window up to d* (``window_months`` = 12 for the year, 1 for a monthly series point): a date
  ``x`` with ``x <= d < x + window_months months`` (the looked-after indicators' convention).
* *Open on d*: started on or before ``d`` and not ended on or before ``d`` (the day a plan ends or a case
  closes it is no longer open, as the day care ends is not looked after).

Definitions (``shared/domain/cin-cp.md`` §1.1; DfE wording quoted there):

* ``referrals-rate-per-10k``: referrals received in the window, per 10,000 children aged 0–17. DfE counts
  referrals, not children.
* ``re-referrals-12m`` (%): of the referrals received in the window, those received within 12 months of
  a previous referral of the same child (``p <= r < p + 12 months``, ``p`` an earlier referral). DfE:
  "when a child is referred within 12 months of a previous referral"; re-referrals ÷ all referrals.
* ``assessments-within-45wd`` (%): of the assessments completed in the window, those completed on or
  before the 45th working day after the referral (Working Together's limit, "from the point of referral";
  England bank holidays skipped). Whether DfE's C2 durations start at the referral or the assessment start
  is not published; the referral is used, as Working Together says (the assessment start if the referral
  is unknown).
* ``cp-plans-rate-per-10k``: children subject to a child protection plan open on ``as_of``, per 10,000.
* ``cp-plans-second-or-subsequent`` (%): of the children who became subject to a plan in the window, those
  who had previously been the subject of a plan, "regardless of how long ago" (DfE D3): an earlier plan in
  their history, or ``previous_plans`` ≥ 1 on the plan (CIN census NumberOfPreviousCPP).
* ``cp-plans-ended-2y-plus`` (%): of the plans that ended in the window, those that had lasted 2 years or
  more (end on or after the start's second anniversary; DfE D7).
* ``cin-rate-per-10k``: children in need on ``as_of`` per 10,000: an open episode of need (a referral on
  or before ``as_of`` not closed since, excluding a referral with no further action and one whose
  completed assessments all found the child not in need), or looked after on ``as_of`` (DfE counts looked-
  after children as children in need).
* ``entered-care-month``: children starting to be looked after in the window (one per start).
* ``re-entered-care-12m`` (%): of the starts in the window, those within 12 months of the child's
  previous period of care ending.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from services.board.core.aggregate import Contribution
from services.board.core.catalogue import AUTHORITY_INDICATORS
from services.rules.core.calendar import add_months, add_working_days, add_years
from services.rules.core.cin.facts import CinFacts, Referral

PER_10K: Final = 10_000
ASSESSMENT_WORKING_DAYS: Final = 45

RATE_INDICATORS: Final = frozenset({"referrals-rate-per-10k", "cp-plans-rate-per-10k", "cin-rate-per-10k"})
PERCENT_INDICATORS: Final = frozenset(
    {
        "re-referrals-12m",
        "assessments-within-45wd",
        "cp-plans-second-or-subsequent",
        "cp-plans-ended-2y-plus",
        "re-entered-care-12m",
    }
)
COUNT_INDICATORS: Final = frozenset({"entered-care-month"})
INDICATOR_IDS: Final = tuple(sorted(RATE_INDICATORS | PERCENT_INDICATORS | COUNT_INDICATORS))
BETTER: Final[Mapping[str, str]] = {
    id_: "neither" if indicator.better == "neutral" else indicator.better
    for id_, indicator in AUTHORITY_INDICATORS.items()
}
"""Which direction is better, for the SPC readings (``neither`` for demand measures), from the catalogue."""


def in_window(day: date, as_of: date, window_months: int) -> bool:
    return day <= as_of < add_months(day, window_months)


def _referrals_to(facts: CinFacts, as_of: date) -> list[Referral]:
    return [r for r in facts.referrals if r.on <= as_of]


def _referrals(facts: CinFacts, as_of: date, window: int) -> Contribution:
    return Contribution(sum(1 for r in facts.referrals if in_window(r.on, as_of, window)), 0)


def _re_referrals(facts: CinFacts, as_of: date, window: int) -> Contribution:
    known = _referrals_to(facts, as_of)
    numerator = denominator = 0
    for index, referral in enumerate(known):
        if not in_window(referral.on, as_of, window):
            continue
        denominator += 1
        if any(p.on <= referral.on < add_months(p.on, 12) for p in known[:index]):
            numerator += 1
    return Contribution(numerator, denominator)


def _assessments_within_45wd(facts: CinFacts, as_of: date, window: int) -> Contribution:
    numerator = denominator = 0
    for assessment in facts.assessments:
        done = assessment.completed
        if done is None or not in_window(done, as_of, window):
            continue
        referral = facts.referral(assessment.referral_id)
        start = referral.on if referral is not None else assessment.start
        if start is None:
            continue
        denominator += 1
        if done <= add_working_days(start, ASSESSMENT_WORKING_DAYS):
            numerator += 1
    return Contribution(numerator, denominator)


def on_plan(facts: CinFacts, as_of: date) -> bool:
    return any(plan.open_on(as_of) for plan in facts.cp_plans)


def _cp_plans(facts: CinFacts, as_of: date, window: int) -> Contribution:
    return Contribution(1 if on_plan(facts, as_of) else 0, 0)


def _second_or_subsequent(facts: CinFacts, as_of: date, window: int) -> Contribution:
    starting = [p for p in facts.cp_plans if in_window(p.start, as_of, window)]
    if not starting:
        return Contribution()
    first = starting[0]
    earlier = any(p.start < first.start for p in facts.cp_plans)
    declared = any((p.previous_plans or 0) >= 1 for p in starting[:1])
    return Contribution(1 if earlier or declared else 0, 1)


def _ended_2y_plus(facts: CinFacts, as_of: date, window: int) -> Contribution:
    ended = [p for p in facts.cp_plans if p.end is not None and in_window(p.end, as_of, window)]
    long = sum(1 for p in ended if p.end is not None and p.end >= add_years(p.start, 2))
    return Contribution(long, len(ended))


def looked_after(facts: CinFacts, as_of: date) -> bool:
    return any(p.start <= as_of and (p.end is None or p.end > as_of) for p in facts.care_periods)


def in_need(facts: CinFacts, as_of: date) -> bool:
    """An open episode of need on ``as_of``, or looked after (see the module docstring)."""
    if looked_after(facts, as_of):
        return True
    known = _referrals_to(facts, as_of)
    if not known:
        return False
    latest = known[-1]
    if facts.closed_between(latest.on, as_of) is not None:
        return False
    if latest.outcome == "no_further_action" and (latest.outcome_on or latest.on) <= as_of:
        return False
    completed = [
        a
        for a in facts.assessments
        if a.referral_id == latest.referral_id and a.completed is not None and a.completed <= as_of
    ]
    return not (completed and all(a.child_in_need is False for a in completed))


def _cin(facts: CinFacts, as_of: date, window: int) -> Contribution:
    return Contribution(1 if in_need(facts, as_of) else 0, 0)


def _entered_care(facts: CinFacts, as_of: date, window: int) -> Contribution:
    return Contribution(sum(1 for p in facts.care_periods if in_window(p.start, as_of, window)), 0)


def _re_entered_care(facts: CinFacts, as_of: date, window: int) -> Contribution:
    numerator = denominator = 0
    periods = facts.care_periods
    for index, period in enumerate(periods):
        if not in_window(period.start, as_of, window):
            continue
        denominator += 1
        before = periods[index - 1] if index else None
        if before is not None and before.end is not None and period.start < add_months(before.end, 12):
            numerator += 1
    return Contribution(numerator, denominator)


DEFINITIONS: Final[Mapping[str, Callable[[CinFacts, date, int], Contribution]]] = {
    "referrals-rate-per-10k": _referrals,
    "re-referrals-12m": _re_referrals,
    "assessments-within-45wd": _assessments_within_45wd,
    "cp-plans-rate-per-10k": _cp_plans,
    "cp-plans-second-or-subsequent": _second_or_subsequent,
    "cp-plans-ended-2y-plus": _ended_2y_plus,
    "cin-rate-per-10k": _cin,
    "entered-care-month": _entered_care,
    "re-entered-care-12m": _re_entered_care,
}


def contributions(
    facts: CinFacts, as_of: date, window_months: int = 12, indicators: Collection[str] | None = None
) -> dict[str, Contribution]:
    """One child's contribution to each indicator (or to ``indicators`` only) as of ``as_of`` (empty
    contributions left out)."""
    chosen = DEFINITIONS if indicators is None else {name: DEFINITIONS[name] for name in indicators}
    found = {name: define(facts, as_of, window_months) for name, define in chosen.items()}
    return {name: value for name, value in found.items() if value}


@dataclass(frozen=True)
class Value:
    indicator_id: str
    numerator: int
    denominator: int | None
    value: float | None
    """Percent for shares, per 10,000 for rates, the count for counts; None with no denominator."""


def values(
    children: Iterable[CinFacts],
    as_of: date,
    *,
    population: int | None,
    window_months: int = 12,
    indicators: Collection[str] | None = None,
) -> dict[str, Value]:
    """Every indicator's value (or those of ``indicators``) as of ``as_of`` over ``children``; rates need
    ``population`` (0–17)."""
    found = totals(children, as_of, window_months=window_months, indicators=indicators)
    return {name: value_of(name, total, population) for name, total in found.items()}


def totals(
    children: Iterable[CinFacts],
    as_of: date,
    *,
    window_months: int = 12,
    indicators: Collection[str] | None = None,
) -> dict[str, Contribution]:
    """Every indicator's (or each of ``indicators``') contributions summed over ``children`` as of
    ``as_of``: integer sums, so those of separate groups of children add up to those of all of them."""
    out = {name: Contribution() for name in (DEFINITIONS if indicators is None else indicators)}
    for facts in children:
        for name, found in contributions(facts, as_of, window_months, indicators).items():
            out[name] = out[name] + found
    return out


def value_of(name: str, total: Contribution, population: int | None) -> Value:
    """The indicator's value from its summed contributions (:func:`totals`)."""
    if name in RATE_INDICATORS:
        rate = PER_10K * total.numerator / population if population else None
        return Value(name, total.numerator, population, rate)
    if name in PERCENT_INDICATORS:
        share = 100 * total.numerator / total.denominator if total.denominator else None
        return Value(name, total.numerator, total.denominator, share)
    return Value(name, total.numerator, None, float(total.numerator))


def month_ends(first: date, last: date) -> list[date]:
    """The last day of each month from ``first``'s month to ``last``'s month."""
    out = []
    month = date(first.year, first.month, 1)
    while month <= last:
        following = add_months(month, 1)
        out.append(date.fromordinal(following.toordinal() - 1))
        month = following
    return out


def monthly_series(
    children: Iterable[CinFacts],
    indicator_id: str,
    first: date,
    last: date,
    *,
    population: int | None,
) -> list[tuple[date, float]]:
    """The indicator month by month (period = the month's first day), for an SPC chart: flows counted over
    that month alone (window of 1 month ending on the month's last day), stocks as at the month's last day.
    Months whose value is undefined (no denominator) are left out."""
    if indicator_id not in DEFINITIONS:
        raise KeyError(f"unknown indicator {indicator_id!r}")
    everyone = list(children)
    series = []
    for end in month_ends(first, last):
        found = values(everyone, end, population=population, window_months=1)[indicator_id]
        if found.value is not None:
            series.append((date(end.year, end.month, 1), found.value))
    return series
