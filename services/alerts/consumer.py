"""Reads alert transitions from the alerts topic into SQL, one DB transaction per polled batch.

Offsets are committed to Kafka only after the DB commit. A crash before the DB commit re-delivers the batch
(nothing lost); a crash between the two re-delivers a batch already written, which the lifecycle ignores as
repeats (nothing duplicated).

A record that cannot be decoded or stored (a poison record) goes to ``ALERTS_DLQ`` with the reason and its
partition and offset, is counted, and the consumer goes on: when a batch fails for any reason but an
unavailable database, its transitions are applied one per transaction and only those that fail on their own
are dead-lettered. A database outage (connection errors) is retried from the last committed offsets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from carewatch import broker
from carewatch.broker import KafkaError
from carewatch.db import session_factory
from carewatch.dead_letters import DeadLetterSender
from schemas.alerts import TRANSITION_ADAPTER, AlertTransition
from schemas.dead_letters import DeadLetter, from_record
from schemas.topics import ALERTS, ALERTS_DLQ
from services.alerts.store import ApplyStats, apply_transitions

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
"""The database is unavailable: retry, never dead-letter."""

log = logging.getLogger(__name__)
LAG_INTERVAL_SECONDS = 5.0
"""How often the consumer lag is measured (seconds)."""


@dataclass
class ConsumerStats:
    """Running totals since start (read by the metrics collector)."""

    consumed: int = 0
    bad: int = 0
    dead_lettered: int = 0
    board_dead_lettered: int = 0
    """Indicator-delta records the board feed (same process) sent to its dead-letter topic."""
    authority_published: int = 0
    """Authority alert transitions the board feed (same process) published on the alerts topic."""
    authority_read_through: date | None = None
    """The last month end the board feed read its watched series at (authority alerts)."""
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
        self._dead_letters = DeadLetterSender(bootstrap, client_id="carewatch-alerts-dlq")
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
        decoded: list[tuple[Any, AlertTransition]] = []
        dead: list[DeadLetter] = []
        for record in records:
            try:
                decoded.append((record, TRANSITION_ADAPTER.validate_json(record.value or b"")))
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
                dead.append(self._letter(record, "decode", "not an alert transition; invalid: " + ", ".join(paths)))
        if decoded:
            try:
                with self._sessions.begin() as session:
                    applied = apply_transitions(session, [t for _, t in decoded], datetime.now(UTC))
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                log.warning(
                    "alert batch of %d could not be stored (%s); storing its transitions one by one",
                    len(decoded),
                    type(exc).__name__,
                )
                applied = self._apply_one_by_one(decoded, dead)
            for action, n in applied.actions.items():
                self.stats.actions[action] = self.stats.actions.get(action, 0) + n
        if dead:
            self._dead_letters.send_all(ALERTS_DLQ, dead)  # acknowledged before the offsets move past them
            self.stats.dead_lettered += len(dead)
        if self._after_db_commit is not None:
            self._after_db_commit()
        self._consumer.commit()
        self.stats.consumed += len(decoded)
        self.stats.batches += 1
        return len(records)

    def _apply_one_by_one(self, decoded: list[tuple[Any, AlertTransition]], dead: list[DeadLetter]) -> ApplyStats:
        """Each transition in its own transaction; one that fails on its own (not an outage) is dead-lettered."""
        total = ApplyStats()
        for record, transition in decoded:
            try:
                with self._sessions.begin() as session:
                    applied = apply_transitions(session, [transition], datetime.now(UTC))
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                # The class only: a database error's text carries the statement's parameters (child ids).
                log.error(
                    "alert transition at %s[%d]@%d cannot be stored (%s): sent to %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(exc).__name__,
                    ALERTS_DLQ,
                )
                dead.append(self._letter(record, "store", f"the database refused it: {type(exc).__name__}"))
                continue
            for action, n in applied.actions.items():
                total.actions[action] = total.actions.get(action, 0) + n
        return total

    @staticmethod
    def _letter(record: Any, reason: str, message: str) -> DeadLetter:
        return from_record(
            stage="alerts",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            reason=reason,
            message=message,
            received_at=datetime.now(UTC),
        )

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
            except Exception as exc:
                # A DB outage must not kill the service: the batch was not committed and will be re-read.
                # The class only: a database error's text carries the statement's parameters (child ids).
                log.error("alert batch failed (%s); retrying from the last committed offsets", type(exc).__name__)
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
        self._dead_letters.close()
