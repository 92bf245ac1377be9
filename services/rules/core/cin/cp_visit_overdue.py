"""cp-visit-overdue: a child on a child protection plan not visited within the local interval."""

from __future__ import annotations

from datetime import date
from typing import Final

from services.rules.core.calendar import add_working_days

from .base import ONE_DAY, CinRulesConfig, CinVerdict, combine, overdue_finding
from .facts import CinFacts

ID: Final = "cp-visit-overdue"
SEVERITY: Final = "high"
BASIS: Final = (
    "Working Together to Safeguard Children 2023, chapter 2 (the lead practitioner sees the child as the "
    "plan requires); interval set by local policy, commonly at least every 10 working days"
)


def evaluate(facts: CinFacts, as_of: date, config: CinRulesConfig) -> CinVerdict:
    """An open child protection plan has had no statutory visit within ``cp_visit_working_days``.

    Basis: Working Together to Safeguard Children 2023, ch. 2 sets no national frequency: the lead
    practitioner must see the child and visit as the plan sets out. Local child protection procedures
    commonly require a visit at least every 10 working days (the default; configurable).
    Boundary: the next visit is due by the ``cp_visit_working_days``-th working day after the latest visit
    on or before ``as_of`` (or after the plan start when there has been none; that day not counted;
    weekends and England bank holidays skipped); a visit on the due day is in time; overdue from the day
    after. Only plans open on ``as_of``.
    """
    findings = []
    due: list[date] = []
    for plan in facts.cp_plans:
        if not plan.open_on(as_of):
            continue
        visits = [v for v in plan.visits if plan.start <= v.on <= as_of]
        last_on = visits[-1].on if visits else plan.start
        deadline = add_working_days(last_on, config.cp_visit_working_days)
        if as_of <= deadline:
            due.append(deadline + ONE_DAY)
            continue
        since = "the last visit" if visits else "the plan started"
        findings.append(
            overdue_finding(
                rule=ID,
                subject=plan.plan_id,
                severity=SEVERITY,
                deadline=deadline,
                summary=(
                    f"Child {facts.child_id} on a child protection plan has not been visited for "
                    f"{config.cp_visit_working_days} working days since {since} on {last_on.isoformat()}."
                ),
                evidence=[plan.ref, *visits[-1:]],
                dates={"last_visit" if visits else "plan_started": last_on},
            )
        )
    return combine(findings, due)
