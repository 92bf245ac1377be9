"""placement-instability, social-worker-churn, rhi-overdue, missing-repeat, placement-distance,
under16-unregulated."""

from datetime import date

from services.rules.core.config import RulesConfig

from .factory import ev, fires, rules_on, started

DOB = date(2012, 5, 1)


def _moves(*dates: str, kind: str = "U6") -> list[dict[str, object]]:
    return [started(date(2025, 1, 6), DOB), *(ev("placement.started", d, placement_type=kind) for d in dates)]


def test_instability_warning_then_high_then_window_rolls() -> None:
    events = _moves("2025-01-06", "2025-03-01", "2025-06-01")
    assert "placement-instability" not in rules_on(events, date(2025, 2, 28))
    assert rules_on(events, date(2025, 3, 1))["placement-instability"] == "low"
    assert rules_on(events, date(2025, 6, 1))["placement-instability"] == "high"
    # window (as_of − 365, as_of]: on 6 Jan 2026 the 6 Jan 2025 start has left it, but that placement was
    # still in progress on the window's first day (7 Jan 2025) and counts (placements *during* the year);
    # from 28 Feb 2026 the window starts on 1 Mar 2025, the day the second placement began.
    assert rules_on(events, date(2026, 1, 6))["placement-instability"] == "high"
    assert rules_on(events, date(2026, 2, 27))["placement-instability"] == "high"
    assert rules_on(events, date(2026, 2, 28))["placement-instability"] == "low"


def test_instability_ignores_temporary_placements_and_the_return() -> None:
    events = [
        started(date(2025, 1, 6), DOB),
        ev("placement.started", "2025-01-06", placement_type="U4", provider="PR1"),
        ev("placement.started", "2025-03-01", placement_type="T1"),
        ev("placement.started", "2025-03-10", placement_type="U4", provider="PR1"),
    ]
    assert "placement-instability" not in rules_on(events, date(2025, 3, 10))
    counting = RulesConfig.from_mapping({"rules": {"placement-instability": {"count_temporary": True}}})
    assert rules_on(events, date(2025, 3, 10), counting)["placement-instability"] == "high"


def test_social_worker_churn() -> None:
    events = [
        started(date(2025, 1, 6), DOB),
        ev("social_worker.changed", "2025-01-06", worker_id="sw1"),
        ev("social_worker.changed", "2025-03-01", worker_id="sw2"),
        ev("social_worker.changed", "2025-06-01", worker_id="sw3"),
    ]
    assert not fires("social-worker-churn", events, date(2025, 5, 31))
    assert fires("social-worker-churn", events, date(2025, 6, 1))
    # 28 Feb 2026: window from 1 Mar 2025 → sw1 (allocated then), sw2, sw3 = 3.
    assert fires("social-worker-churn", events, date(2026, 2, 28))
    # 1 Mar 2026: window from 2 Mar 2025 → sw2 (allocated then), sw3 = 2.
    assert not fires("social-worker-churn", events, date(2026, 3, 1))


def test_the_same_worker_back_again_is_not_churn() -> None:
    events = [
        started(date(2025, 1, 6), DOB),
        ev("social_worker.changed", "2025-01-06", worker_id="sw1"),
        ev("social_worker.changed", "2025-03-01", worker_id="sw2"),
        ev("social_worker.changed", "2025-06-01", worker_id="sw1"),
    ]
    assert not fires("social-worker-churn", events, date(2025, 6, 1))


# returned 2 Mar 2025: 72 hours → an interview by 5 Mar is on time; overdue from 6 Mar.
def test_rhi_72_hours() -> None:
    events = [
        started(date(2025, 1, 6), DOB),
        ev("missing.started", "2025-03-01", episode_id="m1"),
        ev("missing.ended", "2025-03-02", episode_id="m1"),
    ]
    assert not fires("rhi-overdue", events, date(2025, 3, 5))
    assert fires("rhi-overdue", events, date(2025, 3, 6))
    on_time = [*events, ev("return_interview.completed", "2025-03-05", episode_id="m1")]
    assert not fires("rhi-overdue", on_time, date(2025, 3, 6))
    late = [*events, ev("return_interview.completed", "2025-03-10", episode_id="m1")]
    assert fires("rhi-overdue", late, date(2025, 3, 9))
    assert not fires("rhi-overdue", late, date(2025, 3, 10))


def test_missing_repeat_window() -> None:
    events = [started(date(2025, 1, 6), DOB)] + [
        ev("missing.started", day, episode_id=f"m{n}")
        for n, day in enumerate(["2025-03-01", "2025-03-20", "2025-04-10"])
    ]
    assert not fires("missing-repeat", events, date(2025, 4, 9))
    assert fires("missing-repeat", events, date(2025, 4, 10))
    # (as_of − 90 days, as_of]: on 29 May the 1 Mar start is inside, on 30 May it has left.
    assert fires("missing-repeat", events, date(2025, 5, 29))
    assert not fires("missing-repeat", events, date(2025, 5, 30))


def test_placement_distance() -> None:
    base = [started(date(2025, 1, 6), DOB)]
    assert not fires(
        "placement-distance",
        [*base, ev("placement.started", "2025-01-06", placement_type="U6", distance_miles=20)],
        date(2025, 1, 7),
    )
    assert fires(
        "placement-distance",
        [*base, ev("placement.started", "2025-01-06", placement_type="U6", distance_miles=20.5)],
        date(2025, 1, 7),
    )
    assert not fires(
        "placement-distance",
        [*base, ev("placement.started", "2025-01-06", placement_type="U6")],
        date(2025, 1, 7),
    )


# born 28 Feb 2011: 16 on 28 Feb 2027. Born 29 Feb 2012: 16 on 29 Feb 2028 (a leap year).
def test_under16_unregulated_until_sixteenth_birthday() -> None:
    events = [
        started(date(2025, 1, 6), date(2011, 2, 28)),
        ev("placement.started", "2025-01-06", placement_type="K3"),
    ]
    assert fires("under16-unregulated", events, date(2027, 2, 27))
    assert not fires("under16-unregulated", events, date(2027, 2, 28))
    leap = [
        started(date(2025, 1, 6), date(2012, 2, 29)),
        ev("placement.started", "2025-01-06", placement_type="Z1"),
    ]
    assert fires("under16-unregulated", leap, date(2028, 2, 28))
    assert not fires("under16-unregulated", leap, date(2028, 2, 29))
    regulated = [
        started(date(2025, 1, 6), date(2011, 2, 28)),
        ev("placement.started", "2025-01-06", placement_type="K2"),
    ]
    assert not fires("under16-unregulated", regulated, date(2025, 2, 1))
