"""Live totals kept from the kernel's deltas equal a from-scratch recomputation, day by day, on synthetic
streams (late arrivals, daily or weekly ticks, two partitions)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carewatch.testing.synthetic import authority
from schemas.events import parse_event
from services.board.core.aggregate import Aggregate, Contribution, Delta, DeltaBatch, deltas
from services.board.core.indicators import contributions
from services.board.core.live import Tracker
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel
from services.rules.core.order import WakeIndex
from services.rules.core.state import ChildState

KERNEL = Kernel(RulesConfig.default())

FIRST = date(2021, 1, 1)
LAST = date(2024, 6, 30)


def test_aggregate_applies_old_out_new_in_and_merges() -> None:
    one = Aggregate()
    one.apply(Delta("a", "x", Contribution(), Contribution(1, 1)))
    one.apply(Delta("b", "x", Contribution(), Contribution(0, 1)))
    one.apply(Delta("a", "x", Contribution(1, 1), Contribution(0, 1)))
    assert one.get("x") == Contribution(0, 2)
    other = Aggregate()
    other.apply(Delta("c", "x", Contribution(), Contribution(1, 1)))
    other.apply(Delta("c", "y", Contribution(), Contribution(1, 0)))
    merged = one.merge(other)
    assert merged.get("x") == Contribution(1, 3)
    assert merged.get("y") == Contribution(1, 0)
    assert one.get("y") == Contribution()  # merging leaves the parts alone


def test_deltas_only_for_changed_indicators() -> None:
    old = {"x": Contribution(1, 1), "y": Contribution(0, 1)}
    new = {"x": Contribution(1, 1), "z": Contribution(1, 0)}
    assert deltas("c", old, new) == [
        Delta("c", "y", Contribution(0, 1), Contribution()),
        Delta("c", "z", Contribution(), Contribution(1, 0)),
    ]


def test_delta_batch_round_trips_through_json() -> None:
    changes = [Delta("c-1", "cla-count", Contribution(), Contribution(1, 0))]
    batch = DeltaBatch.of(date(2025, 1, 1), changes)
    again = DeltaBatch.model_validate_json(batch.model_dump_json())
    assert again.to_deltas() == changes
    assert again.as_of == date(2025, 1, 1)


def _replay_and_compare(children: int, seed: int, lag_days: int, tick_every: int) -> int:
    """Feed a synthetic stream day by day (some events arriving ``lag_days`` late) with a tick every
    ``tick_every`` days, keeping two partition trackers; compare with from-scratch totals after each tick."""
    events = authority(children, seed, FIRST, LAST)
    arrivals: dict[date, list[dict[str, object]]] = {}
    for number, raw in enumerate(events):
        occurred = date.fromisoformat(str(raw["occurred_at"]))
        late = lag_days if number % 5 == 0 else 0
        arrivals.setdefault(occurred + timedelta(days=late), []).append(raw)
    states: dict[str, ChildState] = {}
    partitions = ((Tracker(), WakeIndex()), (Tracker(), WakeIndex()))

    def partition_of(child: str) -> tuple[Tracker, WakeIndex]:
        return partitions[hash(child) % 2]

    compared = 0
    day = FIRST
    while day <= LAST + timedelta(days=lag_days + 400):
        if (day - FIRST).days % tick_every == 0:
            for tracker, wakes in partitions:
                for child in wakes.pop_due(day):
                    step = KERNEL.on_tick(states[child], day)
                    states[child] = step.state
                    tracker.apply(step.deltas)
                    wakes.set(child, step.wake_at)
        for raw in arrivals.get(day, []):
            event = parse_event(raw, received_at=None)
            step = KERNEL.on_event(states.get(event.child_id), event, day)
            states[event.child_id] = step.state
            tracker, wakes = partition_of(event.child_id)
            tracker.apply(step.deltas)
            wakes.set(event.child_id, step.wake_at)
        if (day - FIRST).days % tick_every == 0:
            live = partitions[0][0].aggregate.merge(partitions[1][0].aggregate)
            scratch = Aggregate.of(contributions(state, day) for state in states.values())
            assert live.totals == scratch.totals, day
            compared += 1
        day += timedelta(days=1)
    return compared


def test_live_totals_equal_recomputation_on_a_synthetic_authority() -> None:
    assert _replay_and_compare(children=40, seed=7, lag_days=9, tick_every=1) > 1000


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    children=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=10_000),
    lag_days=st.integers(min_value=0, max_value=40),
    tick_every=st.sampled_from([1, 7]),
)
def test_live_totals_equal_recomputation_for_any_stream(
    children: int, seed: int, lag_days: int, tick_every: int
) -> None:
    assert _replay_and_compare(children, seed, lag_days, tick_every) > 0
