"""Refilling the broker from the archive: publish the archived events the case-events topic does not hold.

Used at the rules service's start (``CAREWATCH_ARCHIVE_REPUBLISH_ON_START``) and by ``carewatch archive
republish``. Archived events missing from the topic are published in archive order (a child's events keep
their arrival order, as they are keyed by child id). An empty topic (a broker that lost its data) gets the
whole archive; a topic that lost only its tail gets only the tail. Republishing twice adds nothing the
second time.

**Incremental check.** Each check ends by storing a watermark per partition (``event_archive_watermark``):
the archive ``seq`` up to which every archived event is on the topic (and the gaps below it), the offset the
next check starts reading each partition from, and the last record it read or wrote there (offset and
digest). The next check (at the rules service's start) first reads that one record back on each partition:

* if every partition still holds it, only the topic after the watermark's offsets and the archive after its
  ``seq`` are compared, plus the seqs below it that no archived event held at the last check (gaps: an
  ingest transaction on PostgreSQL can take a seq before a later one and commit after the check). Its cost
  follows what was appended since the last check, not the size of the topic or the archive;
* if a partition lost it (a broker that forgot its data: the record is gone, the partition is shorter, or
  another record is there), or the number of partitions changed, or the archived event at the watermark's
  ``seq`` is gone (erased: SQLite may then hand its seq out again), or there is no watermark yet, the whole
  topic is compared with the whole archive, as ``carewatch archive republish`` always does.

Memory: the ids of the part of the topic read (all of it only on a full check), one chunk of archive ids and
the gaps; the archive is read by id (payloads only for the events to publish).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from carewatch.broker import PartitionReader
from schemas import topics
from services.archive import store
from services.ingest.producer import IngestProducer
from services.ingest.records import Record

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 2_000
GAPS_KEPT = 10_000
"""Gaps held while reading before the ones too old to fill are dropped (a full check meets every hole)."""
QUIET_POLLS = 2
"""Empty polls in a row, after the reported end offsets are reached, before the topic counts as read
(Tansu can report an end offset below the last record)."""
LOOKBACK = timedelta(minutes=10)
"""How long an ingest append may take from its receive time, or from taking its seqs, to its commit (assumed):
how long a gap in the seqs is kept for the next check to read again (see :func:`_live_gaps`)."""


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
    seconds: float = 0.0
    """Wall time of the check and the publishing."""

    def line(self) -> str:
        scope = f"full check ({self.reason})" if self.full else "since the watermark"
        return (
            f"archive {self.archived} events compared; topic held {self.on_topic}; "
            f"re-published {self.published} missing from the topic; {scope}: {self.topic_read} topic records read "
            f"in {self.seconds:.2f}s"
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


def _why_full(engine: Engine, reader: PartitionReader, marks: dict[int, store.Watermark]) -> str:
    """Why the watermark cannot be trusted on this topic and archive ("" when it can)."""
    if not marks:
        return "no watermark yet"
    if sorted(marks) != reader.partitions:
        return f"the topic has {len(reader.partitions)} partitions, the watermark {len(marks)}"
    seq, seq_digest = max(m.seq for m in marks.values()), next(iter(marks.values())).seq_digest
    if seq and store.id_digest_at(engine, seq) != seq_digest:
        return "the archive no longer holds the last event the watermark checked (erased)"
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
    started = time.monotonic()
    now = now or datetime.now(UTC)
    marks, old_gaps = store.watermarks(engine, topic)
    with PartitionReader(bootstrap, topic) as reader:
        reason = _why_full(engine, reader, marks) if incremental else "asked for"
        full = bool(reason)
        starts = None if full else {p: m.next_offset for p, m in marks.items()}
        # The topic first: an event archived after this read is published after it too (ingest archives
        # before it publishes), so the next check finds it after the positions reached here.
        present: set[tuple[str, str]] = set()
        last: dict[int, tuple[int, str]] = {}
        topic_read = 0
        for record in reader.read(starts, quiet_polls=QUIET_POLLS):
            topic_read += 1
            last[record.partition] = (record.offset, digest(record.key, record.value))
            ids = _ids(record.value)
            if ids is not None:
                present.add(ids)
        ends = {p: reader.position(p) for p in reader.partitions}
        partitions = reader.partitions

    after_seq = 0 if full else max(m.seq for m in marks.values())
    gaps = [] if full else old_gaps
    own = producer is None
    producer = producer or IngestProducer(bootstrap, client_id="carewatch-archive-republish")
    archived = published = 0
    top_seq, top_at, top_digest = after_seq, None, None if full else next(iter(marks.values())).seq_digest
    filled: set[int] = set()
    new_gaps: list[store.Gap] = []
    missing: list[int] = []
    try:
        for entry in store.ids_to_check(engine, after_seq, [(g.first_seq, g.last_seq) for g in gaps]):
            archived += 1
            if entry.seq <= after_seq:
                filled.add(entry.seq)
            else:
                if entry.seq > top_seq + 1:
                    new_gaps.append(store.Gap(top_seq + 1, entry.seq - 1, entry.received_at))
                    if len(new_gaps) > GAPS_KEPT and top_at is not None:  # the history's old holes: drop
                        new_gaps = [g for g in new_gaps if g.next_received_at >= top_at - 2 * LOOKBACK]
                top_seq, top_digest = entry.seq, store.id_digest(entry.child_id, entry.event_id)
            top_at = entry.received_at if top_at is None else max(top_at, entry.received_at)
            if (entry.child_id, entry.event_id) not in present:
                missing.append(entry.seq)
                if len(missing) >= PUBLISH_CHUNK:
                    published += _publish(engine, producer, topic, missing, last)
                    missing.clear()
        if missing:
            published += _publish(engine, producer, topic, missing, last)
    finally:
        if own:
            producer.close()

    new_marks = []
    for partition in partitions:
        probe_offset, probe_digest = last.get(partition, (None, None))
        if probe_offset is None and not full and partition in marks:  # nothing new there: the old probe holds
            probe_offset, probe_digest = marks[partition].probe_offset, marks[partition].probe_digest
        new_marks.append(store.Watermark(partition, ends[partition], probe_offset, probe_digest, top_seq, top_digest))
    try:
        store.save_watermarks(engine, topic, new_marks, _live_gaps(gaps, filled, new_gaps, top_at), now=now)
    except (IntegrityError, OperationalError) as exc:  # another worker's check saved its own at the same time
        log.warning("archive check: watermark not saved (%s); the next start compares more", type(exc).__name__)
    result = RepublishResult(
        archived=archived,
        on_topic=len(present),
        published=published,
        topic_read=topic_read,
        full=full,
        reason=reason,
        seconds=time.monotonic() - started,
    )
    log.info("%s", result.line())
    return result


def _live_gaps(
    old: list[store.Gap], filled: set[int], new: list[store.Gap], latest: datetime | None
) -> list[store.Gap]:
    """The gaps the next check reads again: the seqs no event holds yet, where an event can still commit.

    An ingest append commits within :data:`LOOKBACK` of taking its seq (assumed); a seq below the one of an
    event received at T was taken before that event's seq, which was committed by T + LOOKBACK, so the gap
    can fill until T + 2 × LOOKBACK at the latest; a gap older than that, against the latest receive time
    compared, is dropped."""
    live: list[store.Gap] = []
    for gap in old:  # what is still empty of each old gap, as runs of seqs
        run: int | None = None
        for seq in range(gap.first_seq, gap.last_seq + 2):
            empty = seq <= gap.last_seq and seq not in filled
            if empty and run is None:
                run = seq
            elif not empty and run is not None:
                live.append(store.Gap(run, seq - 1, gap.next_received_at))
                run = None
    live += new
    if latest is None:
        return live
    return [gap for gap in live if gap.next_received_at >= latest - 2 * LOOKBACK]


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
