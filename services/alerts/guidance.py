"""What a manager should do about each kind of alert, in words: the rule's name, its statutory basis, the
action expected and the recorded event that clears it; plus the plain-English telling of codes, event
types and an alert's history. Wording only: nothing here decides whether an alert is raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from schemas import codes
from services.alerts.wording import long_date


@dataclass(frozen=True)
class Guidance:
    title: str
    basis: str
    action: str
    clears: str


GUIDANCE: Final[Mapping[str, Guidance]] = MappingProxyType(
    {
        "iha-overdue": Guidance(
            "Initial health assessment overdue",
            "The Care Planning, Placement and Case Review Regulations 2010 (regulation 7) require a health "
            "assessment before the first review, within 20 working days of coming into care.",
            "Book the initial health assessment with the looked-after children's health team.",
            "a health assessment recorded as completed",
        ),
        "rha-overdue": Guidance(
            "Review health assessment overdue",
            "Regulation 7 of the 2010 Regulations and the 2015 statutory guidance: every six months for a "
            "child under 5, every year from age 5.",
            "Arrange the review health assessment.",
            "a review health assessment recorded as completed",
        ),
        "pep-overdue": Guidance(
            "Personal education plan (PEP) overdue",
            "The 2010 Regulations (regulation 5 and Schedule 1) make the PEP part of the care plan; the 2018 "
            "statutory guidance asks for it to be reviewed each school term.",
            "Agree a PEP meeting date with the school and the virtual school head.",
            "a PEP recorded as completed",
        ),
        "visit-overdue": Guidance(
            "Social worker visit overdue",
            "Regulation 28 of the 2010 Regulations: a visit within a week of a placement starting, then at "
            "least every six weeks (every three months after the first year if the placement is intended "
            "to last until 18).",
            "Arrange a statutory visit and see the child.",
            "a visit recorded as completed",
        ),
        "review-overdue": Guidance(
            "Looked-after review overdue",
            "Regulation 33 of the 2010 Regulations: first review within 20 working days, the second within "
            "three months of the first, then at least every six months.",
            "Agree a review date with the independent reviewing officer.",
            "a looked-after review recorded as held",
        ),
        "placement-instability": Guidance(
            "Placement instability",
            "The DfE placement-stability measure counts children with three or more placements in a year; "
            "a second placement is an early warning.",
            "Hold a stability meeting and check the placement plan and support to the carers.",
            "fewer placement starts in the last 365 days as time passes",
        ),
        "social-worker-churn": Guidance(
            "Change of social worker",
            "The DfE stability measures count children with three or more social workers in a year.",
            "Check continuity of the allocated worker and tell the child who their worker is.",
            "fewer social worker changes in the last 365 days as time passes",
        ),
        "rhi-overdue": Guidance(
            "Return home interview overdue",
            "The 2014 statutory guidance on children who run away or go missing: an independent return "
            "interview within 72 hours of the child's return.",
            "Commission the return home interview now.",
            "a return interview recorded for the missing episode",
        ),
        "missing-repeat": Guidance(
            "Repeatedly missing",
            "The 2014 statutory guidance on missing children; Ofsted inspects repeat missing episodes.",
            "Hold a strategy discussion about the risks behind the repeated episodes.",
            "fewer missing episodes in the last 90 days as time passes",
        ),
        "dental-overdue": Guidance(
            "Dental check overdue",
            "Schedule 1 of the 2010 Regulations: a dental check at least once a year (from age 1).",
            "Ask the carer to book a dental check.",
            "a dental check recorded",
        ),
        "sdq-concern": Guidance(
            "SDQ score of concern",
            "The 2015 statutory guidance on promoting health: an SDQ score of 17 or more is a cause for concern.",
            "Discuss the score with the carer and consider a referral for emotional health support.",
            "a newer SDQ score below the threshold",
        ),
        "placement-distance": Guidance(
            "Placed far from home",
            "Section 22C of the Children Act 1989: a placement near home unless that is not reasonably practicable.",
            "Check the care plan records why the child is placed at a distance.",
            "a placement within the distance",
        ),
        "under16-unregulated": Guidance(
            "Under 16 in an unregulated placement",
            "The 2010 Regulations as amended in 2021 forbid placing a child under 16 in independent or "
            "semi-independent accommodation.",
            "Move the child to a regulated placement; tell the head of service today.",
            "a placement of a type allowed under 16, or the 16th birthday",
        ),
        "pathway-plan-overdue": Guidance(
            "Pathway plan review overdue",
            "Section 23E of the Children Act 1989 and the Care Leavers (England) Regulations 2010: the "
            "pathway plan is reviewed at least every six months.",
            "Arrange the pathway plan review with the personal adviser.",
            "a pathway plan review recorded",
        ),
        "care-leaver-not-in-touch": Guidance(
            "Care leaver not in touch",
            "Section 23C of the Children Act 1989: the authority keeps in touch with its care leavers.",
            "Ask the personal adviser to re-establish contact.",
            "a contact recorded as in touch",
        ),
        "care-leaver-neet": Guidance(
            "Care leaver not in education, employment or training (NEET)",
            "Sections 23C and 23CA of the Children Act 1989: support with education, training and employment.",
            "Review the pathway plan's education and employment support with the personal adviser.",
            "a contact recording education, employment or training",
        ),
        "care-leaver-unsuitable-accommodation": Guidance(
            "Care leaver in unsuitable accommodation",
            "The Care Leavers (England) Regulations 2010 (regulation 9 and Schedule 2) on suitable accommodation.",
            "Work with housing to find suitable accommodation.",
            "a contact recording suitable accommodation",
        ),
        "assessment-overdue": Guidance(
            "Assessment overdue",
            "Working Together to Safeguard Children 2023, chapter 2: an assessment concludes within 45 working "
            "days of the referral.",
            "Complete the assessment and record its outcome, or record why it has stopped.",
            "an assessment recorded as completed (or the case closed)",
        ),
        "icpc-overdue": Guidance(
            "Initial child protection conference overdue",
            "Working Together to Safeguard Children 2023, chapter 2: the initial child protection conference "
            "takes place within 15 working days of the strategy discussion that started the section 47 enquiry.",
            "Convene the initial child protection conference.",
            "an initial child protection conference recorded as held, or the enquiry's outcome needing none",
        ),
        "cp-review-overdue": Guidance(
            "Child protection review conference overdue",
            "Working Together to Safeguard Children 2023, chapter 2: the first review conference within three "
            "months of the initial conference, then at intervals of no more than six months.",
            "Convene the child protection review conference.",
            "a review conference recorded as held (or the plan ended)",
        ),
        "cp-visit-overdue": Guidance(
            "Child protection visit overdue",
            "Working Together to Safeguard Children 2023, chapter 2, and local child protection procedures: the "
            "lead practitioner sees the child as the plan sets out (commonly at least every 10 working days).",
            "Visit the child and record the visit.",
            "a child protection visit recorded as completed (or the plan ended)",
        ),
    }
)

EVENT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "care.started": "Came into care",
        "care.ended": "Left care",
        "legal_status.changed": "Legal status changed",
        "placement.started": "Placement started",
        "pep.completed": "PEP completed",
        "health_assessment.completed": "Health assessment",
        "dental_check.completed": "Dental check",
        "sdq.recorded": "SDQ score recorded",
        "social_worker.changed": "Social worker changed",
        "visit.completed": "Social worker visit",
        "review.held": "Looked-after review held",
        "missing.started": "Went missing",
        "missing.ended": "Returned from missing",
        "return_interview.completed": "Return interview",
        "care_leaver.contact": "Care leaver contact",
        "pathway_plan.reviewed": "Pathway plan reviewed",
        "referral.received": "Referral received",
        "referral.outcome": "Referral outcome recorded",
        "assessment.started": "Assessment started",
        "assessment.completed": "Assessment completed",
        "s47.started": "Section 47 enquiry started",
        "s47.completed": "Section 47 enquiry completed",
        "icpc.held": "Initial child protection conference held",
        "cp_plan.started": "Child protection plan started",
        "cp_plan.ended": "Child protection plan ended",
        "cp_review.held": "Child protection review conference held",
        "cp_visit.completed": "Child protection visit",
        "cin_plan.started": "Child in need plan started",
        "cin_plan.ended": "Child in need plan ended",
        "case.closed": "Case closed",
        "event.retracted": "Record withdrawn",
    }
)


def rule_name(rule: str) -> str:
    """``care-leaver-neet`` → ``Care leaver not in education, employment or training (NEET)``."""
    found = GUIDANCE.get(rule)
    if found is not None:
        return found.title
    words = rule.replace("-", " ")
    return words[:1].upper() + words[1:]


def event_name(event_type: str) -> str:
    return EVENT_TYPES.get(event_type, event_type.replace(".", " ").replace("_", " ").capitalize())


_ISO_DATE: Final = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CODE_PATTERNS: Final = (
    (re.compile(r"\(activity (\w+)\)"), codes.ACTIVITY, "(activity {code}: {meaning})"),
    (re.compile(r"\(code (\w+)\)"), codes.ACCOMMODATION, "({code}: {meaning})"),
    (re.compile(r"placement of type (\w+)"), codes.PLACEMENT_TYPE, "placement of type {code} ({meaning})"),
)


def humanise(text: str) -> str:
    """Dates in one style (``3 March 2025``) and codes with their meaning (``E2: Supported lodgings, …``)."""

    def day(match: re.Match[str]) -> str:
        try:
            return long_date(date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            return match[0]

    text = _ISO_DATE.sub(day, text)
    for pattern, code_list, template in _CODE_PATTERNS:

        def explain(match: re.Match[str], cl: Any = code_list, t: str = template) -> str:
            return t.format(code=match[1], meaning=codes.describe(cl, match[1]))

        text = pattern.sub(explain, text)
    return text


def _on(day: date | None) -> str:
    return f" on {long_date(day)}" if day is not None else ""


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw[:10]) if raw else None
    except ValueError:
        return None


def tell_history(entries: list[Any], reasons: Mapping[str, str], rule: str) -> list[str]:
    """Each history entry as a sentence that says what changed (severity raised from low to high: …)."""
    told: list[str] = []
    severity: str | None = None
    summary: str | None = None
    for h in entries:
        d = h.detail or {}
        when = _on(h.event_date)
        if h.action == "raised":
            severity, summary = d.get("severity"), d.get("summary")
            again = " again" if (d.get("occurrence") or 1) > 1 else ""
            told.append(f"Raised{again}{when} as {severity or 'unknown'} severity: {humanise(summary or '')}")
        elif h.action == "updated" and d.get("severity") and d.get("severity") != severity:
            was = severity or d.get("was")
            verb = "raised" if _rank(d["severity"]) > _rank(was) else "lowered"
            told.append(f"Severity {verb} from {was} to {d['severity']}{when}: {humanise(d.get('summary', ''))}")
            severity, summary = d["severity"], d.get("summary")
        elif h.action == "updated" and d.get("summary") and d.get("summary") != summary:
            told.append(f"Details changed{when}: {humanise(d['summary'])}")
            summary = d["summary"]
        elif h.action == "updated":
            continue
        elif h.action == "resolved":
            cleared = d.get("cleared_by") or []
            if cleared:
                what = "; ".join(f"{event_name(e.get('type', ''))}{_on(_day(e.get('occurred_at')))}" for e in cleared)
            else:
                expected = GUIDANCE.get(rule)
                what = f"cleared ({expected.clears}, or it no longer applies)" if expected else "the condition cleared"
            told.append(f"Resolved{when}: {what}")
        elif h.action == "acknowledged":
            told.append(f"Acknowledged by {h.actor}: “{d.get('note', '')}”")
        elif h.action == "closed":
            reason = reasons.get(d.get("reason", ""), d.get("reason", ""))
            note = f" — “{d['note']}”" if d.get("note") else ""
            told.append(f"Closed by {h.actor}: {reason}{note}")
        elif h.action == "escalated":
            due = d.get("due_on")
            told.append(
                "Escalated to the head of service"
                + (f" (not acknowledged by {long_date(date.fromisoformat(due))})" if due else "")
            )
        elif h.action == "rerouted":
            told.append(f"Moved from {d.get('old_team') or 'no team'} to {d.get('new_team')}")
        elif h.action == "backfilled":
            told.append(f"Start date filled in{when}")
        else:
            told.append(f"{h.action.capitalize()}{when}")
    return told


def _rank(severity: str | None) -> int:
    return {"low": 0, "medium": 1, "high": 2}.get(severity or "", -1)


def severity_since(entries: list[Any], current: str, fallback: date | None) -> date | None:
    """When the current severity began: the event date of the newest entry that set it."""
    since = fallback
    severity: str | None = None
    for h in entries:
        d = h.detail or {}
        new = d.get("severity")
        if new and new != severity:
            severity = new
            since = h.event_date or since
    return since if severity == current else fallback


def deadline_line(dates: Mapping[str, str | date], today: date) -> str | None:
    """``Due by 3 March 2025: 12 days overdue`` when the alert has a deadline."""
    raw = dates.get("deadline")
    if raw is None:
        return None
    due = raw if isinstance(raw, date) else date.fromisoformat(raw)
    gap = (today - due).days
    plural = "" if abs(gap) == 1 else "s"
    if gap > 0:
        status = f"{gap} day{plural} overdue"
    elif gap == 0:
        status = "due today"
    else:
        status = f"{-gap} day{plural} left"
    return f"Due by {long_date(due)}: {status}"
