"""The pure alert lifecycle: ordering, repeats, new occurrences, human actions, escalation, wording."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.alerts import AlertTransition, fingerprint
from services.alerts.lifecycle import (
    CLOSE_REASONS,
    EscalationPolicy,
    LifecycleError,
    Occurrence,
    apply_transition,
    check_acknowledge,
    check_close,
    transition_key,
)
from services.alerts.wording import describe_deadline, long_date, rule_title

FP = fingerprint("pep-overdue", "C1", "")
DAY0 = date(2025, 1, 6)


def tr(state: str, at: date) -> AlertTransition:
    return AlertTransition(
        fingerprint=FP,
        rule="pep-overdue",
        child_id="C1",
        state=state,  # type: ignore[arg-type]
        at=at,
        severity="medium",
        summary=f"{state} on {at}",
    )


def fold(occurrences: list[Occurrence], transitions: list[AlertTransition]) -> list[str]:
    """Apply like the store does: to the newest occurrence, appending when one is opened."""
    actions = []
    for t in transitions:
        outcome = apply_transition(occurrences[-1] if occurrences else None, t)
        actions.append(outcome.action)
        if outcome.occurrence is None:
            continue
        if outcome.action == "opened":
            occurrences.append(outcome.occurrence)
        else:
            occurrences[-1] = outcome.occurrence
    return actions


def test_raise_then_resolve_then_raise_opens_a_second_occurrence() -> None:
    occ: list[Occurrence] = []
    actions = fold(occ, [tr("raised", DAY0), tr("resolved", DAY0 + timedelta(3)), tr("raised", DAY0 + timedelta(9))])
    assert actions == ["opened", "resolved", "opened"]
    assert [(o.number, o.state) for o in occ] == [(1, "resolved"), (2, "raised")]
    assert occ[0].resolved_at == DAY0 + timedelta(3)


def test_repeat_changes_nothing() -> None:
    occ: list[Occurrence] = []
    assert fold(occ, [tr("raised", DAY0), tr("raised", DAY0)]) == ["opened", "ignored"]
    assert len(occ) == 1


def test_resolved_before_its_raised_is_backfilled() -> None:
    occ: list[Occurrence] = []
    actions = fold(occ, [tr("resolved", DAY0 + timedelta(2)), tr("raised", DAY0)])
    assert actions == ["opened", "backfilled"]
    assert occ == [Occurrence(1, "resolved", "resolved", DAY0 + timedelta(2), "resolved", DAY0, DAY0 + timedelta(2))]


def test_same_day_resolved_wins_over_raised_whatever_the_order() -> None:
    a: list[Occurrence] = []
    b: list[Occurrence] = []
    fold(a, [tr("raised", DAY0), tr("resolved", DAY0)])
    fold(b, [tr("resolved", DAY0), tr("raised", DAY0)])
    assert a == b
    assert a[0].state == "resolved"


def test_resolve_after_acknowledge_and_close_keeps_the_human_state() -> None:
    acked = Occurrence(1, "acknowledged", "raised", DAY0, "raised", DAY0, None)
    out = apply_transition(acked, tr("resolved", DAY0 + timedelta(1)))
    assert out.occurrence is not None and out.occurrence.state == "resolved"
    closed = Occurrence(1, "closed", "raised", DAY0, "raised", DAY0, None)
    out = apply_transition(closed, tr("resolved", DAY0 + timedelta(1)))
    assert out.occurrence is not None
    assert (out.occurrence.state, out.occurrence.engine_state) == ("closed", "resolved")
    again = apply_transition(out.occurrence, tr("raised", DAY0 + timedelta(5)))
    assert again.action == "opened" and again.occurrence is not None and again.occurrence.number == 2


def test_raised_after_a_manager_closed_it_opens_a_new_occurrence() -> None:
    closed = Occurrence(1, "closed", "raised", DAY0, "raised", DAY0, None)
    assert apply_transition(closed, tr("raised", DAY0 + timedelta(1))).action == "opened"
    assert apply_transition(closed, tr("raised", DAY0)).action == "ignored"


def test_human_actions_are_checked() -> None:
    check_acknowledge("raised")
    for state in ("acknowledged", "resolved", "closed"):
        with pytest.raises(LifecycleError):
            check_acknowledge(state)
    for state in ("raised", "acknowledged"):
        check_close(state, "action-taken")
    with pytest.raises(LifecycleError, match="unknown close reason"):
        check_close("raised", "bored")
    with pytest.raises(LifecycleError):
        check_close("resolved", next(iter(CLOSE_REASONS)))


def test_escalation_counts_working_days_and_skips_bank_holidays() -> None:
    policy = EscalationPolicy({"high": 2, "medium": 5, "low": 10})
    friday = date(2025, 8, 22)  # Monday 25 August 2025 is the summer bank holiday in England
    assert policy.due_on(friday, "high") == date(2025, 8, 27)
    assert not policy.is_due("raised", friday, "high", date(2025, 8, 26))
    assert policy.is_due("raised", friday, "high", date(2025, 8, 27))
    assert not policy.is_due("acknowledged", friday, "high", date(2025, 9, 30))
    assert not policy.is_due("raised", None, "high", date(2025, 9, 30))


def test_wording() -> None:
    assert long_date(date(2025, 3, 3)) == "3 March 2025"
    assert rule_title("pep-overdue") == "PEP overdue"
    assert rule_title("placement-instability") == "Placement instability"
    text = describe_deadline("pep-overdue", {"deadline": "2025-03-03"}, date(2025, 3, 15))
    assert text == "PEP due by 3 March 2025 — 12 days overdue"
    assert describe_deadline("visit-overdue", {"due": date(2025, 3, 3)}, date(2025, 3, 2)) == (
        "Visit due by 3 March 2025 — 1 day left"
    )
    assert describe_deadline("sdq-concern", {"recorded": "2025-03-03"}, date(2025, 3, 2)) is None


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[AlertTransition], list[AlertTransition]]:
    """An in-order engine history (alternating, dates increasing) and a shuffled arrival with repeats."""
    gaps = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8))
    history = []
    day = DAY0
    state = "raised"
    for gap in gaps:
        day += timedelta(days=gap)
        history.append(tr(state, day))
        state = "resolved" if state == "raised" else "raised"
    repeated = history + draw(st.lists(st.sampled_from(history), max_size=6))
    arrival = draw(st.permutations(repeated))
    return history, list(arrival)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_arrival_order_ends_in_the_newest_state_and_is_idempotent(
    case: tuple[list[AlertTransition], list[AlertTransition]],
) -> None:
    history, arrival = case
    newest = max(history, key=transition_key)
    occ: list[Occurrence] = []
    fold(occ, arrival)
    assert occ[-1].last_key == transition_key(newest)
    assert occ[-1].engine_state == newest.state
    assert sum(o.is_open for o in occ) <= 1
    assert all(not o.is_open for o in occ[:-1])
    assert [o.number for o in occ] == list(range(1, len(occ) + 1))
    before = list(occ)
    assert set(fold(occ, arrival)) == {"ignored"}
    assert occ == before


@settings(max_examples=200, deadline=None)
@given(histories())
def test_in_order_arrival_gives_one_occurrence_per_raise(
    case: tuple[list[AlertTransition], list[AlertTransition]],
) -> None:
    history, _ = case
    occ: list[Occurrence] = []
    fold(occ, history)
    raises = [t for t in history if t.state == "raised"]
    distinct_raise_days = 1 + sum(
        1 for prev, t in itertools.pairwise(history) if t.state == "raised" and t.at > prev.at
    )
    # A raise on the same day as the resolve before it sorts before that resolve: it is a repeat.
    assert len(occ) == min(len(raises), distinct_raise_days)
