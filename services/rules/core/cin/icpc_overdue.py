"""icpc-overdue: no initial child protection conference within 15 working days of the s47 start."""

from __future__ import annotations

from datetime import date
from typing import Final

from services.rules.core.calendar import add_working_days

from .base import ONE_DAY, CinRulesConfig, CinVerdict, combine, overdue_finding
from .facts import CinFacts

ID: Final = "icpc-overdue"
SEVERITY: Final = "high"
BASIS: Final = (
    "Working Together to Safeguard Children 2023, chapter 2 (ICPC within 15 working days of the strategy "
    "discussion that initiated the section 47 enquiry)"
)
NO_ICPC_OUTCOMES: Final = frozenset({"no_further_action", "cin_plan", "other"})


def evaluate(facts: CinFacts, as_of: date, config: CinRulesConfig) -> CinVerdict:
    """A section 47 enquiry has no initial child protection conference 15 working days after it started.

    Basis: Working Together to Safeguard Children 2023, ch. 2: the initial child protection conference
    "should take place within 15 working days of the strategy discussion, or the strategy discussion at
    which section 47 enquiries were initiated if more than one has been held". The ``s47.started`` date is
    the strategy discussion (the CIN census ``S47ActualStartDate``).
    Boundary: the deadline is the ``icpc_working_days``-th working day after the start (start day not
    counted; weekends and England bank holidays skipped); an ICPC held on or before ``as_of`` satisfies
    it; an enquiry completed on or before ``as_of`` with an outcome that needs no conference
    (``no_further_action``, ``cin_plan``, ``other``) or a case closure stops the clock; overdue from the day
    after the deadline.
    """
    findings = []
    due: list[date] = []
    for enquiry in facts.enquiries:
        if enquiry.start is None or enquiry.start > as_of or enquiry.start_ref is None:
            continue
        if enquiry.icpc is not None and enquiry.icpc <= as_of:
            continue
        if enquiry.completed is not None and enquiry.completed <= as_of and enquiry.outcome in NO_ICPC_OUTCOMES:
            continue
        if facts.closed_between(enquiry.start, as_of) is not None:
            continue
        deadline = add_working_days(enquiry.start, config.icpc_working_days)
        if as_of <= deadline:
            due.append(deadline + ONE_DAY)
            continue
        findings.append(
            overdue_finding(
                rule=ID,
                subject=enquiry.enquiry_id,
                severity=SEVERITY,
                deadline=deadline,
                summary=(
                    f"Child {facts.child_id} has had no initial child protection conference "
                    f"{config.icpc_working_days} working days after the section 47 enquiry started on "
                    f"{enquiry.start.isoformat()}."
                ),
                evidence=[enquiry.start_ref],
                dates={"s47_started": enquiry.start},
            )
        )
    return combine(findings, due)
