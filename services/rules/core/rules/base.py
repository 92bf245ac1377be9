"""What every rule shares: its parameters base class, its verdict, its catalogue entry, and helpers for the
questions most rules ask (is the child looked after today, how old, which events prove it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from schemas import codes
from schemas.alerts import EvidenceEvent, Severity

from ..calendar import age_on
from ..definitions import days_looked_after_since_14
from ..state import ChildState, Finding, Period

if TYPE_CHECKING:
    from ..config import RulesConfig

ONE_DAY: Final = timedelta(days=1)


class RuleParams(BaseModel):
    """A rule's thresholds; every rule adds its own fields. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool


@dataclass(frozen=True)
class Verdict:
    """What a rule says about a child as of a date."""

    findings: tuple[Finding, ...] = ()
    next_due: date | None = None
    """The earliest later date at which this rule's answer could change without a new event."""


Evaluate = Callable[[ChildState, date, "RulesConfig"], Verdict]


EVERY_FACT: Final = tuple(
    f.name
    for f in fields(ChildState)
    if f.name
    not in {
        "child_id",
        "findings",
        "evaluated_as_of",
        "contributions",
        "rules_due",
        "indicators_due",
        "catalogue",
        "base",
        "log_from",
        "pruned_to",
        "stamps",
        "needs_rebuild",
    }
)
"""The state's fields a rule may read (``child_id`` never changes; findings are the engine's)."""


@dataclass(frozen=True)
class RuleSpec:
    """One catalogue entry."""

    id: str
    severity: Severity
    basis: str
    params: type[RuleParams]
    evaluate: Evaluate = field(compare=False)
    reads: tuple[str, ...] = EVERY_FACT
    """The state fields ``evaluate`` reads (besides ``child_id``, and ``events`` and ``stamps`` through
    :func:`evidence`, whose entries never change once recorded). The engine reuses a verdict while these
    are unchanged and its next due date has not come; ``services/rules/core/tests/test_reads.py`` checks
    the list."""

    def describe(self) -> str:
        first_line = (self.evaluate.__doc__ or "").strip().splitlines()
        return first_line[0] if first_line else ""


def earliest(*days: date | None) -> date | None:
    """The earliest of the given dates, ignoring None (None if all are None)."""
    present = [day for day in days if day is not None]
    return min(present) if present else None


def later_than(as_of: date, *days: date | None) -> date | None:
    """The earliest given date strictly after ``as_of`` (next_due must lie in the future)."""
    return earliest(*(day for day in days if day is not None and day > as_of))


def looked_after(state: ChildState, as_of: date, *, include_short_breaks: bool = True) -> Period | None:
    """The period of care covering ``as_of``; with ``include_short_breaks=False`` children accommodated
    under a series of short breaks (LS V3/V4, which have their own review and visit cycles) count as not
    looked after."""
    period = state.looked_after_on(as_of)
    if period is None:
        return None
    if not include_short_breaks and state.legal_status_on(as_of) in codes.SHORT_BREAK_LEGAL_STATUSES:
        return None
    return period


def age(period: Period, day: date) -> int:
    return age_on(period.date_of_birth, day)


def evidence(state: ChildState, event_ids: Iterable[str | None]) -> tuple[EvidenceEvent, ...]:
    """Evidence records for the given event ids, as each event carried its date."""
    found = (state.evidence_of(event_id) for event_id in event_ids if event_id is not None)
    return tuple(each for each in found if each is not None)


def period_subject(period: Period) -> str:
    return f"period:{period.start.isoformat()}"


def overdue(
    state: ChildState,
    *,
    rule: str,
    severity: Severity,
    subject: str,
    deadline: date,
    as_of: date,
    summary: str,
    event_ids: Iterable[str | None] = (),
    dates: dict[str, date] | None = None,
) -> Verdict:
    """The verdict of a clock: nothing until the deadline has passed, then a finding from the day after."""
    if as_of <= deadline:
        return Verdict(next_due=deadline + ONE_DAY)
    finding = Finding(
        rule=rule,
        subject=subject,
        severity=severity,
        summary=summary,
        since=deadline + ONE_DAY,
        evidence=evidence(state, event_ids),
        dates={"deadline": deadline, **(dates or {})},
    )
    return Verdict(findings=(finding,))


@dataclass(frozen=True)
class CareLeaver:
    """A young person whose last period of care ended at 16 or over (the 'relevant'/'former relevant'
    child of the Children Act 1989 s23A/s23C)."""

    period: Period
    end: date


def care_leaver(
    state: ChildState,
    as_of: date,
    *,
    max_age: int,
    min_weeks_after_14: int,
    excluded_end_reasons: Iterable[str],
) -> CareLeaver | None:
    """The child as a care leaver on ``as_of``, or None.

    A care leaver here: the latest period of care has ended (the child has not come back into care), the
    child was 16 or over on the day it ended, was looked after at least ``min_weeks_after_14`` weeks
    after their 14th birthday (the 13-week eligibility test of the Care Leavers (England) Regulations
    2010 reg 3 / Children (Leaving Care) Act 2000: every period of care since the 14th birthday counts,
    ``definitions.days_looked_after_since_14``), the reason for ending is not one that ends the duty
    (adoption, SGO, death…, configurable), and is younger than ``max_age`` on ``as_of``. Short breaks
    alone (LS V3/V4) never make a care leaver: their days do not count, and the last period must have
    been on a full order (``Period.full_care_from``).
    """
    period = state.current_period
    if period is None or period.end is None or period.end > as_of:
        return None
    if period.end_reason in set(excluded_end_reasons):
        return None
    if age(period, period.end) < 16 or age(period, as_of) >= max_age:
        return None
    if period.full_care_from is None:
        return None
    periods = [p for p in state.periods if p.start <= period.end]
    if days_looked_after_since_14(periods, period.date_of_birth, period.end) < 7 * min_weeks_after_14:
        return None
    return CareLeaver(period=period, end=period.end)


def params_dict(params: RuleParams) -> dict[str, Any]:
    return params.model_dump(mode="json")
