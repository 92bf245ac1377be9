"""cp-review-overdue: a child protection review conference not held in time (3 months, then 6-monthly)."""

from __future__ import annotations

from datetime import date
from typing import Final

from services.rules.core.calendar import add_months

from .base import ONE_DAY, CinRulesConfig, CinVerdict, combine, overdue_finding
from .facts import CinFacts

ID: Final = "cp-review-overdue"
SEVERITY: Final = "high"
BASIS: Final = (
    "Working Together to Safeguard Children 2023, chapter 2 (first review conference within 3 months of "
    "the initial conference, then at intervals of no more than 6 months)"
)


def evaluate(facts: CinFacts, as_of: date, config: CinRulesConfig) -> CinVerdict:
    """An open child protection plan's review conference is overdue.

    Basis: Working Together to Safeguard Children 2023, ch. 2: "The first child protection review conference
    should be held within three months of the initial child protection conference, and further reviews
    should be held at intervals of not more than six months for as long as the child remains subject of a
    child protection plan." The plan starts at the ICPC (CIN census rule 2885: CPP start = ICPC date), so
    the plan's start date is the ICPC date.
    Boundary: the first review is due by ``cp_first_review_months`` calendar months after the plan start
    (same day of the month, clamped to a shorter month's end); each later one by ``cp_review_months`` after
    the latest review held on or before ``as_of``; a review on the due date is in time; overdue from the
    day after. Only plans open on ``as_of`` (not ended on or before it).
    """
    findings = []
    due: list[date] = []
    for plan in facts.cp_plans:
        if not plan.open_on(as_of):
            continue
        held = [r for r in plan.reviews if plan.start < r.on <= as_of]
        if held:
            last = held[-1]
            deadline = add_months(last.on, config.cp_review_months)
            evidence = [plan.ref, last]
        else:
            deadline = add_months(plan.start, config.cp_first_review_months)
            evidence = [plan.ref]
        if as_of <= deadline:
            due.append(deadline + ONE_DAY)
            continue
        which = "a review" if held else "a first review"
        findings.append(
            overdue_finding(
                rule=ID,
                subject=plan.plan_id,
                severity=SEVERITY,
                deadline=deadline,
                summary=(
                    f"Child {facts.child_id}'s child protection plan has not had {which} conference "
                    f"since {(held[-1].on if held else plan.start).isoformat()} (due by {deadline.isoformat()})."
                ),
                evidence=evidence,
                dates={"plan_started": plan.start},
            )
        )
    return combine(findings, due)
