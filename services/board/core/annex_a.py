"""Ofsted ILACS Annex A child-level lists, from events, as of a date (``shared/domain/cin-cp.md`` §3).

Pure: events in, one :class:`AnnexList` per list out (title, column headers in the Annex A layout, rows of
typed values: dates stay dates). The period is the ``period_months`` (default 6) months before ``as_of``:
``as_of - 6 months < d <= as_of``. Lists and scope (Ofsted's wording, abridged):

* List 3 Referrals: all referrals received in the period (a child can appear more than once).
* List 4 Assessments: assessments started or completed in the period, or open on ``as_of``.
* List 5 Section 47: enquiries started in the period, including open ones.
* List 6 Children in need: children in receipt of services as a child in need on ``as_of`` or in the
  period (an episode of need open on some day of the period; referral-only children excluded: the
  referral must have led to an assessment, a CIN plan, a section 47 enquiry or a child protection plan).
* List 7 Child protection: plans open on ``as_of``, and plans that ended in the period.
* List 8 Children in care: looked after on ``as_of``, and those who ceased in the period.
* List 9 Care leavers: left care on or after their 16th birthday and aged 16–20 on ``as_of`` (relevant and
  former relevant), as far as the events show.

Every list starts with the demographic block (Child Unique ID, Gender, Ethnicity, Date of Birth, Age of
Child (Years); Lists 4–9 add Does the Child have a Disability); Lists 3–9 carry Allocated Team and Allocated
Worker. Columns the events do not carry (ethnicity, disability, category of need, permanence plan, IRO
contact, absences, return interview offers, eligibility category) are kept in the layout and left empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Final

from schemas.codes import EET_ACTIVITIES, SUITABLE_ACCOMMODATION
from schemas.events import CaseEvent, event_to_json
from services.rules.core.calendar import add_months, add_years, age_on, birthday

Cell = str | int | date | None

DEMOGRAPHICS: Final = ("Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)")
DISABILITY: Final = ("Does the Child have a Disability",)
ALLOCATED: Final = ("Allocated Team", "Allocated Worker")
GENDER: Final = {"M": "Male", "F": "Female", "U": "Unknown"}

LIST_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "List 3 Referrals": (
        *DEMOGRAPHICS,
        "Date of Referral",
        "Referral Source",
        "Referral NFA?",
        "Number of Referrals in Last 12 Months",
        *ALLOCATED,
    ),
    "List 4 Assessments": (
        *DEMOGRAPHICS,
        *DISABILITY,
        "Continuous Assessment Start Date",
        "Child Seen During Continuous Assessment",
        "Continuous Assessment Date of Authorisation",
        "Was the child assessed as requiring LA children's social care support?",
        *ALLOCATED,
    ),
    "List 5 Section 47": (
        *DEMOGRAPHICS,
        *DISABILITY,
        "Strategy discussion initiating Section 47 Enquiry Start Date",
        "Was an ICPC deemed unnecessary?",
        "Date of ICPC",
        "Did the ICPC result in a Child Protection Plan",
        "Number of Section 47 Enquiries in the last 12 months",
        "Number of ICPCs in the last 12 months",
        *ALLOCATED,
    ),
    "List 6 Children in need": (
        *DEMOGRAPHICS,
        *DISABILITY,
        "CIN Start Date",
        "Primary Need Code",
        "Date Child Was Last Seen",
        "CIN Closure Date",
        "Reason for Closure",
        "Case Status",
        *ALLOCATED,
    ),
    "List 7 Child protection": (
        *DEMOGRAPHICS,
        *DISABILITY,
        "Child Protection Plan Start Date",
        "Initial Category of Abuse",
        "Latest Category of Abuse",
        "Date of the Last Statutory Visit",
        "Was the Child Seen Alone?",
        "Date of latest review conference",
        "Child Protection Plan End Date",
        "Subject to Emergency Protection Order or Protected Under Police Powers in Last Six Months (Y/N)",
        "Number of Previous Child Protection Plans",
        *ALLOCATED,
    ),
    "List 8 Children in care": (
        *DEMOGRAPHICS,
        *DISABILITY,
        "Unaccompanied Asylum Seeking Child (UASC) in the last 12 months (Y/N)",
        "Date Started to be Looked After",
        "Child's Category of Need",
        "Is this a second or subsequent period of being looked after within the last 12 months (Y/N)",
        "Start Date of Current Legal Status",
        "Child's Legal Status",
        "Date of Latest Statutory Review",
        "Date of Last Social Work Visit",
        "Permanence Plan",
        "Date of Last IRO Visit / Contact",
        "Date of Last Health Assessment",
        "Date of Last Dental Check",
        "Number of Placements in the Last 12 Months",
        "Date Ceased to be Looked After",
        "Reason Ceased to be Looked After",
        "Start Date of Most Recent Placement",
        "Placement Type",
        "Placement Provider",
        "Number of Missing Episodes in the Last 12 Months",
        "Number of Absence Episodes in the Last 12 Months",
        "Offered Return Interview",
        "Accepted Return Interview",
        *ALLOCATED,
    ),
    "List 9 Care leavers": (
        *DEMOGRAPHICS,
        *DISABILITY,
        *ALLOCATED,
        "Eligibility Category",
        "LA in Touch",
        "Type of Accommodation",
        "Suitability of Accommodation",
        "Activity Status",
    ),
}


@dataclass(frozen=True)
class AnnexList:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass
class _Care:
    start: date
    uasc: bool
    end: date | None = None
    end_reason: str | None = None


@dataclass
class _Child:
    child_id: str
    date_of_birth: date | None = None
    sex: str | None = None
    team: str | None = None
    worker: str | None = None
    referrals: list[dict[str, Any]] = field(default_factory=list)
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)
    enquiries: dict[str, dict[str, Any]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    closures: list[tuple[date, str]] = field(default_factory=list)
    cin_plans: list[date] = field(default_factory=list)
    seen: list[date] = field(default_factory=list)
    care: list[_Care] = field(default_factory=list)
    legal: list[tuple[date, str]] = field(default_factory=list)
    placements: list[tuple[date, str, str | None]] = field(default_factory=list)
    reviews: list[date] = field(default_factory=list)
    health: list[date] = field(default_factory=list)
    dental: list[date] = field(default_factory=list)
    missing: list[date] = field(default_factory=list)
    interviews: list[date] = field(default_factory=list)
    contacts: list[tuple[date, bool, str | None, str | None]] = field(default_factory=list)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _fold(events: Iterable[CaseEvent], as_of: date) -> dict[str, _Child]:
    kept = [e for e in events if e.occurred_on <= as_of]
    retracted = {str(getattr(e, "retracted_event_id")) for e in kept if e.type == "event.retracted"}  # noqa: B009
    seen_ids: set[str] = set()
    children: dict[str, _Child] = {}
    for event in sorted(kept, key=lambda e: (e.occurred_on, e.event_id)):
        if event.event_id in seen_ids or event.event_id in retracted:
            continue
        seen_ids.add(event.event_id)
        child = children.setdefault(event.child_id, _Child(event.child_id))
        data = event_to_json(event)
        on = event.occurred_on
        kind = event.type
        if kind == "referral.received":
            child.referrals.append(
                {
                    "id": data["referral_id"],
                    "on": on,
                    "source": data["referral_source"],
                    "need": data.get("primary_need"),
                    "nfa": False,
                }
            )
            child.date_of_birth = _as_date(data["date_of_birth"]) if "date_of_birth" in data else child.date_of_birth
            child.sex = data.get("sex", child.sex)
            child.team = data.get("team", child.team)
        elif kind == "referral.outcome":
            for referral in child.referrals:
                if referral["id"] == data["referral_id"]:
                    referral["nfa"] = data["outcome"] == "no_further_action"
        elif kind in ("assessment.started", "assessment.completed"):
            found = child.assessments.setdefault(data["assessment_id"], {"referral": data["referral_id"]})
            if kind == "assessment.started":
                found["start"] = on
            else:
                found["end"] = on
                found["in_need"] = data["child_in_need"]
        elif kind in ("s47.started", "s47.completed", "icpc.held"):
            found = child.enquiries.setdefault(data["enquiry_id"], {})
            if kind == "s47.started":
                found["start"] = on
            elif kind == "s47.completed":
                found["outcome"] = data["outcome"]
            else:
                found["icpc"] = on
                found["plan"] = data["plan_decided"]
        elif kind == "cp_plan.started":
            child.plans[data["plan_id"]] = {
                "start": on,
                "category": data["category"],
                "previous": data.get("previous_plans"),
                "visits": [],
                "reviews": [],
            }
        elif kind in ("cp_plan.ended", "cp_review.held", "cp_visit.completed") and data["plan_id"] in child.plans:
            plan = child.plans[data["plan_id"]]
            if kind == "cp_plan.ended":
                plan["end"] = on
            elif kind == "cp_review.held":
                plan["reviews"].append(on)
            else:
                plan["visits"].append((on, data.get("seen_alone")))
                child.seen.append(on)
        elif kind == "case.closed":
            child.closures.append((on, data["reason"]))
        elif kind == "cin_plan.started":
            child.cin_plans.append(on)
        elif kind == "care.started":
            child.date_of_birth = _as_date(data["date_of_birth"])
            child.sex = data["sex"]
            child.team = data.get("team", child.team)
            child.care.append(_Care(on, bool(data.get("uasc", False))))
            child.legal.append((on, data["legal_status"]))
        elif kind == "care.ended" and child.care and child.care[-1].end is None:
            child.care[-1] = replace(child.care[-1], end=on, end_reason=data["reason"])
        elif kind == "legal_status.changed":
            child.legal.append((on, data["legal_status"]))
        elif kind == "placement.started":
            child.placements.append((on, data["placement_type"], data.get("provider")))
        elif kind == "review.held":
            child.reviews.append(on)
        elif kind == "visit.completed":
            child.seen.append(on)
        elif kind == "health_assessment.completed":
            child.health.append(on)
        elif kind == "dental_check.completed":
            child.dental.append(on)
        elif kind == "missing.started":
            child.missing.append(on)
        elif kind == "return_interview.completed":
            child.interviews.append(on)
        elif kind == "social_worker.changed":
            child.worker = data["worker_id"]
            child.team = data.get("team", child.team)
        elif kind == "care_leaver.contact":
            child.contacts.append((on, data["in_touch"], data.get("activity"), data.get("accommodation")))
    return children


def _last(days: Iterable[date]) -> date | None:
    return max(days, default=None)


def _yn(value: bool | None) -> str | None:
    return None if value is None else ("Y" if value else "N")


class _Builder:
    def __init__(self, as_of: date, period_months: int) -> None:
        self.as_of = as_of
        self.start = add_months(as_of, -period_months)
        """The period is ``start < d <= as_of``."""
        self.year_ago = add_months(as_of, -12)

    def in_period(self, day: date | None) -> bool:
        return day is not None and self.start < day <= self.as_of

    def in_year(self, day: date) -> bool:
        return self.year_ago < day <= self.as_of

    def person(self, child: _Child, disability: bool) -> tuple[Cell, ...]:
        born = child.date_of_birth
        age = age_on(born, self.as_of) if born is not None and born <= self.as_of else None
        block: tuple[Cell, ...] = (child.child_id, GENDER.get(child.sex or "", None), None, born, age)
        return (*block, None) if disability else block

    def allocated(self, child: _Child) -> tuple[Cell, ...]:
        return (child.team, child.worker)


def _referrals(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        for referral in child.referrals:
            if not b.in_period(referral["on"]):
                continue
            on = referral["on"]
            in_12 = sum(1 for r in child.referrals if add_months(on, -12) < r["on"] <= on)
            rows.append(
                (
                    *b.person(child, False),
                    on,
                    referral["source"],
                    "Yes" if referral["nfa"] else "No",
                    in_12,
                    *b.allocated(child),
                )
            )
    return rows


def _assessments(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        for assessment in child.assessments.values():
            start, end = assessment.get("start"), assessment.get("end")
            open_now = start is not None and start <= b.as_of and end is None
            if not (b.in_period(start) or b.in_period(end) or open_now):
                continue
            seen = any(start <= day <= (end or b.as_of) for day in child.seen) if start else None
            in_need = assessment.get("in_need")
            rows.append(
                (
                    *b.person(child, True),
                    start,
                    _yn(seen) if seen else None,
                    end,
                    None if in_need is None else ("Yes" if in_need else "No"),
                    *b.allocated(child),
                )
            )
    return rows


def _section47(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        for enquiry in child.enquiries.values():
            start = enquiry.get("start")
            if not b.in_period(start):
                continue
            icpc = enquiry.get("icpc")
            unnecessary = enquiry.get("outcome") not in (None, "icpc") and icpc is None
            s47_12 = sum(1 for e in child.enquiries.values() if e.get("start") and b.in_year(e["start"]))
            icpc_12 = sum(1 for e in child.enquiries.values() if e.get("icpc") and b.in_year(e["icpc"]))
            plan = enquiry.get("plan")
            rows.append(
                (
                    *b.person(child, True),
                    start,
                    "Yes" if unnecessary else "No",
                    icpc,
                    None if plan is None else ("Yes" if plan else "No"),
                    s47_12,
                    icpc_12,
                    *b.allocated(child),
                )
            )
    return rows


def _episodes(child: _Child, as_of: date) -> list[tuple[dict[str, Any], date | None, str | None]]:
    """Each referral that led to services (an assessment of it, or a CIN plan, section 47 enquiry or child
    protection plan started before the episode closed; not a referral with no further action):
    (referral, closure date, closure reason)."""
    out = []
    for index, referral in enumerate(child.referrals):
        if referral["nfa"]:
            continue
        following = child.referrals[index + 1]["on"] if index + 1 < len(child.referrals) else None
        closure = next(
            ((on, why) for on, why in child.closures if on >= referral["on"] and (following is None or on < following)),
            None,
        )
        ends = closure[0] if closure else as_of
        starts = [
            *(a["start"] for a in child.assessments.values() if a["referral"] == referral["id"] and "start" in a),
            *child.cin_plans,
            *(e["start"] for e in child.enquiries.values() if "start" in e),
            *(p["start"] for p in child.plans.values()),
        ]
        if any(referral["on"] <= day <= ends for day in starts):
            out.append((referral, closure[0] if closure else None, closure[1] if closure else None))
    return out


def _children_in_need(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        for referral, closed, reason in _episodes(child, b.as_of):
            if referral["on"] > b.as_of or (closed is not None and closed <= b.start):
                continue
            status = "Open" if closed is None else "Closed"
            if any(
                p["start"] <= b.as_of and (p.get("end") is None or p["end"] > b.as_of) for p in child.plans.values()
            ):
                status = "Child protection plan" if closed is None else status
            elif any(c.start <= b.as_of and (c.end is None or c.end > b.as_of) for c in child.care):
                status = "Looked after" if closed is None else status
            last_seen = _last(day for day in child.seen if day <= b.as_of)
            rows.append(
                (
                    *b.person(child, True),
                    referral["on"],
                    referral["need"],
                    last_seen,
                    closed,
                    reason,
                    status,
                    *b.allocated(child),
                )
            )
    return rows


def _child_protection(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        plans = sorted(child.plans.values(), key=lambda p: p["start"])
        for index, plan in enumerate(plans):
            end = plan.get("end")
            open_now = plan["start"] <= b.as_of and (end is None or end > b.as_of)
            if not (open_now or b.in_period(end)):
                continue
            visits = [v for v in plan["visits"] if v[0] <= b.as_of]
            last_visit = visits[-1] if visits else None
            epo = any(s in ("L1", "L2") and b.in_period(on) for on, s in child.legal)
            previous = plan["previous"] if plan["previous"] is not None else index
            rows.append(
                (
                    *b.person(child, True),
                    plan["start"],
                    plan["category"],
                    plan["category"],
                    last_visit[0] if last_visit else None,
                    _yn(last_visit[1]) if last_visit else None,
                    _last(d for d in plan["reviews"] if d <= b.as_of),
                    end,
                    "Y" if epo else "N",
                    previous,
                    *b.allocated(child),
                )
            )
    return rows


def _children_in_care(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        for index, period in enumerate(child.care):
            open_now = period.start <= b.as_of and (period.end is None or period.end > b.as_of)
            if not (open_now or b.in_period(period.end)):
                continue
            until = period.end if period.end is not None else b.as_of
            before = child.care[index - 1] if index else None
            second = before is not None and before.end is not None and period.start < add_months(before.end, 12)
            legal = [spell for spell in child.legal if period.start <= spell[0] <= until]
            placements = [p for p in child.placements if period.start <= p[0] <= until]
            recent = placements[-1] if placements else None
            placed_12 = sum(1 for p in placements if add_months(until, -12) < p[0] <= until)
            rows.append(
                (
                    *b.person(child, True),
                    "Y" if period.uasc else "N",
                    period.start,
                    None,
                    "Y" if second else "N",
                    legal[-1][0] if legal else None,
                    legal[-1][1] if legal else None,
                    _last(d for d in child.reviews if period.start <= d <= until),
                    _last(d for d in child.seen if period.start <= d <= until),
                    None,
                    None,
                    _last(d for d in child.health if d <= until),
                    _last(d for d in child.dental if d <= until),
                    placed_12,
                    period.end,
                    period.end_reason,
                    recent[0] if recent else None,
                    recent[1] if recent else None,
                    recent[2] if recent else None,
                    sum(1 for d in child.missing if add_months(until, -12) < d <= until),
                    None,
                    None,
                    "Yes" if any(add_months(until, -12) < d <= until for d in child.interviews) else None,
                    *b.allocated(child),
                )
            )
    return rows


CARE_LEAVER_MAX_AGE: Final = 21


def _care_leavers(children: list[_Child], b: _Builder) -> list[tuple[Cell, ...]]:
    rows = []
    for child in children:
        born = child.date_of_birth
        if born is None or not child.care:
            continue
        last = child.care[-1]
        if last.end is None or last.end > b.as_of or last.end < birthday(born, 16):
            continue
        if not (birthday(born, 16) <= b.as_of < add_years(born, CARE_LEAVER_MAX_AGE)):
            continue
        contact = next((c for c in reversed(child.contacts) if c[0] <= b.as_of), None)
        activity = contact[2] if contact else None
        accommodation = contact[3] if contact else None
        rows.append(
            (
                *b.person(child, True),
                *b.allocated(child),
                None,
                None if contact is None else ("Yes" if contact[1] else "No"),
                accommodation,
                None
                if accommodation is None
                else ("Suitable" if accommodation in SUITABLE_ACCOMMODATION else "Unsuitable"),
                None if activity is None else f"{activity} ({'EET' if activity in EET_ACTIVITIES else 'NEET'})",
            )
        )
    return rows


BUILDERS: Final = {
    "List 3 Referrals": _referrals,
    "List 4 Assessments": _assessments,
    "List 5 Section 47": _section47,
    "List 6 Children in need": _children_in_need,
    "List 7 Child protection": _child_protection,
    "List 8 Children in care": _children_in_care,
    "List 9 Care leavers": _care_leavers,
}


def annex_a(events: Iterable[CaseEvent], as_of: date, *, period_months: int = 6) -> list[AnnexList]:
    """The Annex A lists as of ``as_of`` over the ``period_months`` months before it."""
    children = sorted(_fold(events, as_of).values(), key=lambda c: c.child_id)
    builder = _Builder(as_of, period_months)
    out = []
    for title, build in BUILDERS.items():
        rows = build(children, builder)
        columns = LIST_COLUMNS[title]
        assert all(len(row) == len(columns) for row in rows), title
        out.append(AnnexList(title, columns, tuple(rows)))
    return out
