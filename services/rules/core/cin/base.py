"""What the CIN/CP rules share: their configuration, their verdict and the overdue-finding helper."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from schemas.alerts import Severity
from services.rules.core.state import Finding

from .facts import Ref

ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class CinRulesConfig:
    """The thresholds of the four CIN/CP rules (Working Together 2023 defaults; each one configurable)."""

    assessment_working_days: int = 45
    icpc_working_days: int = 15
    cp_first_review_months: int = 3
    cp_review_months: int = 6
    cp_visit_working_days: int = 10
    enabled: frozenset[str] = frozenset({"assessment-overdue", "icpc-overdue", "cp-review-overdue", "cp-visit-overdue"})


DEFAULT_CONFIG: Final = CinRulesConfig()


@dataclass(frozen=True)
class CinVerdict:
    """What a rule says about a child as of a date (the same fields as the kernel's verdict)."""

    findings: tuple[Finding, ...] = ()
    next_due: date | None = None
    """The earliest later date at which the answer could change without a new event."""


def overdue_finding(
    *,
    rule: str,
    subject: str,
    severity: Severity,
    deadline: date,
    summary: str,
    evidence: Iterable[Ref],
    dates: dict[str, date],
) -> Finding:
    """A finding overdue from the day after ``deadline``."""
    return Finding(
        rule=rule,
        subject=subject,
        severity=severity,
        summary=summary,
        since=deadline + ONE_DAY,
        evidence=tuple(ref.evidence() for ref in evidence),
        dates={**dates, "deadline": deadline},
    )


def combine(findings: list[Finding], due: list[date]) -> CinVerdict:
    return CinVerdict(tuple(findings), min(due) if due else None)
