"""Refilling the broker from the archive: publish the archived events the case-events topic does not hold.

Used at the rules service's start (``CAREWATCH_ARCHIVE_REPUBLISH_ON_START``) and by ``carewatch archive
republish``. The topic is read once from the beginning to learn which (child, event_id) pairs it holds;
archived events missing from it are published in archive order (a child's events keep their arrival order,
as they are keyed by child id). An empty topic (a broker that lost its data) gets the whole archive; a
topic that lost only its tail gets only the tail. Republishing twice adds nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine

from carewatch.broker import read_to_end
from schemas import topics
from services.archive import store
from services.ingest.producer import IngestProducer
from services.ingest.records import Record, event_record

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 2_000
QUIET_POLLS = 2
"""Empty polls in a row, after the reported end offsets are reached, before the topic counts as read
(Tansu can report an end offset below the last record)."""


@dataclass(frozen=True)
class RepublishResult:
    archived: int
    on_topic: int
    published: int

    def line(self) -> str:
        return (
            f"archive {self.archived} events; topic held {self.on_topic}; "
            f"re-published {self.published} missing from the topic"
        )


def events_on_topic(bootstrap: str, topic: str = topics.CASE_EVENTS, timeout_s: float = 300.0) -> set[tuple[str, str]]:
    """(child_id, event_id) of every case event on the topic (ticks and unreadable records skipped)."""
    seen: set[tuple[str, str]] = set()
    for record in read_to_end(bootstrap, topic, timeout_s=timeout_s, quiet_polls=QUIET_POLLS):
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and "event_id" in value and "child_id" in value:
            seen.add((str(value["child_id"]), str(value["event_id"])))
    return seen


def republish(engine: Engine, bootstrap: str, *, producer: IngestProducer | None = None) -> RepublishResult:
    """Publish the archived events missing from the case-events topic; waits for every acknowledgement."""
    present = events_on_topic(bootstrap)
    own = producer is None
    producer = producer or IngestProducer(bootstrap, client_id="carewatch-archive-republish")
    archived = published = 0
    pending: list[Record] = []
    try:
        for entry in store.read_since(engine):
            archived += 1
            if (entry.event.child_id, entry.event.event_id) in present:
                continue
            pending.append(event_record(entry.event))
            if len(pending) >= PUBLISH_CHUNK:
                published += producer.publish(pending)
                pending.clear()
        if pending:
            published += producer.publish(pending)
    finally:
        if own:
            producer.close()
    result = RepublishResult(archived=archived, on_topic=len(present), published=published)
    log.info("%s", result.line())
    return result
