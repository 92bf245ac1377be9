"""The four CIN/CP rules, hand-worked on both sides of each boundary, with England bank holidays.

2025 bank holidays used below: Good Friday 18 Apr, Easter Monday 21 Apr, early May 5 May, Christmas 25
and 26 Dec, New Year 1 Jan 2025 and 1 Jan 2026.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from schemas.events import CaseEvent, parse_event
from services.rules.core.cin import assessment_overdue, cp_review_overdue, cp_visit_overdue, icpc_overdue
from services.rules.core.cin.base import DEFAULT_CONFIG, CinRulesConfig
from services.rules.core.cin.facts import CinFacts, fold_child
from services.rules.core.cin.rules import RULES, evaluate_all

CHILD = "C-1"
_counter = iter(range(10_000))


def ev(kind: str, on: str, **fields: Any) -> CaseEvent:
    return parse_event(
        {"event_id": f"e{next(_counter)}", "type": kind, "child_id": CHILD, "occurred_at": on, **fields},
        received_at=None,
    )


def facts(*events: CaseEvent) -> CinFacts:
    return fold_child(CHILD, events)


def rule_ids(found: CinFacts, as_of: date) -> list[str]:
    return [f.rule for f in evaluate_all(found, as_of).findings]


# ---- assessment-overdue -------------------------------------------------------------------------------
# Referral Mon 2 Dec 2024. 45 working days, skipping 25/26 Dec and 1 Jan: Dec 3–6 (4), 9–13 (9), 16–20
# (14), 23, 24, 27 (17), 30, 31, Jan 2, 3 (21), Jan 6–10 (26), 13–17 (31), 20–24 (36), 27–31 (41), Feb 3–6
# (45): deadline Thu 6 Feb 2025 (without the holidays it would be Mon 3 Feb).
REFERRAL = ("referral.received", "2024-12-02")


def assessment_case(*more: CaseEvent) -> CinFacts:
    return facts(
        ev(*REFERRAL, referral_id="R1", source="2A"),
        ev("assessment.started", "2024-12-03", assessment_id="A1", referral_id="R1"),
        *more,
    )


def test_assessment_due_on_the_45th_working_day_counting_bank_holidays() -> None:
    case = assessment_case()
    assert assessment_overdue.evaluate(case, date(2025, 2, 6), DEFAULT_CONFIG).findings == ()
    assert assessment_overdue.evaluate(case, date(2025, 2, 6), DEFAULT_CONFIG).next_due == date(2025, 2, 7)
    (finding,) = assessment_overdue.evaluate(case, date(2025, 2, 7), DEFAULT_CONFIG).findings
    assert finding.rule == "assessment-overdue" and finding.subject == "R1"
    assert finding.since == date(2025, 2, 7)
    assert finding.dates == {"referral": date(2024, 12, 2), "deadline": date(2025, 2, 6)}
    assert [e.type for e in finding.evidence] == ["referral.received", "assessment.started"]


def test_assessment_completed_resolves_it_even_when_late() -> None:
    late = assessment_case(
        ev("assessment.completed", "2025-02-10", assessment_id="A1", referral_id="R1", child_in_need=True)
    )
    assert rule_ids(late, date(2025, 2, 9)) == ["assessment-overdue"]
    assert rule_ids(late, date(2025, 2, 10)) == []


def test_no_assessment_wanted_no_clock_and_closure_stops_it() -> None:
    nfa = facts(
        ev(*REFERRAL, referral_id="R1", source="6"),
        ev("referral.outcome", "2024-12-02", referral_id="R1", outcome="no_further_action"),
    )
    assert rule_ids(nfa, date(2025, 6, 1)) == []
    by_outcome = facts(
        ev(*REFERRAL, referral_id="R1", source="6"),
        ev("referral.outcome", "2024-12-03", referral_id="R1", outcome="assessment"),
    )
    assert rule_ids(by_outcome, date(2025, 2, 7)) == ["assessment-overdue"]
    closed = assessment_case(ev("case.closed", "2025-01-15", reason="RC7"))
    assert rule_ids(closed, date(2025, 2, 7)) == []


def test_assessment_interval_is_configurable() -> None:
    # 20 working days from 2 Dec 2024: ... Dec 30 is the 18th? count: Dec 3–6 (4), 9–13 (9), 16–20 (14),
    # 23, 24, 27 (17), 30 (18), 31 (19), Jan 2 (20) -> deadline 2 Jan 2025
    config = CinRulesConfig(assessment_working_days=20)
    assert assessment_overdue.evaluate(assessment_case(), date(2025, 1, 2), config).findings == ()
    assert len(assessment_overdue.evaluate(assessment_case(), date(2025, 1, 3), config).findings) == 1


# ---- icpc-overdue --------------------------------------------------------------------------------------
# S47 start Wed 16 Apr 2025. 15 working days skipping Good Friday, Easter Monday and 5 May: Apr 17 (1),
# 22–25 (5), 28–30 (8), May 1, 2 (10), 6–9 (14), Mon 12 May (15): deadline 12 May 2025.
def enquiry(*more: CaseEvent) -> CinFacts:
    return facts(ev("s47.started", "2025-04-16", enquiry_id="S1"), *more)


def test_icpc_due_on_the_15th_working_day_counting_bank_holidays() -> None:
    assert icpc_overdue.evaluate(enquiry(), date(2025, 5, 12), DEFAULT_CONFIG).findings == ()
    (finding,) = icpc_overdue.evaluate(enquiry(), date(2025, 5, 13), DEFAULT_CONFIG).findings
    assert finding.subject == "S1" and finding.since == date(2025, 5, 13)
    assert finding.dates["deadline"] == date(2025, 5, 12)
    assert finding.severity == "high"


def test_icpc_held_on_the_deadline_or_late_clears_it() -> None:
    on_time = enquiry(ev("icpc.held", "2025-05-12", enquiry_id="S1", plan_decided=True))
    assert rule_ids(on_time, date(2025, 5, 13)) == []
    late = enquiry(ev("icpc.held", "2025-05-14", enquiry_id="S1", plan_decided=False))
    assert rule_ids(late, date(2025, 5, 13)) == ["icpc-overdue"]
    assert rule_ids(late, date(2025, 5, 14)) == []


def test_enquiry_ended_without_conference_stops_the_clock() -> None:
    nfa = enquiry(ev("s47.completed", "2025-04-30", enquiry_id="S1", outcome="no_further_action"))
    assert rule_ids(nfa, date(2025, 5, 13)) == []
    towards_icpc = enquiry(ev("s47.completed", "2025-04-30", enquiry_id="S1", outcome="icpc"))
    assert rule_ids(towards_icpc, date(2025, 5, 13)) == ["icpc-overdue"]


# ---- cp-review-overdue ---------------------------------------------------------------------------------
# Plan (ICPC) 31 Aug 2025: first review by 30 Nov 2025 (3 months, clamped to the month's end); a review
# on 30 Nov makes the next due by 30 May 2026 (6 months).
def plan(*more: CaseEvent, start: str = "2025-08-31") -> CinFacts:
    return facts(ev("cp_plan.started", start, plan_id="P1", category="NEG", previous_plans=0), *more)


def test_first_review_within_three_months() -> None:
    assert cp_review_overdue.evaluate(plan(), date(2025, 11, 30), DEFAULT_CONFIG).findings == ()
    (finding,) = cp_review_overdue.evaluate(plan(), date(2025, 12, 1), DEFAULT_CONFIG).findings
    assert finding.since == date(2025, 12, 1) and finding.dates["deadline"] == date(2025, 11, 30)
    assert "a first review" in finding.summary


def test_then_six_monthly() -> None:
    reviewed = plan(ev("cp_review.held", "2025-11-30", plan_id="P1"))
    assert cp_review_overdue.evaluate(reviewed, date(2025, 12, 1), DEFAULT_CONFIG).findings == ()
    assert cp_review_overdue.evaluate(reviewed, date(2026, 5, 30), DEFAULT_CONFIG).findings == ()
    (finding,) = cp_review_overdue.evaluate(reviewed, date(2026, 5, 31), DEFAULT_CONFIG).findings
    assert finding.dates["deadline"] == date(2026, 5, 30)
    assert [e.type for e in finding.evidence] == ["cp_plan.started", "cp_review.held"]


def test_ended_plan_needs_no_review() -> None:
    ended = plan(ev("cp_plan.ended", "2025-11-20", plan_id="P1"))
    assert rule_ids(ended, date(2025, 12, 1)) == []
    assert "cp-review-overdue" in rule_ids(plan(), date(2025, 12, 1))


# ---- cp-visit-overdue ----------------------------------------------------------------------------------
# Plan Fri 19 Dec 2025; 10 working days skipping 25/26 Dec and 1 Jan: Dec 22, 23, 24 (3), 29, 30, 31 (6),
# Jan 2 (7), 5, 6, 7 (10): due by Wed 7 Jan 2026. A visit on 7 Jan: next by Wed 21 Jan.
def test_visit_due_ten_working_days_after_the_plan_start() -> None:
    case = plan(start="2025-12-19")
    assert cp_visit_overdue.evaluate(case, date(2026, 1, 7), DEFAULT_CONFIG).findings == ()
    (finding,) = cp_visit_overdue.evaluate(case, date(2026, 1, 8), DEFAULT_CONFIG).findings
    assert finding.dates == {"plan_started": date(2025, 12, 19), "deadline": date(2026, 1, 7)}


def test_visit_on_the_due_day_restarts_the_interval() -> None:
    case = plan(ev("cp_visit.completed", "2026-01-07", plan_id="P1", seen_alone=True), start="2025-12-19")
    assert cp_visit_overdue.evaluate(case, date(2026, 1, 21), DEFAULT_CONFIG).findings == ()
    (finding,) = cp_visit_overdue.evaluate(case, date(2026, 1, 22), DEFAULT_CONFIG).findings
    assert finding.dates["last_visit"] == date(2026, 1, 7)


def test_visit_interval_is_configurable() -> None:
    # 5 working days from Fri 19 Dec 2025: Dec 22, 23, 24, 29, 30 -> 30 Dec
    config = CinRulesConfig(cp_visit_working_days=5)
    case = plan(start="2025-12-19")
    assert cp_visit_overdue.evaluate(case, date(2025, 12, 30), config).findings == ()
    assert len(cp_visit_overdue.evaluate(case, date(2025, 12, 31), config).findings) == 1


# ---- the fold and the catalogue ------------------------------------------------------------------------
def test_fold_ignores_repeats_and_retracted_events() -> None:
    started = ev("s47.started", "2025-04-16", enquiry_id="S1")
    icpc = ev("icpc.held", "2025-05-12", enquiry_id="S1", plan_decided=True)
    retract = ev("event.retracted", "2025-05-20", retracted_event_id=icpc.event_id)
    assert rule_ids(facts(started, started, icpc), date(2025, 5, 13)) == []
    assert rule_ids(facts(started, icpc, retract), date(2025, 5, 13)) == ["icpc-overdue"]


def test_fold_records_anomalies_instead_of_raising() -> None:
    odd = facts(ev("cp_visit.completed", "2025-01-01", plan_id="nope"), ev("cin_plan.ended", "2025-01-02", plan_id="x"))
    assert len(odd.anomalies) == 2


def test_catalogue_ids_match_the_contract() -> None:
    assert [rule.id for rule in RULES] == [
        "assessment-overdue",
        "icpc-overdue",
        "cp-review-overdue",
        "cp-visit-overdue",
    ]
    assert all("Working Together" in rule.basis for rule in RULES)
    disabled = CinRulesConfig(enabled=frozenset())
    assert evaluate_all(plan(), date(2026, 6, 1), disabled).findings == ()


def test_thresholds_from_the_rules_file_tables() -> None:
    from services.rules.core.cin.base import config_from_rules_table

    config = config_from_rules_table(
        {
            "cp-visit-overdue": {"enabled": True, "working_days": 5},
            "cp-review-overdue": {"first_months": 2, "interval_months": 4},
            "icpc-overdue": {"enabled": False},
            "iha-overdue": {"working_days": 99},  # another rule's table: not ours
        }
    )
    assert (config.cp_visit_working_days, config.cp_first_review_months, config.cp_review_months) == (5, 2, 4)
    assert config.assessment_working_days == 45
    assert "icpc-overdue" not in config.enabled and "cp-visit-overdue" in config.enabled
    with pytest.raises(ValueError, match="unknown setting"):
        config_from_rules_table({"cp-visit-overdue": {"days": 5}})
    with pytest.raises(ValueError, match="whole number"):
        config_from_rules_table({"cp-visit-overdue": {"working_days": 0}})
