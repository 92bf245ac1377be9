"""Hand-worked cases for the readings of the statute and the DfE definitions shared by the rules and the
board (``services/rules/core/definitions.py``): short breaks, the PEP minimum age, the unregulated-
placement ban date, placements during the window, the same carer, the care-leaver test over every period
since 14, and periods that began before the data. Each boundary is tried on both sides."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from schemas.deltas import Contribution
from services.rules.core import codec
from services.rules.core.calendar import add_working_days
from services.rules.core.config import RulesConfig
from services.rules.core.definitions import pep_clock_start
from services.rules.core.engine import Engine
from services.rules.core.fold import apply
from services.rules.core.horizon import DEFAULT_HORIZON
from services.rules.core.indicators import contributions, next_change
from services.rules.core.state import ChildState

from .factory import ev, fires, fold, parsed, rules_on, started

TEEN = date(2012, 5, 1)
IN_COHORT = Contribution(0, 1)
MET = Contribution(1, 1)
ONE = Contribution(1, 0)


def _short_breaks_then_full_order() -> list[dict[str, Any]]:
    # Short breaks from Monday 6 Jan 2025, a care order from Monday 2 June 2025.
    return [
        ev("care.started", "2025-01-06", date_of_birth=TEEN.isoformat(), sex="F", legal_status="V3"),
        ev("placement.started", "2025-01-06", placement_type="U4"),
        ev("legal_status.changed", "2025-06-02", legal_status="C2"),
    ]


# -- 9. short breaks -----------------------------------------------------------------------------------
def test_short_breaks_are_outside_every_health_clock_dental_included() -> None:
    events = [
        ev("care.started", "2024-01-08", date_of_birth=TEEN.isoformat(), sex="F", legal_status="V3"),
        ev("placement.started", "2024-01-08", placement_type="U4"),
    ]
    found = rules_on(events, date(2025, 6, 1))
    for rule in ("iha-overdue", "dental-overdue", "rha-overdue", "pep-overdue", "review-overdue"):
        assert rule not in found
    # The same child on a care order: every one of those clocks has run out.
    on_order = [started(date(2024, 1, 8), TEEN), events[1]]
    assert {"iha-overdue", "dental-overdue", "pep-overdue", "review-overdue"} <= set(
        rules_on(on_order, date(2025, 6, 1))
    )


def test_full_care_clocks_start_on_the_move_to_a_care_order_never_back_dated() -> None:
    events = _short_breaks_then_full_order()
    # 20 working days after Monday 2 June 2025 (no bank holiday in June): Monday 30 June.
    assert add_working_days(date(2025, 6, 2), 20) == date(2025, 6, 30)
    for rule in ("iha-overdue", "review-overdue", "pep-overdue"):
        assert not fires(rule, events, date(2025, 6, 30)), rule
        assert fires(rule, events, date(2025, 7, 1)), rule
    # Dental: 12 months from the move, not from the short breaks' start.
    assert not fires("dental-overdue", events, date(2026, 6, 2))
    assert fires("dental-overdue", events, date(2026, 6, 3))


def test_board_health_cohorts_count_from_the_move_to_a_care_order() -> None:
    state = fold(_short_breaks_then_full_order())
    # Looked after continuously for 12 months on a full order from 2 June 2026, not 6 January.
    assert "dental-in-date" not in contributions(state, date(2026, 6, 1))
    assert contributions(state, date(2026, 6, 2))["dental-in-date"] == IN_COHORT
    # IHA within 20 working days: counted once the deadline (30 June 2025) has passed.
    assert "iha-within-20wd" not in contributions(state, date(2025, 6, 30))
    assert contributions(state, date(2025, 7, 1))["iha-within-20wd"] == IN_COHORT


def _left_at_17(legal_status: str) -> list[dict[str, Any]]:
    dob = date(2005, 3, 1)
    return [
        ev("care.started", "2020-06-01", date_of_birth=dob.isoformat(), sex="M", legal_status=legal_status),
        ev("placement.started", "2020-06-01", placement_type="U4"),
        ev("care.ended", "2022-06-01", reason="E8"),
        ev("care_leaver.contact", "2024-05-01", in_touch=False),
    ]


def test_short_breaks_alone_never_make_a_care_leaver() -> None:
    assert fires("care-leaver-not-in-touch", _left_at_17("C2"), date(2024, 6, 1))
    assert not fires("care-leaver-not-in-touch", _left_at_17("V3"), date(2024, 6, 1))
    assert "care-leavers-in-touch" in contributions(fold(_left_at_17("C2")), date(2024, 6, 1))
    assert "care-leavers-in-touch" not in contributions(fold(_left_at_17("V3")), date(2024, 6, 1))


# -- 10. PEP minimum age ---------------------------------------------------------------------------------
TODDLER = date(2022, 10, 10)  # 3 on Friday 10 October 2025; the first term after: spring 2026, from 5 Jan


def test_a_child_under_the_pep_minimum_age_is_due_from_the_term_after_reaching_it() -> None:
    events = [started(date(2025, 1, 6), TODDLER), ev("placement.started", "2025-01-06", placement_type="U4")]
    assert pep_clock_start(date(2025, 1, 6), TODDLER, RulesConfig.default().school_calendar) == date(2026, 1, 5)
    # 20 working days after Monday 5 January 2026: Monday 2 February.
    assert add_working_days(date(2026, 1, 5), 20) == date(2026, 2, 2)
    assert not fires("pep-overdue", events, date(2026, 2, 2))
    assert fires("pep-overdue", events, date(2026, 2, 3))
    # A child already 3 when care starts is due 20 working days after the start.
    older = [started(date(2025, 1, 6), date(2021, 1, 1)), events[1]]
    assert add_working_days(date(2025, 1, 6), 20) == date(2025, 2, 3)
    assert not fires("pep-overdue", older, date(2025, 2, 3))
    assert fires("pep-overdue", older, date(2025, 2, 4))


def test_the_pep_rule_and_the_board_agree_on_who_is_due() -> None:
    cases = [
        [started(date(2025, 1, 6), TODDLER), ev("placement.started", "2025-01-06", placement_type="U4")],
        [started(date(2025, 1, 6), date(2015, 3, 3)), ev("placement.started", "2025-01-06", placement_type="U4")],
        _short_breaks_then_full_order(),
    ]
    for events in cases:
        state = fold(events)
        day = date(2025, 1, 6)
        while day <= date(2026, 6, 30):
            # No PEP is ever recorded: the rule fires exactly when the board counts the child as due and
            # not in date.
            due = contributions(state, day).get("pep-in-date") == IN_COHORT
            assert fires("pep-overdue", events, day) == due, (events[0]["date_of_birth"], day)
            day += timedelta(days=7)


# -- 11. the unregulated-placement ban ---------------------------------------------------------------
def test_under16_unregulated_applies_from_the_day_the_ban_took_effect() -> None:
    events = [started(date(2021, 6, 1), date(2006, 1, 1)), ev("placement.started", "2021-06-01", placement_type="H5")]
    assert not fires("under16-unregulated", events, date(2021, 9, 8))
    assert fires("under16-unregulated", events, date(2021, 9, 9))
    found, _ = _findings(events, date(2021, 10, 1))
    assert [f.since for f in found if f.rule == "under16-unregulated"] == [date(2021, 9, 9)]


def _findings(events: list[dict[str, Any]], as_of: date) -> Any:
    return Engine(RulesConfig.default()).findings(fold(events), as_of)


# -- 12. placements during the window, same carer ------------------------------------------------------
def _three_placements(second_same_carer: bool = False) -> list[dict[str, Any]]:
    return [
        started(date(2025, 1, 6), TEEN),
        ev("placement.started", "2025-01-06", placement_type="U6", provider="PR1"),
        ev("placement.started", "2025-03-01", placement_type="U4", provider="PR1", same_carer=second_same_carer),
        ev("placement.started", "2025-06-01", placement_type="U5", provider="PR2"),
    ]


def test_instability_counts_the_placement_in_progress_at_the_window_start_as_the_board_does() -> None:
    events = _three_placements()
    state = fold(events)
    # 27 Feb 2026: the window's first day is 28 Feb 2025, when the first placement was still in progress.
    assert rules_on(events, date(2026, 2, 27))["placement-instability"] == "high"
    assert contributions(state, date(2026, 2, 27))["placements-3plus-12m"] == MET
    # 28 Feb 2026: the window starts on 1 Mar 2025, the day the second placement began.
    assert rules_on(events, date(2026, 2, 28))["placement-instability"] == "low"
    assert contributions(state, date(2026, 2, 28))["placements-3plus-12m"] == IN_COHORT


def test_a_same_carer_change_is_not_a_move() -> None:
    assert rules_on(_three_placements(), date(2025, 6, 1))["placement-instability"] == "high"
    assert rules_on(_three_placements(second_same_carer=True), date(2025, 6, 1))["placement-instability"] == "low"
    assert contributions(fold(_three_placements(True)), date(2025, 6, 1))["placements-3plus-12m"] == IN_COHORT


def test_a_same_carer_change_does_not_break_long_term_stability() -> None:
    def events(same_carer: bool) -> list[dict[str, Any]]:
        return [
            started(date(2022, 1, 4), TEEN),
            ev("placement.started", "2022-01-04", placement_type="U4", provider="PR1"),
            ev("placement.started", "2023-06-01", placement_type="U1", provider="PR1", same_carer=same_carer),
        ]

    # 2.5 years of care on 4 July 2024.
    assert "long-term-stability" not in contributions(fold(events(True)), date(2024, 7, 3))
    assert contributions(fold(events(True)), date(2024, 7, 4))["long-term-stability"] == MET
    assert contributions(fold(events(False)), date(2024, 7, 4))["long-term-stability"] == IN_COHORT


# -- 1. periods that began before the data -----------------------------------------------------------------
def _before_data(flag: bool) -> list[dict[str, Any]]:
    return [
        started(date(2025, 1, 6), TEEN, period_began_before_data=flag, new_episode_reason="P"),
        ev("placement.started", "2025-01-06", placement_type="U4"),
    ]


def test_measures_needing_earlier_history_are_not_known_for_a_period_begun_before_the_data() -> None:
    unknown = contributions(fold(_before_data(True)), date(2025, 6, 1))
    assert unknown["placements-3plus-12m.unknown"] == ONE and "placements-3plus-12m" not in unknown
    assert unknown["long-term-stability.unknown"] == ONE and "long-term-stability" not in unknown
    known = contributions(fold(_before_data(False)), date(2025, 6, 1))
    assert known["placements-3plus-12m"] == IN_COHORT and "long-term-stability" not in known
    assert not any(name.endswith(".unknown") for name in known)


def test_not_known_ends_when_the_window_or_the_stability_period_lies_within_the_data() -> None:
    state = fold(_before_data(True))
    # The 12 months from 6 Jan 2025 (as of 5 Jan 2026) lie within the data; from 5 Jan 2025 they do not.
    assert contributions(state, date(2026, 1, 4))["placements-3plus-12m.unknown"] == ONE
    assert contributions(state, date(2026, 1, 5))["placements-3plus-12m"] == IN_COHORT
    assert next_change(state, date(2026, 1, 4)) == date(2026, 1, 5)
    # 2.5 years seen on 6 July 2027: the child is then known to have been looked after long enough.
    assert contributions(state, date(2027, 7, 5))["long-term-stability.unknown"] == ONE
    assert contributions(state, date(2027, 7, 6))["long-term-stability"] == MET


def test_three_placements_seen_are_known_even_before_the_data() -> None:
    events = [
        started(date(2025, 1, 6), TEEN, period_began_before_data=True),
        ev("placement.started", "2025-01-06", placement_type="U4"),
        ev("placement.started", "2025-02-03", placement_type="U5"),
        ev("placement.started", "2025-03-03", placement_type="U6"),
    ]
    assert contributions(fold(events), date(2025, 6, 1))["placements-3plus-12m"] == MET


# -- 13. care leavers, UASC, missing ------------------------------------------------------------------
def _two_periods(second_end: str) -> list[dict[str, Any]]:
    dob = date(2004, 1, 1)  # 14 on 1 Jan 2018, 16 on 1 Jan 2020
    return [
        ev("care.started", "2018-02-01", date_of_birth=dob.isoformat(), sex="F", legal_status="C2"),
        ev("care.ended", "2018-03-15", reason="E13"),  # 42 days
        ev("care.started", "2020-03-01", date_of_birth=dob.isoformat(), sex="F", legal_status="V2"),
        ev("care.ended", second_end, reason="E8"),
        ev("care_leaver.contact", "2023-03-01", in_touch=False),
    ]


def test_the_13_week_test_counts_every_period_since_14() -> None:
    # 42 + 49 days (1 Mar to 19 Apr 2020) = 91 days = 13 weeks; 42 + 48 = 90 is not.
    for end, leaver in (("2020-04-19", True), ("2020-04-18", False)):
        events = _two_periods(end)
        assert fires("care-leaver-not-in-touch", events, date(2023, 6, 1)) is leaver, end
        assert ("care-leavers-in-touch" in contributions(fold(events), date(2023, 6, 1))) is leaver, end


def test_uasc_count_honours_the_date_status_ceased() -> None:
    state = fold([started(date(2024, 1, 8), TEEN, uasc=True, uasc_ceased_on="2025-06-01")])
    assert contributions(state, date(2025, 5, 31))["uasc-count"] == ONE
    assert "uasc-count" not in contributions(state, date(2025, 6, 1))
    assert next_change(state, date(2025, 5, 31)) == date(2025, 6, 1)


def test_missing_measures_count_missing_episodes_while_looked_after() -> None:
    def with_episode(kind: str | None, on: str) -> ChildState:
        episode: dict[str, Any] = {"episode_id": "m1"}
        if kind is not None:
            episode["kind"] = kind
        return fold(
            [
                started(date(2025, 1, 6), TEEN),
                ev("care.ended", "2025-05-01", reason="E8"),
                ev("care.started", "2025-06-02", date_of_birth=TEEN.isoformat(), sex="F", legal_status="C2"),
                ev("missing.started", on, **episode),
            ]
        )

    assert contributions(with_episode("missing", "2025-03-01"), date(2025, 7, 1))["missing-children-12m"] == ONE
    assert contributions(with_episode(None, "2025-03-01"), date(2025, 7, 1))["missing-children-12m"] == ONE
    assert "missing-children-12m" not in contributions(with_episode("away", "2025-03-01"), date(2025, 7, 1))
    # 1 May (care ended that day) to 1 June: not looked after.
    assert "missing-children-12m" not in contributions(with_episode("missing", "2025-05-15"), date(2025, 7, 1))
    assert contributions(with_episode("missing", "2025-04-30"), date(2025, 7, 1))["missing-children-12m"] == ONE


# -- folding: the new fields survive the horizon and the codec ----------------------------------------------
def test_new_fields_survive_pruning_and_the_codec() -> None:
    dob = date(2004, 1, 1)
    events = [
        ev(
            "care.started",
            "2018-02-01",
            date_of_birth=dob.isoformat(),
            sex="M",
            legal_status="V3",
            uasc=True,
            uasc_ceased_on="2019-01-01",
            period_began_before_data=True,
            new_episode_reason="L",
        ),
        ev("legal_status.changed", "2018-03-01", legal_status="C2"),
        ev("placement.started", "2018-03-01", placement_type="U4", same_carer=True),
        ev("missing.started", "2018-04-01", episode_id="m1", kind="away"),
        ev("care.ended", "2020-06-01", reason="E8"),
        ev("care_leaver.contact", "2023-03-01", in_touch=False, in_touch_code="NO"),
        ev("care_leaver.contact", "2026-03-01", in_touch=True, in_touch_code="YES"),
    ]
    state: ChildState | None = None
    for event in parsed(events):
        state, _ = apply(state, event, DEFAULT_HORIZON)
    assert state is not None and state.pruned_to is not None
    periods = (*(state.base.periods if state.base else ()), *state.periods)
    period = periods[-1]
    assert (period.began_before_data, period.uasc_ceased_on, period.full_care_from) == (
        True,
        date(2019, 1, 1),
        date(2018, 3, 1),
    )
    assert codec.loads(codec.dumps(state)) == state
    assert [c.in_touch_code for c in state.care_leaver_contacts][-1] == "YES"
    # The care-leaver test still sees the period (after 14, on a full order) after pruning.
    assert fires("care-leaver-not-in-touch", events[:-1], date(2023, 6, 1))


def test_initial_clocks_of_a_period_begun_before_the_data_are_not_known() -> None:
    # Data from Monday 6 Jan 2025; 20 working days later is Monday 3 Feb.
    before, fresh = _before_data(True), _before_data(False)
    for rule in ("iha-overdue", "pep-overdue", "review-overdue"):
        assert fires(rule, fresh, date(2025, 2, 4)), rule
        assert not fires(rule, before, date(2025, 2, 4)), rule
    # Reviews: the next one is due 6 months after the data's first day at the latest (6 Jul 2025).
    assert not fires("review-overdue", before, date(2025, 7, 6))
    assert fires("review-overdue", before, date(2025, 7, 7))
    # PEP: the data's first day (spring term 2025) counts as covered; the summer term needs a PEP.
    assert not fires("pep-overdue", before, date(2025, 7, 20))
    assert fires("pep-overdue", before, date(2025, 7, 21))
    # The board: the period is not a start in the 12 months, and has no IHA deadline of its own.
    assert "entered-care-12m" not in contributions(fold(before), date(2025, 3, 1))
    assert contributions(fold(fresh), date(2025, 3, 1))["entered-care-12m"] == ONE
    assert "iha-within-20wd" not in contributions(fold(before), date(2025, 3, 1))
    assert contributions(fold(fresh), date(2025, 3, 1))["iha-within-20wd"] == IN_COHORT
