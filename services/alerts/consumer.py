"""Reads alert transitions from the alerts topic into SQL, one DB transaction per polled batch.

Offsets are committed to Kafka only after the DB commit. A crash before the DB commit re-delivers the batch
(nothing lost); a crash between the two re-delivers a batch already written, which the lifecycle ignores as
repeats (nothing duplicated).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import Engine

from carewatch import broker
from carewatch.broker import KafkaError
from carewatch.db import session_factory
from schemas.alerts import TRANSITION_ADAPTER, AlertTransition
from schemas.topics import ALERTS
from services.alerts.store import apply_transitions

log = logging.getLogger(__name__)
LAG_INTERVAL_SECONDS = 5.0
"""How often the consumer lag is measured (seconds)."""


@dataclass
class ConsumerStats:
    """Running totals since start (read by the metrics collector)."""

    consumed: int = 0
    bad: int = 0
    batches: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    lag: dict[int, int] = field(default_factory=dict)
    """Records not yet read, by partition of the alerts topic (as of the last poll)."""


class AlertConsumer:
    def __init__(
        self,
        bootstrap: str,
        engine: Engine,
        group_id: str,
        batch_size: int = 500,
        stats: ConsumerStats | None = None,
        after_db_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = session_factory(engine)
        self._batch_size = batch_size
        self.stats = stats if stats is not None else ConsumerStats()
        self._lag_measured = float("-inf")
        # A hook between the DB commit and the offset commit, so tests can crash exactly there.
        self._after_db_commit = after_db_commit
        self._consumer = broker.consumer(
            bootstrap, ALERTS, group_id=group_id, auto_offset_reset="earliest", max_poll_records=batch_size
        )

    def run_once(self, timeout_ms: int = 1000) -> int:
        """Poll one batch, write it, commit offsets; returns the number of records read."""
        polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=self._batch_size)
        self._measure_lag()
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return 0
        transitions: list[AlertTransition] = []
        for record in records:
            try:
                transitions.append(TRANSITION_ADAPTER.validate_json(record.value or b""))
            except ValidationError as exc:
                # Field paths only: the input values could include a child id.
                paths = sorted({".".join(str(p) for p in error["loc"]) or "<record>" for error in exc.errors()})
                log.error(
                    "undecodable alert transition at %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    ", ".join(paths),
                )
                self.stats.bad += 1
        if transitions:
            with self._sessions.begin() as session:
                applied = apply_transitions(session, transitions, datetime.now(UTC))
            for action, n in applied.actions.items():
                self.stats.actions[action] = self.stats.actions.get(action, 0) + n
        if self._after_db_commit is not None:
            self._after_db_commit()
        self._consumer.commit()
        self.stats.consumed += len(transitions)
        self.stats.batches += 1
        return len(records)

    def _measure_lag(self) -> None:
        """Per assigned partition: its end as last fetched minus the next offset to read (unknown: left out).

        At most every few seconds: a position can need a round trip to the group coordinator."""
        now = time.monotonic()
        if now - self._lag_measured < LAG_INTERVAL_SECONDS:
            return
        self._lag_measured = now
        lag: dict[int, int] = {}
        for partition in self._consumer.assignment():
            highwater = self._consumer.highwater(partition)
            if highwater is None:
                continue
            try:
                position = self._consumer.position(partition, timeout_ms=1000)
            except KafkaError:
                continue
            if position is not None:
                lag[partition.partition] = max(highwater - position, 0)
        self.stats.lag = lag

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                # A DB outage must not kill the service: the batch was not committed and will be re-read.
                log.exception("alert batch failed; retrying from the last committed offsets")
                self._rewind()
                stop.wait(5.0)

    def _rewind(self) -> None:
        for partition in self._consumer.assignment():
            committed = self._consumer.committed(partition)
            if committed is None:
                self._consumer.seek_to_beginning(partition)
            else:
                self._consumer.seek(partition, committed)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
