"""Daily totals from interleaved partitions: a day is final only when every partition has reached it."""

from __future__ import annotations

from datetime import date

from services.board.core.aggregate import Contribution, Delta, DeltaBatch
from services.board.core.daily import DailyTotals

NONE = Contribution(0, 0)
IN = Contribution(1, 1)
DENOMINATOR_ONLY = Contribution(0, 1)


def batch(day: int, *changes: Delta) -> DeltaBatch:
    return DeltaBatch.of(date(2025, 1, day), changes)


def test_a_day_waits_for_the_slowest_partition() -> None:
    daily = DailyTotals(partitions=2)
    daily.add(0, batch(1, Delta("a", "cla-count", NONE, IN)))
    assert daily.complete_days() == {}  # partition 1 has said nothing yet
    daily.add(0, batch(2, Delta("b", "cla-count", NONE, IN)))
    daily.add(1, batch(1))
    report = daily.complete_days()
    assert list(report) == [date(2025, 1, 1)]
    assert report[date(2025, 1, 1)].get("cla-count") == Contribution(1, 1)
    daily.add(1, batch(3, Delta("c", "cla-count", NONE, IN)))
    report = daily.complete_days()
    assert list(report) == [date(2025, 1, 2)]
    assert report[date(2025, 1, 2)].get("cla-count") == Contribution(2, 2)


def test_a_late_change_corrects_the_day_already_reported() -> None:
    daily = DailyTotals(partitions=1)
    daily.add(0, batch(5, Delta("a", "sdq-concern", NONE, DENOMINATOR_ONLY)))
    assert daily.complete_days()[date(2025, 1, 5)].get("sdq-concern") == Contribution(0, 1)
    daily.add(0, batch(4, Delta("a", "sdq-concern", DENOMINATOR_ONLY, IN)))  # dated before the clock
    report = daily.complete_days()
    assert report == {date(2025, 1, 5): report[date(2025, 1, 5)]}
    assert report[date(2025, 1, 5)].get("sdq-concern") == Contribution(1, 1)


def test_days_without_changes_repeat_the_previous_totals() -> None:
    daily = DailyTotals(partitions=1)
    daily.add(0, batch(1, Delta("a", "cla-count", NONE, IN)))
    daily.add(0, batch(3))
    report = daily.complete_days()
    assert [day.day for day in report] == [1, 2, 3]
    assert {day.day: totals.get("cla-count") for day, totals in report.items()} == dict.fromkeys([1, 2, 3], IN)


def test_a_delta_published_twice_counts_once() -> None:
    daily = DailyTotals(partitions=1)
    change = Delta("a", "cla-count", NONE, IN)
    daily.add(0, batch(1, change))
    daily.add(0, batch(1, change))  # re-sent after a crash of the rules worker
    daily.add(0, batch(2, Delta("a", "cla-count", IN, NONE)))
    daily.add(0, batch(2, Delta("a", "cla-count", IN, NONE)))
    report = daily.complete_days()
    assert report[date(2025, 1, 1)].get("cla-count") == IN
    assert report[date(2025, 1, 2)].get("cla-count") == NONE
    assert daily.repeats_skipped == 2
