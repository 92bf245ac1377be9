"""CIN/CP authority indicators: DfE definitions, hand-worked at the edges of their windows."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

import pytest

from schemas.events import CaseEvent, parse_event
from services.board.core.cin_indicators import in_need, monthly_series, values
from services.rules.core.cin.facts import CinFacts, fold_all

_ids = count()
AS_OF = date(2025, 3, 31)


def ev(child: str, kind: str, on: str, **fields: Any) -> CaseEvent:
    return parse_event(
        {"event_id": f"e{next(_ids)}", "type": kind, "child_id": child, "occurred_at": on, **fields},
        received_at=None,
    )


def children(*events: CaseEvent) -> list[CinFacts]:
    return list(fold_all(events).values())


def referral(child: str, on: str, rid: str) -> CaseEvent:
    return ev(child, "referral.received", on, referral_id=rid, source="2A")


def test_referrals_window_includes_its_first_day_and_excludes_the_day_before() -> None:
    # 12 months up to 31 Mar 2025: 1 Apr 2024 … 31 Mar 2025
    found = values(
        children(
            referral("a", "2024-03-31", "r0"), referral("b", "2024-04-01", "r1"), referral("c", "2025-03-31", "r2")
        ),
        AS_OF,
        population=20_000,
    )["referrals-rate-per-10k"]
    assert found.numerator == 2
    assert found.value == pytest.approx(1.0)  # 2 referrals / 20,000 × 10,000


def test_re_referral_within_12_months_of_the_previous_one() -> None:
    found = values(
        children(
            referral("a", "2023-06-01", "a0"),
            referral("a", "2024-05-31", "a1"),  # 11 months 30 days after a0: a re-referral
            referral("b", "2023-06-01", "b0"),
            referral("b", "2024-06-01", "b1"),  # exactly 12 months after b0: not within 12 months
            referral("c", "2024-07-01", "c0"),
        ),
        AS_OF,
        population=None,
    )["re-referrals-12m"]
    assert (found.numerator, found.denominator) == (1, 3)
    assert found.value == pytest.approx(100 / 3)


def test_assessments_within_45_working_days_of_the_referral() -> None:
    # Referral Mon 2 Dec 2024: the 45th working day (skipping 25, 26 Dec and 1 Jan) is Thu 6 Feb 2025.
    def case(child: str, completed: str) -> list[CaseEvent]:
        return [
            referral(child, "2024-12-02", f"{child}-r"),
            ev(child, "assessment.started", "2024-12-03", assessment_id=f"{child}-a", referral_id=f"{child}-r"),
            ev(child, "assessment.completed", completed, assessment_id=f"{child}-a", referral_id=f"{child}-r",
               child_in_need=True),
        ]  # fmt: skip

    found = values(children(*case("a", "2025-02-06"), *case("b", "2025-02-07")), AS_OF, population=None)
    assert (found["assessments-within-45wd"].numerator, found["assessments-within-45wd"].denominator) == (1, 2)


def plan(child: str, pid: str, start: str, end: str | None = None, previous: int | None = None) -> list[CaseEvent]:
    fields: dict[str, Any] = {"plan_id": pid, "category": "NEG"}
    if previous is not None:
        fields["previous_plans"] = previous
    out = [ev(child, "cp_plan.started", start, **fields)]
    if end:
        out.append(ev(child, "cp_plan.ended", end, plan_id=pid))
    return out


def test_children_on_a_plan_on_the_date_per_10k() -> None:
    found = values(
        children(
            *plan("a", "p", "2024-01-01"), *plan("b", "p", "2024-01-01", "2025-03-31"), *plan("c", "p", "2025-04-01")
        ),
        AS_OF,
        population=10_000,
    )["cp-plans-rate-per-10k"]
    assert found.numerator == 1  # b's plan ended on the date; c's starts the day after
    assert found.value == pytest.approx(1.0)


def test_second_or_subsequent_plan_regardless_of_how_long_ago() -> None:
    found = values(
        children(
            *plan("a", "p1", "2015-01-01", "2016-01-01"),
            *plan("a", "p2", "2024-06-01"),
            *plan("b", "p1", "2024-06-01", previous=2),
            *plan("c", "p1", "2024-04-01"),
            *plan("d", "p1", "2024-03-31"),  # started the day before the year: not counted
        ),
        AS_OF,
        population=None,
    )["cp-plans-second-or-subsequent"]
    assert (found.numerator, found.denominator) == (2, 3)


def test_plans_ended_lasting_two_years_or_more() -> None:
    found = values(
        children(
            *plan("a", "p", "2023-01-10", "2025-01-10"),  # exactly 2 years: counted
            *plan("b", "p", "2023-01-10", "2025-01-09"),  # a day short
            *plan("c", "p", "2020-01-01", "2024-03-31"),  # ended before the year
        ),
        AS_OF,
        population=None,
    )["cp-plans-ended-2y-plus"]
    assert (found.numerator, found.denominator) == (1, 2)


def test_children_in_need_on_the_date() -> None:
    kids = fold_all(
        [
            referral("open", "2025-01-01", "r"),
            referral("closed", "2025-01-01", "r"),
            ev("closed", "case.closed", "2025-03-31", reason="RC7"),
            referral("nfa", "2025-01-01", "r"),
            ev("nfa", "referral.outcome", "2025-01-02", referral_id="r", outcome="no_further_action"),
            referral("not-in-need", "2025-01-01", "r"),
            ev("not-in-need", "assessment.completed", "2025-02-01", assessment_id="a", referral_id="r",
               child_in_need=False),
            ev("cla", "care.started", "2025-01-01", date_of_birth="2015-01-01", sex="F", legal_status="C2"),
            referral("later", "2025-04-01", "r"),
        ]
    )  # fmt: skip
    assert {child for child, facts in kids.items() if in_need(facts, AS_OF)} == {"open", "cla"}
    assert values(kids.values(), AS_OF, population=20_000)["cin-rate-per-10k"].value == pytest.approx(1.0)


def test_entered_and_re_entered_care() -> None:
    def care(child: str, start: str, end: str | None = None) -> list[CaseEvent]:
        out = [ev(child, "care.started", start, date_of_birth="2012-01-01", sex="M", legal_status="V2")]
        if end:
            out.append(ev(child, "care.ended", end, reason="E13"))
        return out

    kids = children(
        *care("a", "2023-01-01", "2024-05-01"), *care("a", "2025-05-01"),  # 12 months after leaving: not re-entry
        *care("b", "2023-01-01", "2024-05-01"), *care("b", "2025-04-30"),  # a day inside 12 months
        *care("c", "2025-05-15"),
    )  # fmt: skip
    found = values(kids, date(2025, 5, 31), population=None, window_months=1)
    assert found["entered-care-month"].value == 2  # a (1 May) and c; b started 30 April
    assert (found["re-entered-care-12m"].numerator, found["re-entered-care-12m"].denominator) == (0, 2)
    april = values(kids, date(2025, 4, 30), population=None, window_months=1)["re-entered-care-12m"]
    assert (april.numerator, april.denominator) == (1, 1)


def test_monthly_series_counts_each_month_alone() -> None:
    kids = children(
        referral("a", "2025-01-31", "1"), referral("b", "2025-02-01", "2"), referral("c", "2025-02-28", "3"),
    )  # fmt: skip
    series = monthly_series(kids, "referrals-rate-per-10k", date(2025, 1, 15), date(2025, 3, 3), population=10_000)
    assert series == [(date(2025, 1, 1), 1.0), (date(2025, 2, 1), 2.0), (date(2025, 3, 1), 0.0)]
    shares = monthly_series(kids, "re-referrals-12m", date(2025, 1, 1), date(2025, 3, 1), population=None)
    assert [month for month, _ in shares] == [date(2025, 1, 1), date(2025, 2, 1)]  # March has no referral
