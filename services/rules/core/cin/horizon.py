"""How much of a child's children in need and child protection history the per-child state keeps, and
what a deep retraction takes back (the CIN/CP part of :mod:`services.rules.core.horizon`).

In the per-child state the CIN/CP facts feed only the four CIN/CP rules (the board and Annex A fold the
event archive themselves), and each rule reads a bounded part of them:

* ``assessment-overdue`` reads a referral until an assessment of it is completed or the case is closed
  after it (or it was decided to need no assessment);
* ``icpc-overdue`` reads an enquiry until its conference is held, it ends needing none, or the case closes;
* ``cp-review-overdue`` and ``cp-visit-overdue`` read open plans only, and of their reviews and visits only
  the latest.

So, at each pruning (cutoffs as for the care facts: ``recent`` = the log's first month, ``near`` = 14
months before it), :func:`prune` drops:

* a plan's reviews and visits before ``recent`` but the latest of them;
* plans and CIN plans that ended before ``near``;
* referrals (with their assessments) and enquiries dated before ``near`` whose clock had stopped before
  ``recent``; case closures before ``near`` older than every referral and enquiry kept (a closure is read
  only after one of those);
* all but the latest :data:`MAX_ANOMALIES` anomaly notes (no rule reads them; they are kept to explain).

With the care facts' pruning this bounds the state by the activity of the last few years, not by the
length of the history. A late event for a fact that was dropped (a review of a plan that ended more than
14 months before the log) is kept as an anomaly, as for a plan never started; it is dated before the log,
so the child is flagged for a rebuild anyway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Final

from .facts import Assessment, CinFacts, CinPlan, CpPlan, Enquiry, Ref, Referral
from .icpc_overdue import NO_ICPC_OUTCOMES

MAX_ANOMALIES: Final = 20


def _latest_before(refs: tuple[Ref, ...], cutoff: date) -> tuple[Ref, ...]:
    """``refs`` (in date order) on or after ``cutoff``, and the latest one before it."""
    first = 0
    while first < len(refs) and refs[first].on < cutoff:
        first += 1
    start = max(0, first - 1)
    return refs if start == 0 else refs[start:]


def _closed(facts: CinFacts, after: date, before: date) -> bool:
    return any(after <= c.on < before for c in facts.closures)


def _referral_settled(facts: CinFacts, referral: Referral, recent: date) -> bool:
    linked = [a for a in facts.assessments if a.referral_id == referral.referral_id]
    if any(a.completed is not None and a.completed < recent for a in linked):
        return True
    if _closed(facts, referral.on, recent):
        return True
    no_assessment = referral.outcome is not None and referral.outcome != "assessment" and not linked
    return no_assessment and (referral.outcome_on or referral.on) < recent


def _enquiry_day(enquiry: Enquiry) -> date:
    return enquiry.start or enquiry.icpc or enquiry.completed or date.min


def _enquiry_settled(facts: CinFacts, enquiry: Enquiry, recent: date) -> bool:
    if enquiry.icpc is not None and enquiry.icpc < recent:
        return True
    if enquiry.completed is not None and enquiry.completed < recent and enquiry.outcome in NO_ICPC_OUTCOMES:
        return True
    return enquiry.start is not None and _closed(facts, enquiry.start, recent)


def _plan(plan: CpPlan, recent: date) -> CpPlan:
    reviews, visits = _latest_before(plan.reviews, recent), _latest_before(plan.visits, recent)
    if len(reviews) == len(plan.reviews) and len(visits) == len(plan.visits):
        return plan
    return replace(plan, reviews=reviews, visits=visits)


def prune(facts: CinFacts, recent: date, near: date) -> CinFacts:
    """``facts`` without what no CIN/CP rule reads any more (see the module docstring); ``facts`` itself
    when nothing is dropped (the engine's verdict reuse relies on that identity)."""
    plans = tuple(_plan(p, recent) for p in facts.cp_plans if p.end is None or p.end >= near)
    cin_plans = tuple(p for p in facts.cin_plans if p.end is None or p.end >= near)
    referrals = tuple(r for r in facts.referrals if r.on >= near or not _referral_settled(facts, r, recent))
    kept_ids = {r.referral_id for r in referrals}
    dropped_ids = {r.referral_id for r in facts.referrals} - kept_ids
    assessments = tuple(a for a in facts.assessments if a.referral_id not in dropped_ids)
    enquiries = tuple(e for e in facts.enquiries if _enquiry_day(e) >= near or not _enquiry_settled(facts, e, recent))
    oldest = min([near, *(r.on for r in referrals), *(e.start for e in enquiries if e.start is not None)])
    closures = tuple(c for c in facts.closures if c.on >= oldest)
    anomalies = facts.anomalies[-MAX_ANOMALIES:]
    same = (
        len(plans) == len(facts.cp_plans)
        and all(new is old for new, old in zip(plans, facts.cp_plans, strict=True))
        and len(cin_plans) == len(facts.cin_plans)
        and len(referrals) == len(facts.referrals)
        and len(assessments) == len(facts.assessments)
        and len(enquiries) == len(facts.enquiries)
        and len(closures) == len(facts.closures)
        and len(anomalies) == len(facts.anomalies)
    )
    if same:
        return facts
    return replace(
        facts,
        cp_plans=plans,
        cin_plans=cin_plans,
        referrals=referrals,
        assessments=assessments,
        enquiries=enquiries,
        closures=closures,
        anomalies=anomalies,
    )


def _referral_without(referral: Referral, target: str) -> Referral:
    if referral.outcome_ref is not None and referral.outcome_ref.event_id == target:
        return replace(referral, outcome=None, outcome_on=None, outcome_ref=None)
    return referral


def _cin_plan_without(plan: CinPlan, target: str) -> CinPlan:
    if plan.end_ref is not None and plan.end_ref.event_id == target:
        return replace(plan, end=None, end_ref=None)
    return plan


def _assessment_without(assessment: Assessment, target: str) -> Assessment | None:
    if assessment.start_ref is not None and assessment.start_ref.event_id == target:
        assessment = replace(assessment, start=None, start_ref=None)
    if assessment.completed_ref is not None and assessment.completed_ref.event_id == target:
        assessment = replace(assessment, completed=None, completed_ref=None, child_in_need=None, factors=())
    return None if assessment.start is None and assessment.completed is None else assessment


def _enquiry_without(enquiry: Enquiry, target: str) -> Enquiry | None:
    if enquiry.start_ref is not None and enquiry.start_ref.event_id == target:
        enquiry = replace(enquiry, start=None, start_ref=None)
    if enquiry.icpc_ref is not None and enquiry.icpc_ref.event_id == target:
        enquiry = replace(enquiry, icpc=None, icpc_ref=None, plan_decided=None)
    if enquiry.completed_ref is not None and enquiry.completed_ref.event_id == target:
        enquiry = replace(enquiry, completed=None, outcome=None, completed_ref=None)
    return None if enquiry.start is None and enquiry.icpc is None and enquiry.completed is None else enquiry


def _plan_without(plan: CpPlan, target: str) -> CpPlan:
    reviews = tuple(r for r in plan.reviews if r.event_id != target)
    visits = tuple(v for v in plan.visits if v.event_id != target)
    ended = plan.end_ref is not None and plan.end_ref.event_id == target
    if len(reviews) == len(plan.reviews) and len(visits) == len(plan.visits) and not ended:
        return plan
    if ended:
        plan = replace(plan, end=None, end_ref=None)
    return replace(plan, reviews=reviews, visits=visits)


def without_event(facts: CinFacts, target: str) -> CinFacts:
    """``facts`` without what the event ``target`` made, where a fact cites it (a retraction of an event that
    left the re-fold log): the referral, plan, CIN plan or case closure it recorded goes; a referral's
    outcome, an assessment's start or completion, an enquiry's start, conference or completion, a plan's
    review, visit or end is taken back (an assessment or enquiry left with nothing goes too). What cannot
    be restored (the seen-alone flag of an earlier visit) is why the child is flagged for a rebuild from
    the event archive all the same. ``facts`` itself when nothing cites ``target``."""
    referrals = tuple(_referral_without(r, target) for r in facts.referrals if r.ref.event_id != target)
    cin_plans = tuple(
        _cin_plan_without(p, target) for p in facts.cin_plans if p.start_ref is None or p.start_ref.event_id != target
    )
    assessments = tuple(found for a in facts.assessments if (found := _assessment_without(a, target)) is not None)
    enquiries = tuple(kept for e in facts.enquiries if (kept := _enquiry_without(e, target)) is not None)
    plans = tuple(_plan_without(p, target) for p in facts.cp_plans if p.ref.event_id != target)
    closures = tuple(c for c in facts.closures if c.ref.event_id != target)
    same = (
        referrals == facts.referrals
        and cin_plans == facts.cin_plans
        and assessments == facts.assessments
        and enquiries == facts.enquiries
        and len(plans) == len(facts.cp_plans)
        and all(new is old for new, old in zip(plans, facts.cp_plans, strict=True))
        and len(closures) == len(facts.closures)
    )
    if same:
        return facts
    return replace(
        facts,
        referrals=referrals,
        assessments=assessments,
        enquiries=enquiries,
        cp_plans=plans,
        cin_plans=cin_plans,
        closures=closures,
    )
