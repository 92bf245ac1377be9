"""The children in need and child protection facts in the per-child state are pruned like the care facts
(the state does not grow with the CIN/CP history, and no alert changes), and a retraction of a CIN/CP
event that left the re-fold log removes its fact and flags the child for a rebuild."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from schemas.events import CaseEvent, parse_event
from services.rules.core import codec
from services.rules.core.cin.facts import CinFacts, fold_child
from services.rules.core.cin.horizon import MAX_ANOMALIES, prune, without_event
from services.rules.core.config import RulesConfig
from services.rules.core.fold import Change, apply
from services.rules.core.horizon import Horizon, needs_rebuild
from services.rules.core.state import ChildState
from services.rules.replay import replay, transitions_ndjson

CHILD = "cin-1"
START = date(2010, 1, 4)
CYCLE_DAYS = 730
UNBOUNDED = Horizon(log_days=100_000, near_months=5_000, far_months=5_000)
CONFIG = RulesConfig.default()


def _event(event_id: str, kind: str, on: date, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": kind, "child_id": CHILD, "occurred_at": on.isoformat(), **fields}


def cin_child(cycles: int) -> list[dict[str, Any]]:
    """Every two years: a referral, an assessment completed in 20 days, a section 47 enquiry, a conference
    and an 18-month child protection plan with weekly visits (three weeks missed: a visit alert each time),
    a first review 95 days in (late: a review alert) and 6-monthly reviews, the plan's end and the case's
    closure."""
    events = []
    for k in range(cycles):
        day0 = START + timedelta(days=CYCLE_DAYS * k)

        def on(days: int, day0: date = day0) -> date:
            return day0 + timedelta(days=days)

        events += [
            _event(f"r{k}", "referral.received", on(0), referral_id=f"R{k}", source="2A", team="east"),
            _event(f"a{k}", "assessment.started", on(1), assessment_id=f"A{k}", referral_id=f"R{k}"),
            _event(f"ac{k}", "assessment.completed", on(20), assessment_id=f"A{k}", referral_id=f"R{k}",
                   child_in_need=True, factors=["3B"]),
            _event(f"s{k}", "s47.started", on(21), enquiry_id=f"S{k}"),
            _event(f"i{k}", "icpc.held", on(30), enquiry_id=f"S{k}", plan_decided=True),
            _event(f"p{k}", "cp_plan.started", on(30), plan_id=f"P{k}", category="NEG", previous_plans=k),
        ]  # fmt: skip
        events += [
            _event(f"v{k}-{n}", "cp_visit.completed", on(30 + 7 * n), plan_id=f"P{k}", seen_alone=True)
            for n in range(1, 78)
            if n not in (10, 11, 12)
        ]
        events += [_event(f"rv{k}-0", "cp_review.held", on(125), plan_id=f"P{k}")]
        events += [_event(f"rv{k}-{n}", "cp_review.held", on(125 + 180 * n), plan_id=f"P{k}") for n in (1, 2)]
        events += [
            _event(f"pe{k}", "cp_plan.ended", on(570), plan_id=f"P{k}"),
            _event(f"c{k}", "case.closed", on(600), reason="RC7"),
        ]
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events


def folded(events: list[dict[str, Any]], horizon: Horizon | None = None) -> ChildState:
    state: ChildState | None = None
    for raw in events:
        event = parse_event(raw, received_at=None)
        state, _ = apply(state, event) if horizon is None else apply(state, event, horizon)
    assert state is not None
    return state


def parsed(events: list[dict[str, Any]]) -> list[CaseEvent]:
    return [parse_event(raw, received_at=None) for raw in events]


def test_the_state_does_not_grow_with_the_cin_history() -> None:
    sizes = {cycles: len(codec.dumps(folded(cin_child(cycles)))) for cycles in (3, 5)}
    unbounded = len(codec.dumps(folded(cin_child(5), UNBOUNDED)))
    assert abs(sizes[5] - sizes[3]) <= 0.05 * sizes[3], sizes
    assert sizes[5] < unbounded / 4, (sizes, unbounded)
    state = folded(cin_child(5))
    for holder in (state, state.base):
        assert holder is not None and holder.cin is not None
        assert len(holder.cin.cp_plans) <= 1 and len(holder.cin.referrals) <= 1
        assert all(len(plan.visits) < 30 for plan in holder.cin.cp_plans)


def test_pruning_the_cin_facts_changes_no_alert() -> None:
    events = parsed(cin_child(5))
    until = START + timedelta(days=CYCLE_DAYS * 5)
    bounded = replay(events, until, CONFIG)
    everything = replay(events, until, CONFIG, horizon=UNBOUNDED)
    assert transitions_ndjson(bounded.transitions) == transitions_ndjson(everything.transitions)
    rules = [(t.rule, t.state) for t in bounded.transitions]
    assert rules.count(("cp-visit-overdue", "raised")) == 5  # the missed weeks of each plan
    assert rules.count(("cp-review-overdue", "raised")) == 5  # the late first review of each plan
    kept = bounded.states[CHILD].cin
    full = everything.states[CHILD].cin
    assert kept is not None and full is not None
    assert len(full.cp_plans) == 5 and len(kept.cp_plans) < len(full.cp_plans)  # pruned indeed


def _facts() -> CinFacts:
    return fold_child(CHILD, parsed(cin_child(2)))


def test_prune_drops_ended_plans_and_settled_referrals_only_before_the_cutoffs() -> None:
    facts = _facts()
    second_start = START + timedelta(days=CYCLE_DAYS)
    # The first plan ended on day 570: with ``near`` after that it goes, with ``near`` on it, it stays.
    ended = START + timedelta(days=570)
    kept = prune(facts, second_start, ended)
    assert [p.plan_id for p in kept.cp_plans] == ["P0", "P1"]
    dropped = prune(facts, second_start, ended + timedelta(days=1))
    assert [p.plan_id for p in dropped.cp_plans] == ["P1"]
    assert [r.referral_id for r in dropped.referrals] == ["R1"]
    assert [a.assessment_id for a in dropped.assessments] == ["A1"]
    assert [e.enquiry_id for e in dropped.enquiries] == ["S1"]
    assert [c.ref.event_id for c in dropped.closures] == ["c0", "c1"]  # day 600: after ``near``
    # With ``near`` on the second referral, the first closure is older than every referral and enquiry kept.
    later = prune(facts, second_start, second_start)
    assert [c.ref.event_id for c in later.closures] == ["c1"]


def test_prune_keeps_the_latest_visit_and_review_before_the_cutoff_and_its_identity_when_idle() -> None:
    facts = _facts()
    recent = START + timedelta(days=CYCLE_DAYS + 30 + 7 * 40 + 1)  # after the second plan's 40th visit
    (plan,) = [p for p in prune(facts, recent, START).cp_plans if p.plan_id == "P1"]
    assert plan.visits[0].event_id == "v1-40" and plan.visits[-1].event_id == "v1-77"
    assert plan.reviews[0].event_id == "rv1-1"  # day 305 is the latest review before the cutoff (day 311)
    assert prune(facts, START, START) is facts


def test_prune_keeps_an_assessment_still_open_however_old() -> None:
    facts = fold_child(
        CHILD,
        parsed(
            [
                _event("r", "referral.received", START, referral_id="R", source="2A"),
                _event("a", "assessment.started", START, assessment_id="A", referral_id="R"),
            ]
        ),
    )
    later = START + timedelta(days=2000)
    assert prune(facts, later, later) is facts  # its clock still runs: the alert must stay raised


def test_prune_keeps_the_latest_anomalies() -> None:
    facts = CinFacts(CHILD, anomalies=tuple(f"n{i}" for i in range(MAX_ANOMALIES + 5)))
    assert prune(facts, START, START).anomalies == facts.anomalies[-MAX_ANOMALIES:]


def test_without_event_takes_back_what_the_event_made() -> None:
    facts = _facts()
    assert [p.plan_id for p in without_event(facts, "p1").cp_plans] == ["P0"]
    assert [r.referral_id for r in without_event(facts, "r0").referrals] == ["R1"]
    visits = next(p for p in without_event(facts, "v1-5").cp_plans if p.plan_id == "P1").visits
    assert "v1-5" not in [v.event_id for v in visits] and len(visits) == 73
    (enquiry,) = [e for e in without_event(facts, "i0").enquiries if e.enquiry_id == "S0"]
    assert enquiry.icpc is None and enquiry.start is not None
    (assessment,) = [a for a in without_event(facts, "ac0").assessments if a.assessment_id == "A0"]
    assert assessment.completed is None and assessment.child_in_need is None
    assert [c.ref.event_id for c in without_event(facts, "c0").closures] == ["c1"]
    (plan,) = [p for p in without_event(facts, "pe0").cp_plans if p.plan_id == "P0"]
    assert plan.end is None and plan.end_ref is None  # the plan is open again
    assert without_event(facts, "no-such-event") is facts


def _retraction(target: str, on: str) -> CaseEvent:
    raw = {
        "event_id": f"retract-{target}",
        "type": "event.retracted",
        "child_id": CHILD,
        "occurred_at": on,
        "retracted_event_id": target,
    }
    return parse_event(raw, received_at=None)


def test_a_deep_retraction_of_a_cin_event_removes_its_fact_and_flags_a_rebuild() -> None:
    events = cin_child(2)
    state = folded(events)
    assert state.log_from is not None and state.cin is not None
    # The second plan started on day 760, long before the log (the latest event is day 1330).
    assert date.fromisoformat(next(e for e in events if e["event_id"] == "p1")["occurred_at"]) < state.log_from
    assert "P1" in [p.plan_id for p in state.cin.cp_plans]
    after, _ = apply(state, _retraction("p1", events[-1]["occurred_at"]))
    assert after.cin is not None and "P1" not in [p.plan_id for p in after.cin.cp_plans]
    assert after.base is not None and after.base.cin is not None
    assert "P1" not in [p.plan_id for p in after.base.cin.cp_plans]
    assert needs_rebuild(after) and not needs_rebuild(state)
    # A review of the plan kept from before the log (the latest before the cutoff), the same way.
    assert "rv1-1" in [r.event_id for r in state.cin.cp_plans[-1].reviews]
    gone, _ = apply(state, _retraction("rv1-1", events[-1]["occurred_at"]))
    assert gone.cin is not None and "rv1-1" not in [r.event_id for r in gone.cin.cp_plans[-1].reviews]
    assert needs_rebuild(gone)


def test_a_retraction_of_a_plan_end_reopens_the_plan_exactly_within_the_log_and_flagged_beyond() -> None:
    events = cin_child(2)
    within = folded(events)  # the plan ended on day 1300, within the log of the latest event (day 1330)
    assert within.cin is not None and within.cin.cp_plans[-1].end is not None
    after, _ = apply(within, _retraction("pe1", events[-1]["occurred_at"]))
    assert after.cin is not None and after.cin.cp_plans[-1].end is None and not needs_rebuild(after)
    later = START + timedelta(days=1500)  # a new referral: the plan's end leaves the log
    beyond = folded([*events, _event("r9", "referral.received", later, referral_id="R9", source="2A")])
    assert beyond.log_from is not None and beyond.log_from > START + timedelta(days=1300)
    assert beyond.cin is not None and beyond.cin.cp_plans[-1].end is not None
    after, _ = apply(beyond, _retraction("pe1", later.isoformat()))
    assert after.cin is not None and after.cin.cp_plans[-1].end is None  # the plan is open again
    assert needs_rebuild(after)


def test_a_retraction_dated_before_the_log_is_deep_and_takes_back_the_fact() -> None:
    events = cin_child(2)
    state = folded(events)
    assert state.log_from is not None
    assert state.cin is not None and "rv1-1" in [r.event_id for r in state.cin.cp_plans[-1].reviews]
    after, change = apply(state, _retraction("rv1-1", (state.log_from - timedelta(days=1)).isoformat()))
    assert change is Change.DEEP and needs_rebuild(after)
    assert after.cin is not None and "rv1-1" not in [r.event_id for r in after.cin.cp_plans[-1].reviews]


def test_the_stored_state_keeps_the_new_references_and_reads_the_old_form() -> None:
    state = folded(cin_child(2))
    back = codec.loads(codec.dumps(state))
    assert back == state and back.cin is not None and back.cin.cp_plans[-1].end_ref is not None
    from services.rules.core.codec import _read_cin  # a record stored before the new fields still reads

    old_plan = ["P", START.toordinal(), "NEG", ["p", "cp_plan.started", START.toordinal()], 0, None, [], [], None]
    data = [None, None, None, [], [], [], [old_plan], [["C", START.toordinal(), None]], [], [], []]
    read = _read_cin(CHILD, data)
    assert read.cp_plans[0].end_ref is None and read.cin_plans[0].start_ref is None
