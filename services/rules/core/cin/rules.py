"""The CIN/CP rule catalogue: id → (evaluate, severity, statutory basis). What the kernel plugs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from services.rules.core.state import Finding

from . import assessment_overdue, cp_review_overdue, cp_visit_overdue, icpc_overdue
from .base import DEFAULT_CONFIG, CinRulesConfig, CinVerdict
from .facts import CinFacts


@dataclass(frozen=True)
class CinRule:
    id: str
    severity: str
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
