"""The bounded state: its size does not grow with the length of a history, dropping old facts changes no
output, late events within the log re-fold exactly, and deep corrections are applied and flagged."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from schemas.events import parse_event
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.core.fold import Change, apply
from services.rules.core.horizon import DEFAULT_HORIZON, Horizon, needs_rebuild
from services.rules.core.state import ChildState
from services.rules.replay import replay, transitions_ndjson

from .busy import START, busy_child

UNBOUNDED = Horizon(log_days=100_000, near_months=5_000, far_months=5_000)
CONFIG = RulesConfig.default()


def folded(events: list[dict[str, Any]], horizon: Horizon = DEFAULT_HORIZON) -> ChildState:
    state: ChildState | None = None
    for raw in events:
        state, _ = apply(state, parse_event(raw, received_at=None), horizon)
    assert state is not None
    return state


def test_the_encoded_state_does_not_grow_with_the_length_of_the_history() -> None:
    sizes = {years: len(codec.dumps(folded(busy_child(years=years, interviewed=1.0)))) for years in (1, 5, 10)}
    unbounded = len(codec.dumps(folded(busy_child(years=10, interviewed=1.0), UNBOUNDED)))
    # Five and ten years of the same activity keep the same horizon of facts: the same size.
    assert abs(sizes[10] - sizes[5]) <= 0.05 * sizes[5], sizes
    assert sizes[10] < unbounded / 5, (sizes, unbounded)
    state = folded(busy_child(years=10))
    assert len(state.events) < 60  # about 120 days of events, of 939
    assert state.log_from is not None and state.pruned_to is not None and state.base is not None


def test_what_grows_with_the_history_is_only_the_alerts_that_stay_open() -> None:
    # A missing episode without a return interview is an alert for good (rhi-overdue): it is kept.
    five, ten = folded(busy_child(years=5)), folded(busy_child(years=10))
    open_five = [e for e in five.missing_episodes if not e.return_interviews]
    open_ten = [e for e in ten.missing_episodes if not e.return_interviews]
    assert len(open_ten) > len(open_five) > 0
    closed_ten = [e for e in ten.missing_episodes if e.return_interviews]
    closed_five = [e for e in five.missing_episodes if e.return_interviews]
    assert abs(len(closed_ten) - len(closed_five)) <= 2


def test_dropping_old_facts_changes_no_output_of_a_ten_year_replay() -> None:
    events = [parse_event(raw, received_at=None) for raw in busy_child(years=10)]
    until = START + timedelta(days=3700)
    bounded = replay(events, until, CONFIG)
    everything = replay(events, until, CONFIG, horizon=UNBOUNDED)
    assert transitions_ndjson(bounded.transitions) == transitions_ndjson(everything.transitions)
    assert bounded.totals == everything.totals
    # > 30: a placement every 150 days is 3+ placements during every year (the one in progress counts), so
    # placement-instability stays raised instead of going up and down with each start.
    assert len(bounded.transitions) > 30
    # The review rule numbers reviews over the whole period: the count survives the pruning.
    late_review = [t for t in bounded.transitions if t.rule == "review-overdue" and t.state == "raised"]
    assert any("number 1" in t.summary for t in late_review), [t.summary for t in late_review]
    state, full = bounded.states["busy-1"], everything.states["busy-1"]
    assert len(state.visits) < len(full.visits) / 2  # the facts were pruned indeed
    # The alerts' last resolution dates go with the facts read over 30 months.
    assert state.pruned_to is not None
    far = DEFAULT_HORIZON.cutoffs(state.pruned_to).far
    assert state.resolved and all(on >= far for _, _, on in state.resolved)
    assert any(on < far for _, _, on in full.resolved)
    assert set(state.resolved) == {entry for entry in full.resolved if entry[2] >= far}


@pytest.mark.parametrize("late_days", [1, 30, 100])
def test_an_event_arriving_late_within_the_log_gives_the_in_order_state(late_days: int) -> None:
    events = busy_child(years=3)
    moved = next(i for i, e in enumerate(events) if e["type"] == "placement.started" and e["occurred_at"] > "2016-06")
    arrival = list(events)
    late = arrival.pop(moved)
    cutoff = (date.fromisoformat(late["occurred_at"]) + timedelta(days=late_days)).isoformat()
    position = next(i for i, e in enumerate(arrival) if e["occurred_at"] > cutoff)
    arrival.insert(position, late)
    in_order, shuffled = folded(events), folded(arrival)
    assert codec.encode(shuffled) == codec.encode(in_order)
    assert not needs_rebuild(shuffled)


def test_an_event_older_than_the_log_is_applied_and_flagged_for_a_rebuild() -> None:
    events = busy_child(years=3)
    state = folded(events)
    assert state.log_from is not None
    old_day = state.log_from - timedelta(days=200)
    late = {
        "event_id": "late-health",
        "type": "health_assessment.completed",
        "child_id": "busy-1",
        "occurred_at": old_day.isoformat(),
        "kind": "review",
    }
    after, change = apply(state, parse_event(late, received_at=None))
    assert change is Change.DEEP
    assert needs_rebuild(after) and not needs_rebuild(state)
    assert any(a.event_id == "late-health" and "archive" in a.reason for a in after.anomalies)
    days = [check.on for check in after.health_assessments]
    assert old_day in days and days == sorted(days)  # in date order, as the rules expect
    again, change = apply(after, parse_event(late, received_at=None))
    assert change is Change.DUPLICATE and again is after  # its id is remembered while a fact cites it


def test_a_redelivered_event_that_left_the_log_is_still_a_duplicate_while_cited() -> None:
    events = busy_child(years=3)
    state = folded(events)
    cited = next(e for e in events if e["type"] == "placement.started" and "2015-06" < e["occurred_at"] < "2016-01")
    assert cited["event_id"] not in state.processed_ids
    after, change = apply(state, parse_event(cited, received_at=None))
    assert change is Change.DUPLICATE and after is state


def test_retracting_an_event_that_left_the_log_removes_its_fact_and_flags_the_child() -> None:
    events = busy_child(years=3)
    state = folded(events)
    target = next(e for e in reversed(events) if e["type"] == "sdq.recorded" and e["occurred_at"] < "2016-06")
    assert any(score.event_id == target["event_id"] for score in state.sdq_scores)
    retraction = {
        "event_id": "retract-1",
        "type": "event.retracted",
        "child_id": "busy-1",
        "occurred_at": events[-1]["occurred_at"],
        "retracted_event_id": target["event_id"],
    }
    after, _ = apply(state, parse_event(retraction, received_at=None))
    assert all(score.event_id != target["event_id"] for score in after.sdq_scores)
    assert needs_rebuild(after)


def test_the_horizons_must_cover_what_the_indicators_read() -> None:
    with pytest.raises(ValueError, match="13 and 31 months"):
        Horizon(near_months=6)
    with pytest.raises(ValueError, match="13 and 31 months"):
        Horizon(far_months=24)
