"""Keeps the board's daily snapshots from the live indicator-delta stream (the adapter over DailyTotals).

On start it reads ``INDICATOR_DELTAS`` from the beginning and rebuilds the totals, so no offsets are stored:
the topic is the source of truth, and rewriting a day's snapshot with the same figures is harmless. (With a
retention-limited production Kafka, running totals would have to be stored with offsets instead.)

A day's totals, once complete, wait in :attr:`DeltaFeed.unsaved` until the database has taken them: a save
that fails (the database is down) is tried again at the next poll, so no day is lost to an outage. A record
that cannot be read goes to ``INDICATOR_DELTAS_DLQ`` (once: the dead letters already there are read at
start) with its partition and offset, and is counted.

Given an :class:`~services.board.authority_feed.AuthorityPublisher`, the feed also reads the watched series
each time it has stored a month's last day and publishes the authority alerts' transitions on the alerts
topic (see that module).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Engine

from carewatch import broker
from carewatch.dead_letters import DeadLetterSender
from schemas import topics
from schemas.dead_letters import DeadLetter, from_record
from services.board import store
from services.board.core.aggregate import Aggregate, DeltaBatch
from services.board.core.daily import DailyTotals

if TYPE_CHECKING:
    from services.alerts.consumer import ConsumerStats
    from services.board.authority_feed import AuthorityPublisher

log = logging.getLogger(__name__)
STAGE = "board"


class DeltaFeed:
    def __init__(
        self,
        bootstrap: str,
        engine: Engine,
        *,
        stats: ConsumerStats | None = None,
        authority: AuthorityPublisher | None = None,
    ) -> None:
        self._engine = engine
        self._stats = stats
        self.authority = authority
        self._consumer = broker.from_start(bootstrap, topics.INDICATOR_DELTAS)
        self._dead_letters = DeadLetterSender(bootstrap, client_id="carewatch-board-dlq")
        self._already_dead = _dead_lettered_offsets(bootstrap)
        self.daily = DailyTotals(partitions=len(self._consumer.assignment()))
        self.unsaved: dict[date, Aggregate] = {}
        self.batches_read = 0
        self.bad_records = 0
        self.dead_lettered = 0
        self.save_failures = 0

    def run_once(self, timeout_ms: int = 500) -> int:
        """Read what has arrived, store the days that became complete; returns the records read.

        The days reported complete are kept in :attr:`unsaved` until a save succeeds; a failed save raises
        after the records read are applied, and the next call tries again."""
        polled = self._consumer.poll(timeout_ms=timeout_ms)
        read = 0
        dead: list[DeadLetter] = []
        for partition, records in polled.items():
            for record in records:
                read += 1
                try:
                    batch = DeltaBatch.model_validate_json(record.value)
                except ValidationError as exc:
                    self.bad_records += 1
                    paths = sorted({".".join(str(p) for p in e["loc"]) or "<record>" for e in exc.errors()})
                    log.warning(
                        "bad indicator-delta record at partition %d offset %d: sent to %s",
                        partition.partition,
                        record.offset,
                        topics.INDICATOR_DELTAS_DLQ,
                    )
                    if (record.partition, record.offset) not in self._already_dead:
                        dead.append(_letter(record, "not an indicator-delta batch; invalid: " + ", ".join(paths)))
                    continue
                self.daily.add(partition.partition, batch)
        if dead:
            # Before anything else can fail: the records are behind the read position from here on.
            self._dead_letters.send_all(topics.INDICATOR_DELTAS_DLQ, dead)
            self._already_dead.update((letter.source_partition or 0, letter.source_offset or 0) for letter in dead)
            self.dead_lettered += len(dead)
            if self._stats is not None:
                self._stats.board_dead_lettered += len(dead)
        self.batches_read += read
        self.unsaved.update(self.daily.complete_days())
        if self.unsaved:
            try:
                store.save(self._engine, self.unsaved)
            except Exception:
                self.save_failures += 1
                raise
            if self.authority is not None:
                self.authority.days_stored(self.unsaved)
            self.unsaved.clear()
        if self.authority is not None:
            self.authority.publish_due()  # after the save: a failure here loses no day
            if self._stats is not None:
                self._stats.authority_published = self.authority.sent
                self._stats.authority_read_through = self.authority.evaluated_through
        return read

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                # The class only: a database error's text carries the statement's parameters.
                log.error(
                    "board feed: %s (%d days waiting to be saved); retrying", type(exc).__name__, len(self.unsaved)
                )
                stop.wait(2.0)

    def close(self) -> None:
        self._consumer.close()
        self._dead_letters.close()
        if self.authority is not None:
            self.authority.close()


def _letter(record: Any, message: str) -> DeadLetter:
    return from_record(
        stage=STAGE,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        reason="decode",
        message=message,
        received_at=datetime.now(UTC),
    )


def _dead_lettered_offsets(bootstrap: str) -> set[tuple[int, int]]:
    """(partition, offset) of the indicator-delta records already on the dead-letter topic."""
    from carewatch.broker import read_to_end

    try:
        records = read_to_end(bootstrap, topics.INDICATOR_DELTAS_DLQ, timeout_s=30)
    except RuntimeError:  # the topic does not exist (yet): nothing was dead-lettered
        return set()
    seen: set[tuple[int, int]] = set()
    for record in records:
        try:
            letter = DeadLetter.model_validate_json(record.value)
        except ValidationError:
            continue
        if letter.source_partition is not None and letter.source_offset is not None:
            seen.add((letter.source_partition, letter.source_offset))
    return seen
