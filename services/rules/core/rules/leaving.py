"""Shared by the care-leaver rules: their parameters and the latest-contact check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pydantic import field_validator

from schemas import codes
from schemas.alerts import Severity

from ..calendar import add_years
from ..state import CareLeaverContact, ChildState, Finding
from .base import CareLeaver, RuleParams, Verdict, care_leaver, evidence, later_than


class CareLeaverParams(RuleParams):
    max_age: int
    min_weeks_after_14: int
    excluded_end_reasons: tuple[str, ...]
    """Reasons care ended that end the leaving-care duty here (adoption, SGO, death, transfer…)."""

    @field_validator("excluded_end_reasons")
    @classmethod
    def _known_reasons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(codes.REASON_EPISODE_CEASED))
        if unknown:
            raise ValueError(f"unknown reason-ceased code(s): {', '.join(unknown)}")
        return value


def leaver(state: ChildState, as_of: date, params: CareLeaverParams) -> CareLeaver | None:
    return care_leaver(
        state,
        as_of,
        max_age=params.max_age,
        min_weeks_after_14=params.min_weeks_after_14,
        excluded_end_reasons=params.excluded_end_reasons,
    )


def age_out(state: ChildState, found: CareLeaver, as_of: date, params: CareLeaverParams) -> date | None:
    return later_than(as_of, add_years(found.period.date_of_birth, params.max_age))


def latest_contact_check(
    state: ChildState,
    as_of: date,
    params: CareLeaverParams,
    *,
    rule: str,
    severity: Severity,
    relevant: Callable[[CareLeaverContact], bool],
    concerning: Callable[[CareLeaverContact], bool],
    summary: Callable[[CareLeaverContact], str],
) -> Verdict:
    """A finding when the latest relevant contact since care ended is concerning (one per period of care)."""
    found = leaver(state, as_of, params)
    if found is None:
        return Verdict()
    contacts = [c for c in state.care_leaver_contacts if found.end <= c.on <= as_of and relevant(c)]
    if not contacts or not concerning(contacts[-1]):
        return Verdict(next_due=age_out(state, found, as_of, params))
    latest = contacts[-1]
    finding = Finding(
        rule=rule,
        subject=f"leaver:{found.period.start.isoformat()}",
        severity=severity,
        summary=summary(latest),
        since=latest.on,
        evidence=evidence(state, [latest.event_id]),
        dates={"care_ended": found.end},
    )
    return Verdict(findings=(finding,), next_due=age_out(state, found, as_of, params))
