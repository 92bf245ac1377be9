"""Keeps the board's daily snapshots from the live indicator-delta stream (the adapter over DailyTotals).

On start it reads ``INDICATOR_DELTAS`` from the beginning and rebuilds the totals, so no offsets are stored:
the topic is the source of truth, and rewriting a day's snapshot with the same figures is harmless. (With a
retention-limited production Kafka, running totals would have to be stored with offsets instead.)
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError
from sqlalchemy import Engine

from carewatch import broker
from schemas import topics
from services.board import store
from services.board.core.aggregate import DeltaBatch
from services.board.core.daily import DailyTotals

log = logging.getLogger(__name__)


class DeltaFeed:
    def __init__(self, bootstrap: str, engine: Engine) -> None:
        self._engine = engine
        self._consumer = broker.from_start(bootstrap, topics.INDICATOR_DELTAS)
        self.daily = DailyTotals(partitions=len(self._consumer.assignment()))
        self.batches_read = 0
        self.bad_records = 0

    def run_once(self, timeout_ms: int = 500) -> int:
        """Read what has arrived, store the days that became complete; returns the records read."""
        polled = self._consumer.poll(timeout_ms=timeout_ms)
        read = 0
        for partition, records in polled.items():
            for record in records:
                read += 1
                try:
                    batch = DeltaBatch.model_validate_json(record.value)
                except ValidationError:
                    self.bad_records += 1
                    log.warning("skipped a bad indicator-delta record at partition %d", partition.partition)
                    continue
                self.daily.add(partition.partition, batch)
        self.batches_read += read
        days = self.daily.complete_days()
        if days:
            store.save(self._engine, days)
        return read

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("board feed failed; retrying")
                stop.wait(2.0)

    def close(self) -> None:
        self._consumer.close()
