"""One child's children in need and child protection facts, folded from the CIN/CP events (CONTRACT §5).

Two drivers fold the same events with the same code (``_Working.feed``), in the same order (the state's
fold order: date, same-day rank, recorded time, event id):

* the per-child kernel keeps a child's facts on ``ChildState.cin``, one event at a time
  (:func:`apply_event`), and runs the four CIN/CP rules over them like any other rule (:mod:`.rules`);
  there, care periods stay in the state's own ``periods`` and are not folded here;
* the board and Annex A fold a whole history at once (:func:`fold_child`, :func:`fold_all`), care periods
  included (``care.started``/``care.ended``) because a looked-after child is also a child in need.

The fold is pure and total: a repeated event id is ignored, retracted events are left out, and an event
that does not fit (an ICPC for an enquiry never started, a plan ended twice, a referral received twice)
is kept as an anomaly rather than raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from typing import Any, Final

from schemas.alerts import EvidenceEvent
from schemas.events import CaseEvent, event_to_json


@dataclass(frozen=True)
class Ref:
    """An event as evidence."""

    event_id: str
    type: str
    on: date

    def evidence(self) -> EvidenceEvent:
        return EvidenceEvent(event_id=self.event_id, type=self.type, occurred_at=self.on.isoformat())


@dataclass(frozen=True)
class Referral:
    referral_id: str
    on: date
    source: str
    ref: Ref
    primary_need: str | None = None
    outcome: str | None = None
    outcome_on: date | None = None
    outcome_ref: Ref | None = None


@dataclass(frozen=True)
class Assessment:
    assessment_id: str
    referral_id: str
    start: date | None = None
    start_ref: Ref | None = None
    completed: date | None = None
    completed_ref: Ref | None = None
    child_in_need: bool | None = None
    factors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Enquiry:
    """A section 47 enquiry; ``start`` is the strategy discussion that initiated it."""

    enquiry_id: str
    start: date | None = None
    start_ref: Ref | None = None
    completed: date | None = None
    outcome: str | None = None
    icpc: date | None = None
    icpc_ref: Ref | None = None
    plan_decided: bool | None = None
    completed_ref: Ref | None = None


@dataclass(frozen=True)
class CpPlan:
    plan_id: str
    start: date
    category: str
    ref: Ref
    previous_plans: int | None = None
    end: date | None = None
    reviews: tuple[Ref, ...] = ()
    visits: tuple[Ref, ...] = ()
    last_seen_alone: bool | None = None
    end_ref: Ref | None = None

    def open_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or self.end > day)


@dataclass(frozen=True)
class CinPlan:
    plan_id: str
    start: date
    end: date | None = None
    start_ref: Ref | None = None
    end_ref: Ref | None = None


@dataclass(frozen=True)
class Closure:
    on: date
    reason: str
    ref: Ref


@dataclass(frozen=True)
class CarePeriod:
    start: date
    end: date | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class CinFacts:
    child_id: str
    date_of_birth: date | None = None
    sex: str | None = None
    team: str | None = None
    referrals: tuple[Referral, ...] = ()
    assessments: tuple[Assessment, ...] = ()
    enquiries: tuple[Enquiry, ...] = ()
    cp_plans: tuple[CpPlan, ...] = ()
    cin_plans: tuple[CinPlan, ...] = ()
    closures: tuple[Closure, ...] = ()
    care_periods: tuple[CarePeriod, ...] = ()
    anomalies: tuple[str, ...] = ()

    def referral(self, referral_id: str) -> Referral | None:
        return next((r for r in self.referrals if r.referral_id == referral_id), None)

    def closed_between(self, after: date, until: date) -> Closure | None:
        """The first case closure dated after ``after`` and on or before ``until``."""
        return next((c for c in self.closures if after <= c.on <= until), None)


CIN_TYPES = frozenset(
    {
        "referral.received",
        "referral.outcome",
        "assessment.started",
        "assessment.completed",
        "s47.started",
        "s47.completed",
        "icpc.held",
        "cp_plan.started",
        "cp_plan.ended",
        "cp_review.held",
        "cp_visit.completed",
        "cin_plan.started",
        "cin_plan.ended",
        "case.closed",
    }
)
FOLDED_TYPES = CIN_TYPES | {"care.started", "care.ended"}


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass
class _Working:
    child_id: str
    date_of_birth: date | None = None
    sex: str | None = None
    team: str | None = None
    referrals: list[Referral] = field(default_factory=list)
    assessments: dict[str, Assessment] = field(default_factory=dict)
    enquiries: dict[str, Enquiry] = field(default_factory=dict)
    cp_plans: dict[str, CpPlan] = field(default_factory=dict)
    cin_plans: dict[str, CinPlan] = field(default_factory=dict)
    closures: list[Closure] = field(default_factory=list)
    care_periods: list[CarePeriod] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    def feed(self, kind: str, on: date, data: dict[str, Any], ref: Ref) -> None:
        if kind == "referral.received":
            if any(r.referral_id == data["referral_id"] for r in self.referrals):
                self.anomalies.append(f"{ref.event_id}: referral received twice (first kept)")
                return
            self.referrals.append(
                Referral(data["referral_id"], on, data["referral_source"], ref, primary_need=data.get("primary_need"))
            )
            if data.get("date_of_birth"):
                self.date_of_birth = _date(data["date_of_birth"])
            self.sex = data.get("sex") or self.sex
            self.team = data.get("team") or self.team
        elif kind == "referral.outcome":
            for index, referral in enumerate(self.referrals):
                if referral.referral_id == data["referral_id"]:
                    self.referrals[index] = replace(referral, outcome=data["outcome"], outcome_on=on, outcome_ref=ref)
                    return
            self.anomalies.append(f"{ref.event_id}: outcome of a referral not received")
        elif kind == "assessment.started":
            found = self.assessments.get(data["assessment_id"], Assessment(data["assessment_id"], data["referral_id"]))
            self.assessments[found.assessment_id] = replace(found, start=on, start_ref=ref)
        elif kind == "assessment.completed":
            found = self.assessments.get(data["assessment_id"], Assessment(data["assessment_id"], data["referral_id"]))
            self.assessments[found.assessment_id] = replace(
                found,
                completed=on,
                completed_ref=ref,
                child_in_need=bool(data["child_in_need"]),
                factors=tuple(data.get("factors") or ()),
            )
        elif kind == "s47.started":
            found_e = self.enquiries.get(data["enquiry_id"], Enquiry(data["enquiry_id"]))
            self.enquiries[found_e.enquiry_id] = replace(found_e, start=on, start_ref=ref)
        elif kind == "s47.completed":
            found_e = self.enquiries.get(data["enquiry_id"], Enquiry(data["enquiry_id"]))
            self.enquiries[found_e.enquiry_id] = replace(
                found_e, completed=on, outcome=data["outcome"], completed_ref=ref
            )
        elif kind == "icpc.held":
            found_e = self.enquiries.get(data["enquiry_id"], Enquiry(data["enquiry_id"]))
            if found_e.start is None:
                self.anomalies.append(f"{ref.event_id}: ICPC for an enquiry not started")
            self.enquiries[found_e.enquiry_id] = replace(
                found_e, icpc=on, icpc_ref=ref, plan_decided=bool(data["plan_decided"])
            )
        elif kind == "cp_plan.started":
            if data["plan_id"] in self.cp_plans:
                self.anomalies.append(f"{ref.event_id}: plan started twice (first kept)")
                return
            self.cp_plans[data["plan_id"]] = CpPlan(
                data["plan_id"], on, data["category"], ref, previous_plans=data.get("previous_plans")
            )
        elif kind in {"cp_plan.ended", "cp_review.held", "cp_visit.completed"}:
            plan = self.cp_plans.get(data["plan_id"])
            if plan is None:
                self.anomalies.append(f"{ref.event_id}: {kind} for a plan not started")
                return
            if kind == "cp_plan.ended":
                self.cp_plans[plan.plan_id] = replace(plan, end=on, end_ref=ref)
            elif kind == "cp_review.held":
                self.cp_plans[plan.plan_id] = replace(plan, reviews=(*plan.reviews, ref))
            else:
                self.cp_plans[plan.plan_id] = replace(
                    plan, visits=(*plan.visits, ref), last_seen_alone=data.get("seen_alone")
                )
        elif kind == "cin_plan.started":
            self.cin_plans[data["plan_id"]] = CinPlan(data["plan_id"], on, start_ref=ref)
        elif kind == "cin_plan.ended":
            cin_plan = self.cin_plans.get(data["plan_id"])
            if cin_plan is None:
                self.anomalies.append(f"{ref.event_id}: CIN plan ended but never started")
                return
            self.cin_plans[cin_plan.plan_id] = replace(cin_plan, end=on, end_ref=ref)
        elif kind == "case.closed":
            self.closures.append(Closure(on, data["reason"], ref))
        elif kind == "care.started":
            self.date_of_birth = self.date_of_birth or _date(data["date_of_birth"])
            self.sex = self.sex or data.get("sex")
            self.care_periods.append(CarePeriod(on))
        elif kind == "care.ended" and self.care_periods and self.care_periods[-1].end is None:
            self.care_periods[-1] = replace(self.care_periods[-1], end=on, end_reason=data.get("reason"))

    def freeze(self) -> CinFacts:
        return CinFacts(
            child_id=self.child_id,
            date_of_birth=self.date_of_birth,
            sex=self.sex,
            team=self.team,
            referrals=tuple(self.referrals),
            assessments=tuple(sorted(self.assessments.values(), key=lambda a: a.start or a.completed or date.min)),
            enquiries=tuple(sorted(self.enquiries.values(), key=lambda e: e.start or e.icpc or date.min)),
            cp_plans=tuple(sorted(self.cp_plans.values(), key=lambda p: p.start)),
            cin_plans=tuple(sorted(self.cin_plans.values(), key=lambda p: p.start)),
            closures=tuple(self.closures),
            care_periods=tuple(self.care_periods),
            anomalies=tuple(self.anomalies),
        )


SAME_DAY_RANK: Final = {"care.started": 0, "referral.received": 0, "case.closed": 2, "care.ended": 2}
"""Rank of an event type among the same day's events (others 1): the state's fold order uses it too."""


def _fold_order(event: CaseEvent) -> tuple[date, int, str, str]:
    recorded = event.recorded_at
    at = recorded.astimezone(UTC).isoformat() if recorded is not None else ""
    return (event.occurred_on, SAME_DAY_RANK.get(event.type, 1), at, event.event_id)


def _thaw(facts: CinFacts) -> _Working:
    return _Working(
        child_id=facts.child_id,
        date_of_birth=facts.date_of_birth,
        sex=facts.sex,
        team=facts.team,
        referrals=list(facts.referrals),
        assessments={a.assessment_id: a for a in facts.assessments},
        enquiries={e.enquiry_id: e for e in facts.enquiries},
        cp_plans={p.plan_id: p for p in facts.cp_plans},
        cin_plans={p.plan_id: p for p in facts.cin_plans},
        closures=list(facts.closures),
        care_periods=list(facts.care_periods),
        anomalies=list(facts.anomalies),
    )


def apply_event(facts: CinFacts | None, child_id: str, kind: str, on: date, data: dict[str, Any], ref: Ref) -> CinFacts:
    """``facts`` with one more CIN/CP event (of :data:`CIN_TYPES`) folded in, in the fold order: what the
    per-child state keeps (care periods are the state's own, so ``care.*`` events are not taken here)."""
    work = _Working(child_id) if facts is None else _thaw(facts)
    work.feed(kind, on, data, ref)
    return work.freeze()


def refs(facts: CinFacts) -> Iterator[Ref]:
    """Every event the facts cite (the evidence of the CIN/CP rules, and what a retraction can take back)."""
    for referral in facts.referrals:
        yield referral.ref
        if referral.outcome_ref is not None:
            yield referral.outcome_ref
    for assessment in facts.assessments:
        yield from (r for r in (assessment.start_ref, assessment.completed_ref) if r is not None)
    for enquiry in facts.enquiries:
        yield from (r for r in (enquiry.start_ref, enquiry.icpc_ref, enquiry.completed_ref) if r is not None)
    for plan in facts.cp_plans:
        yield plan.ref
        yield from plan.reviews
        yield from plan.visits
        if plan.end_ref is not None:
            yield plan.end_ref
    for cin_plan in facts.cin_plans:
        yield from (r for r in (cin_plan.start_ref, cin_plan.end_ref) if r is not None)
    for closure in facts.closures:
        yield closure.ref


def fold_child(child_id: str, events: Iterable[CaseEvent]) -> CinFacts:
    """The child's CIN/CP facts from their events (any order; other types and other children ignored)."""
    mine = [event for event in events if event.child_id == child_id]
    retracted = {str(getattr(e, "retracted_event_id")) for e in mine if e.type == "event.retracted"}  # noqa: B009
    seen: set[str] = set()
    work = _Working(child_id)
    ordered = sorted(mine, key=_fold_order)
    for event in ordered:
        if event.event_id in seen or event.event_id in retracted or event.type not in FOLDED_TYPES:
            continue
        seen.add(event.event_id)
        on = event.occurred_on
        work.feed(event.type, on, event_to_json(event), Ref(event.event_id, event.type, on))
    return work.freeze()


def fold_all(events: Iterable[CaseEvent]) -> dict[str, CinFacts]:
    """Every child's facts (children with no CIN/CP or care event are left out)."""
    by_child: dict[str, list[CaseEvent]] = {}
    for event in events:
        by_child.setdefault(event.child_id, []).append(event)
    out: dict[str, CinFacts] = {}
    for child_id, mine in by_child.items():
        if any(event.type in FOLDED_TYPES for event in mine):
            out[child_id] = fold_child(child_id, mine)
    return out
