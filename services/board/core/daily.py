"""Daily totals from the indicator-delta stream, final only when every partition has reached the day.

Each rules partition publishes :class:`~services.board.core.aggregate.DeltaBatch` records in its own order, one
batch (possibly empty) per clock tick at least. Partitions run at their own pace, so the totals of day D are
known only when every partition has published something dated D or later. :class:`DailyTotals` buffers each
partition's deltas by day and, as the slowest partition advances, applies the days it has passed and reports
their totals for the snapshot store. A batch dated before its partition's clock (the effect of a late event)
counts on the partition's clock date; if that day was already reported it is reported again, corrected.

Delivery is at least once: after a crash the rules worker may publish the same delta again. A delta whose ``old``
contribution is not the child's last known one is such a repeat and is skipped, so totals never count it twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.board.core.aggregate import NOTHING, Aggregate, Contribution, Delta, DeltaBatch


@dataclass
class DailyTotals:
    """Totals over ``partitions`` partitions; feed each partition's batches in that partition's order."""

    partitions: int
    totals: Aggregate = field(default_factory=Aggregate)
    clocks: dict[int, date] = field(default_factory=dict)
    pending: defaultdict[date, list[Delta]] = field(default_factory=lambda: defaultdict(list))
    reported_through: date | None = None
    corrected: bool = False
    last: dict[tuple[str, str], Contribution] = field(default_factory=dict)
    repeats_skipped: int = 0

    def add(self, partition: int, batch: DeltaBatch) -> None:
        day = max(batch.as_of, self.clocks.get(partition, batch.as_of))
        self.clocks[partition] = day
        fresh = [delta for delta in batch.to_deltas() if self._first_time(delta)]
        if self.reported_through is not None and day <= self.reported_through:
            self.totals.apply_all(fresh)
            self.corrected = True
        else:
            self.pending[day].extend(fresh)

    def _first_time(self, delta: Delta) -> bool:
        key = (delta.child, delta.indicator)
        if self.last.get(key, NOTHING) != delta.old:
            self.repeats_skipped += 1
            return False
        self.last[key] = delta.new
        return True

    def complete_days(self) -> dict[date, Aggregate]:
        """Totals of each day all partitions have reached, not reported yet (or corrected since)."""
        report: dict[date, Aggregate] = {}
        if self.corrected and self.reported_through is not None:
            report[self.reported_through] = self.totals.merge(Aggregate())
            self.corrected = False
        if len(self.clocks) < self.partitions or not (self.pending or self.reported_through):
            return report
        slowest = min(self.clocks.values())
        day = self.reported_through + timedelta(days=1) if self.reported_through else min(self.pending)
        while day <= slowest:
            self.totals.apply_all(self.pending.pop(day, []))
            report[day] = self.totals.merge(Aggregate())
            self.reported_through = day
            day += timedelta(days=1)
        return report
