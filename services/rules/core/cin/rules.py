"""The CIN/CP rule catalogue: id → (evaluate, severity, statutory basis). What the kernel plugs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

from pydantic import Field

from schemas.alerts import Severity
from services.rules.core.rules.base import Evaluate, RuleParams, RuleSpec, Verdict
from services.rules.core.state import ChildState, Finding

from . import assessment_overdue, cp_review_overdue, cp_visit_overdue, icpc_overdue
from .base import DEFAULT_CONFIG, CinRulesConfig, CinVerdict
from .facts import CinFacts

if TYPE_CHECKING:
    from services.rules.core.config import RulesConfig


@dataclass(frozen=True)
class CinRule:
    id: str
    severity: Severity
    basis: str
    evaluate: Callable[[CinFacts, date, CinRulesConfig], CinVerdict]


RULES: Final[tuple[CinRule, ...]] = tuple(
    CinRule(m.ID, m.SEVERITY, m.BASIS, m.evaluate)
    for m in (assessment_overdue, icpc_overdue, cp_review_overdue, cp_visit_overdue)
)


def evaluate_all(facts: CinFacts, as_of: date, config: CinRulesConfig = DEFAULT_CONFIG) -> CinVerdict:
    """Every enabled CIN/CP rule's findings for the child, and the earliest next due date."""
    findings: list[Finding] = []
    due: list[date] = []
    for rule in RULES:
        if rule.id not in config.enabled:
            continue
        verdict = rule.evaluate(facts, as_of, config)
        findings.extend(verdict.findings)
        if verdict.next_due is not None:
            due.append(verdict.next_due)
    return CinVerdict(tuple(findings), min(due) if due else None)


# -- the same four rules as entries of the per-child kernel's catalogue ------------------------------------
# The kernel (services.rules.core.kernel) evaluates them over ``ChildState.cin`` with every other rule: one
# per-child loop raises, resolves and wakes them in the stream worker and in replay alike.


class AssessmentParams(RuleParams):
    working_days: int = Field(ge=1)


class IcpcParams(RuleParams):
    working_days: int = Field(ge=1)


class CpReviewParams(RuleParams):
    first_months: int = Field(ge=1)
    interval_months: int = Field(ge=1)


class CpVisitParams(RuleParams):
    working_days: int = Field(ge=1)


def _thresholds(config: RulesConfig) -> CinRulesConfig:
    """The CIN/CP thresholds of the kernel's rules file (``[rules.<id>]`` tables, defaults in default.toml)."""
    assessment = config.params(assessment_overdue.ID, AssessmentParams)
    icpc = config.params(icpc_overdue.ID, IcpcParams)
    review = config.params(cp_review_overdue.ID, CpReviewParams)
    visit = config.params(cp_visit_overdue.ID, CpVisitParams)
    return CinRulesConfig(
        assessment_working_days=assessment.working_days,
        icpc_working_days=icpc.working_days,
        cp_first_review_months=review.first_months,
        cp_review_months=review.interval_months,
        cp_visit_working_days=visit.working_days,
    )


def _on_state(rule: CinRule) -> Evaluate:
    def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
        if state.cin is None:
            return Verdict()
        verdict = rule.evaluate(state.cin, as_of, _thresholds(config))
        return Verdict(verdict.findings, verdict.next_due)

    evaluate.__doc__ = rule.evaluate.__doc__
    evaluate.__name__ = f"evaluate_{rule.id.replace('-', '_')}"
    return evaluate


_PARAMS: Final[dict[str, type[RuleParams]]] = {
    assessment_overdue.ID: AssessmentParams,
    icpc_overdue.ID: IcpcParams,
    cp_review_overdue.ID: CpReviewParams,
    cp_visit_overdue.ID: CpVisitParams,
}

SPECS: Final[tuple[RuleSpec, ...]] = tuple(
    RuleSpec(
        id=rule.id,
        severity=rule.severity,
        basis=rule.basis,
        params=_PARAMS[rule.id],
        evaluate=_on_state(rule),
        reads=("cin",),
    )
    for rule in RULES
)
"""The kernel's catalogue entries of the CIN/CP rules (they read only ``ChildState.cin``)."""
