"""assessment-overdue: an assessment not completed within 45 working days of the referral."""

from __future__ import annotations

from datetime import date
from typing import Final

from services.rules.core.calendar import add_working_days

from .base import ONE_DAY, CinRulesConfig, CinVerdict, combine, overdue_finding
from .facts import CinFacts, Ref

ID: Final = "assessment-overdue"
SEVERITY: Final = "medium"
BASIS: Final = "Working Together to Safeguard Children 2023, chapter 2 (assessment within 45 working days of referral)"


def evaluate(facts: CinFacts, as_of: date, config: CinRulesConfig) -> CinVerdict:
    """A referral that led to an assessment has no completed assessment 45 working days after it.

    Basis: Working Together to Safeguard Children 2023, ch. 2 ("the maximum timeframe for the assessment
    to conclude … should be within 45 working days from the point of the referral").
    Which referrals: those with an ``assessment.started`` citing them, or whose outcome is ``assessment``.
    Boundary: the deadline is the ``assessment_working_days``-th working day after the referral date (the
    referral day itself not counted; weekends and England bank holidays skipped); an assessment completed
    on or before ``as_of`` satisfies it, whenever it was completed; overdue from the day after the
    deadline. A case closure after the referral stops the clock (no open episode to assess).
    """
    findings = []
    due: list[date] = []
    for referral in facts.referrals:
        if referral.on > as_of:
            continue
        linked = [a for a in facts.assessments if a.referral_id == referral.referral_id]
        started = [a for a in linked if a.start is not None and a.start <= as_of]
        if not started and not (referral.outcome == "assessment" and (referral.outcome_on or as_of) <= as_of):
            continue
        if any(a.completed is not None and a.completed <= as_of for a in linked):
            continue
        if facts.closed_between(referral.on, as_of) is not None:
            continue
        deadline = add_working_days(referral.on, config.assessment_working_days)
        if as_of <= deadline:
            due.append(deadline + ONE_DAY)
            continue
        evidence: list[Ref] = [referral.ref, *(a.start_ref for a in started if a.start_ref is not None)]
        findings.append(
            overdue_finding(
                rule=ID,
                subject=referral.referral_id,
                severity=SEVERITY,
                deadline=deadline,
                summary=(
                    f"Child {facts.child_id}'s assessment is not complete {config.assessment_working_days} "
                    f"working days after the referral on {referral.on.isoformat()}."
                ),
                evidence=evidence,
                dates={"referral": referral.on},
            )
        )
    return combine(findings, due)
