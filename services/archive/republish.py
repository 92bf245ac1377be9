"""Refilling the broker from the archive: publish the archived events the case-events topic does not hold.

Used at the rules service's start (``CAREWATCH_ARCHIVE_REPUBLISH_ON_START``) and by ``carewatch archive
republish``. Archived events missing from the topic are published in archive order (a child's events keep
their arrival order, as they are keyed by child id). An empty topic (a broker that lost its data) gets the
whole archive; a topic that lost only its tail gets only the tail. Republishing twice adds nothing the
second time.

**Incremental check.** Each check ends by storing a watermark per partition (``event_archive_watermark``):
the archive ``seq`` up to which every archived event is on the topic, the latest receive time it compared,
the offset the next check starts reading each partition from, and the last record it read (offset and
digest). The next check (at the rules service's start) first reads that one record back on each partition:

* if every partition still holds it, only the topic after the watermark's offsets and the archive after its
  ``seq`` are compared (plus the events received within :data:`LOOKBACK` of the last compared receive time,
  which covers an ingest transaction that took its ``seq`` before a later one but committed after the check,
  and a ``seq`` SQLite hands out again after the newest rows were erased). Its cost follows what was
  appended since the last check, not the size of the topic or the archive;
* if a partition lost it (a broker that forgot its data: the record is gone, the partition is shorter, or
  another record is there), or the number of partitions changed, or there is no watermark yet, the whole
  topic is compared with the whole archive, as ``carewatch archive republish`` always does.

Memory: the ids of the part of the topic read (all of it only on a full check) and one chunk of archive ids;
the archive is read by id (payloads only for the events to publish).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine

from carewatch.broker import PartitionReader
from schemas import topics
from services.archive import store
from services.ingest.producer import IngestProducer
from services.ingest.records import Record

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 2_000
QUIET_POLLS = 2
"""Empty polls in a row, after the reported end offsets are reached, before the topic counts as read
(Tansu can report an end offset below the last record)."""
LOOKBACK = timedelta(minutes=10)
"""How long an ingest append may take, from its receive time to its commit: events received this long before
the latest receive time a check compared are compared again by the next check (a few minutes of events)."""


@dataclass(frozen=True)
class RepublishResult:
    archived: int
    """Archived events compared with the topic (all of them on a full check)."""
    on_topic: int
    """Case events found on the part of the topic read."""
    published: int
    topic_read: int = 0
    """Records read from the topic (case events, ticks, anything else)."""
    full: bool = True
    reason: str = ""
    """Why the check was full ("" when incremental)."""

    def line(self) -> str:
        scope = f"full check ({self.reason})" if self.full else "since the watermark"
        return (
            f"archive {self.archived} events compared; topic held {self.on_topic}; "
            f"re-published {self.published} missing from the topic; {scope}: {self.topic_read} topic records read"
        )


def digest(key: bytes | None, value: bytes | None) -> str:
    """What identifies a record at an offset (the probe: is it still there after a broker restart?)."""
    return hashlib.sha256((key or b"") + b"\0" + (value or b"")).hexdigest()[:32]


def _ids(value: bytes | None) -> tuple[str, str] | None:
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and "event_id" in data and "child_id" in data:
        return str(data["child_id"]), str(data["event_id"])
    return None  # a tick, or not an event


def _why_full(reader: PartitionReader, marks: dict[int, store.Watermark]) -> str:
    """Why the watermark cannot be trusted on this topic ("" when it can)."""
    if not marks:
        return "no watermark yet"
    if sorted(marks) != reader.partitions:
        return f"the topic has {len(reader.partitions)} partitions, the watermark {len(marks)}"
    probes = {p: m.probe_offset for p, m in marks.items() if m.probe_offset is not None}
    found = reader.records_at(probes)
    for partition, offset in sorted(probes.items()):
        record = found.get(partition)
        if record is None or digest(record.key, record.value) != marks[partition].probe_digest:
            return f"partition {partition} no longer holds its record at offset {offset}: the broker lost data"
    return ""


def republish(
    engine: Engine,
    bootstrap: str,
    *,
    producer: IngestProducer | None = None,
    incremental: bool = True,
    topic: str = topics.CASE_EVENTS,
    now: datetime | None = None,
) -> RepublishResult:
    """Publish the archived events missing from the case-events topic; waits for every acknowledgement,
    then stores the new watermark. ``incremental=False`` compares the whole topic with the whole archive
    even when the watermark holds."""
    now = now or datetime.now(UTC)
    marks = store.watermarks(engine, topic)
    with PartitionReader(bootstrap, topic) as reader:
        reason = _why_full(reader, marks) if incremental else "asked for"
        full = bool(reason)
        starts = None if full else {p: m.next_offset for p, m in marks.items()}
        # The topic first: an event archived after this read is published after it too (ingest archives
        # before it publishes), so it is at or after the positions reached here.
        present: dict[tuple[str, str], tuple[int, int]] = {}
        last: dict[int, tuple[int, str]] = {}
        topic_read = 0
        for record in reader.read(starts, quiet_polls=QUIET_POLLS):
            topic_read += 1
            last[record.partition] = (record.offset, digest(record.key, record.value))
            ids = _ids(record.value)
            if ids is not None:
                present[ids] = (record.partition, record.offset)
        ends = {p: reader.position(p) for p in reader.partitions}
        partitions = reader.partitions

    after_seq = 0 if full else max(m.seq for m in marks.values())
    seen_at = None if full else max((m.received_at for m in marks.values() if m.received_at), default=None)
    since = None if seen_at is None else seen_at - LOOKBACK
    own = producer is None
    producer = producer or IngestProducer(bootstrap, client_id="carewatch-archive-republish")
    archived = published = 0
    top_seq, top_at = after_seq, seen_at
    recent: list[tuple[datetime, int, int]] = []  # (received_at, partition, offset) of compared events on the topic
    missing: list[int] = []
    try:
        for entry in store.ids_to_check(engine, after_seq, since):
            archived += 1
            top_seq = max(top_seq, entry.seq)
            top_at = entry.received_at if top_at is None else max(top_at, entry.received_at)
            where = present.get((entry.child_id, entry.event_id))
            if where is None:
                missing.append(entry.seq)
                if len(missing) >= PUBLISH_CHUNK:
                    published += _publish(engine, producer, topic, missing, last)
                    missing.clear()
            elif entry.received_at >= top_at - LOOKBACK:
                recent.append((entry.received_at, *where))
        if missing:
            published += _publish(engine, producer, topic, missing, last)
    finally:
        if own:
            producer.close()

    # The next check starts each partition where this one ended, or earlier if an event the next check
    # compares again (received within LOOKBACK of the latest) is on it before there.
    next_offset = dict(ends)
    if top_at is not None:
        for received_at, partition, offset in recent:
            if received_at >= top_at - LOOKBACK and partition in next_offset:
                next_offset[partition] = min(next_offset[partition], offset)
    new_marks = []
    for partition in partitions:
        probe_offset, probe_digest = last.get(partition, (None, None))
        if probe_offset is None and not full and partition in marks:  # nothing new there: the old probe holds
            probe_offset, probe_digest = marks[partition].probe_offset, marks[partition].probe_digest
        new_marks.append(
            store.Watermark(partition, next_offset[partition], probe_offset, probe_digest, top_seq, top_at)
        )
    store.save_watermarks(engine, topic, new_marks, now=now)
    result = RepublishResult(
        archived=archived,
        on_topic=len(present),
        published=published,
        topic_read=topic_read,
        full=full,
        reason=reason,
    )
    log.info("%s", result.line())
    return result


def _publish(
    engine: Engine, producer: IngestProducer, topic: str, seqs: list[int], last: dict[int, tuple[int, str]]
) -> int:
    """Publish the archived events ``seqs``; ``last`` gets the last record written to each partition (a
    probe the next check can read back)."""
    records: list[Record] = [
        (child_id.encode(), payload.encode()) for child_id, payload in store.payloads(engine, seqs)
    ]
    if not records:
        return 0
    for (key, value), (partition, offset) in zip(records, producer.publish_located(topic, records), strict=True):
        if offset > last.get(partition, (-1, ""))[0]:
            last[partition] = (offset, digest(key, value))
    return len(records)
