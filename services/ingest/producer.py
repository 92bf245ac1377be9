"""A thin kafka-python producer for ingest: a send is complete only once the broker acknowledged it.

No idempotent or transactional producer (Tansu rejects both): delivery is at-least-once, and a resend is
made safe by the rules engine ignoring an ``event_id`` it has already applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from carewatch import broker
from carewatch.broker import KafkaError
from schemas import topics
from schemas.events import CaseEvent
from services.ingest.records import Origin, Record, dead_letter_record, event_record
from services.ingest.validation import Accepted, Outcome, Rejected

log = logging.getLogger(__name__)

INGEST_TOPICS: Final = (topics.CASE_EVENTS, topics.CASE_EVENTS_DLQ)


class PublishError(RuntimeError):
    """The broker did not acknowledge every record: the caller must treat the whole batch as not written."""


class ArchiveError(PublishError):
    """The event archive did not take the batch: nothing was published, the batch is not acknowledged."""


Archiver = Callable[[Sequence[CaseEvent], datetime, Sequence[bytes]], object]
"""Appends accepted events, with their receive time and their JSON (as written to the topic), to the
durable archive; raises when it cannot."""


class IngestProducer:
    """Writes validated events to ``CASE_EVENTS`` and dead letters to ``CASE_EVENTS_DLQ``.

    Thread-safe (kafka-python's producer is): one instance serves every HTTP worker thread.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: int = 5,
        ack_timeout_s: float = 30.0,
        client_id: str = "carewatch-ingest",
    ) -> None:
        self.bootstrap = bootstrap
        self.ack_timeout_s = ack_timeout_s
        timeout_ms = int(ack_timeout_s * 1000)
        self._producer = broker.producer(
            bootstrap,
            client_id=client_id,
            linger_ms=linger_ms,
            max_block_ms=timeout_ms,
            request_timeout_ms=min(timeout_ms // 2, 15_000),  # leaves time for a retry within the deadline
            delivery_timeout_ms=timeout_ms,
        )

    def publish(self, events: Iterable[Record], dead_letters: Iterable[Record] = ()) -> int:
        """Send every record and wait until all are acknowledged; returns how many were written.

        Raises :class:`PublishError` when any record failed or the acknowledgements did not arrive in time
        (some records may then have been written: resending the batch is the remedy).
        """
        deadline = time.monotonic() + self.ack_timeout_s
        try:
            futures: list[Any] = [
                self._producer.send(topics.CASE_EVENTS, key=key, value=value) for key, value in events
            ]
            futures += [
                self._producer.send(topics.CASE_EVENTS_DLQ, key=key, value=value) for key, value in dead_letters
            ]
            for future in futures:
                future.get(timeout=max(deadline - time.monotonic(), 0.0))
        except KafkaError as exc:
            raise PublishError(f"broker at {self.bootstrap} did not acknowledge the batch: {exc}") from exc
        return len(futures)

    def publish_raw(self, topic: str, records: Iterable[Record]) -> int:
        """Send records to any carewatch topic and wait for every acknowledgement (dead-letter replay)."""
        return len(self.publish_located(topic, records))

    def publish_located(self, topic: str, records: Iterable[Record]) -> list[tuple[int, int]]:
        """As :meth:`publish_raw`; returns where each record was written: (partition, offset), in order."""
        deadline = time.monotonic() + self.ack_timeout_s
        try:
            futures: list[Any] = [self._producer.send(topic, key=key, value=value) for key, value in records]
            written = [future.get(timeout=max(deadline - time.monotonic(), 0.0)) for future in futures]
        except KafkaError as exc:
            raise PublishError(f"broker at {self.bootstrap} did not acknowledge the records: {exc}") from exc
        return [(int(meta.partition), int(meta.offset)) for meta in written]

    def reachable(self, timeout_s: float = 3.0) -> tuple[bool, str]:
        """A real round trip: the broker must accept a connection and list the ingest topics."""
        return broker.check_topics(self.bootstrap, INGEST_TOPICS, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)


def write_outcomes(
    producer: IngestProducer,
    outcomes: Sequence[tuple[Outcome, Origin]],
    *,
    received_at: datetime,
    archive: Archiver | None = None,
) -> None:
    """Write a validated batch: accepted events to the archive (first, when there is one) and the topic,
    rejections to the DLQ, all acknowledged. Raises :class:`PublishError` (or :class:`ArchiveError`)."""
    accepted = [outcome.event for outcome, _ in outcomes if isinstance(outcome, Accepted)]
    events = [event_record(event) for event in accepted]
    if archive is not None and accepted:
        try:
            archive(accepted, received_at, [value for _, value in events])
        except Exception as exc:
            # The error's text can carry the statement's parameters (child ids): name its class only.
            raise ArchiveError(f"the event archive did not store the batch ({type(exc).__name__})") from exc
    dead_letters = [
        dead_letter_record(outcome, received_at=received_at, origin=origin)
        for outcome, origin in outcomes
        if isinstance(outcome, Rejected)
    ]
    producer.publish(events, dead_letters)
