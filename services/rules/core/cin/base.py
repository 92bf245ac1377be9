"""What the CIN/CP rules share: their configuration, their verdict and the overdue-finding helper."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

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

_TABLE_KEYS: Final = {
    "assessment-overdue": {"working_days": "assessment_working_days"},
    "icpc-overdue": {"working_days": "icpc_working_days"},
    "cp-review-overdue": {"first_months": "cp_first_review_months", "interval_months": "cp_review_months"},
    "cp-visit-overdue": {"working_days": "cp_visit_working_days"},
}


def config_from_rules_table(rules: Mapping[str, Mapping[str, Any]]) -> CinRulesConfig:
    """The CIN/CP thresholds from the rules file's ``[rules.<id>]`` tables (other rules' tables ignored):

    ``assessment-overdue.working_days``, ``icpc-overdue.working_days``, ``cp-review-overdue.first_months``
    and ``.interval_months``, ``cp-visit-overdue.working_days``, and ``enabled`` on each.
    """
    values: dict[str, Any] = {}
    enabled = set(DEFAULT_CONFIG.enabled)
    for rule_id, keys in _TABLE_KEYS.items():
        table = rules.get(rule_id, {})
        unknown = set(table) - set(keys) - {"enabled"}
        if unknown:
            raise ValueError(f"[rules.{rule_id}]: unknown setting(s) {', '.join(sorted(unknown))}")
        for key, attribute in keys.items():
            if key in table:
                value = table[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"[rules.{rule_id}] {key} must be a whole number of at least 1")
                values[attribute] = value
        if table.get("enabled", True) is False:
            enabled.discard(rule_id)
    return CinRulesConfig(**values, enabled=frozenset(enabled))


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
