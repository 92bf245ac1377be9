"""The event archive table and its API: append (ingest), read (rebuild, refill), erase and prune.

Every event ingest accepts is appended here, in the same request and before the broker write, so an event
acknowledged to a client is in the database even if the broker later loses its data. Rows are never
updated; they are deleted only by erasure (a child's right to erasure) or retention.

One row per (child_id, event_id): a client resending a batch after a 503 adds nothing (the rules engine
ignores a repeated event_id as well, so the archive and the stream agree). ``seq`` is the arrival order.

Readers:

* :func:`read_since` — every archived event after a ``seq``, in arrival order (the refill of a broker);
* :func:`archive_lines` — every archived event's payload as a numbered NDJSON line, in arrival order, read
  in chunks (``carewatch replay`` of the archive in shards);
* :func:`child_events` — one child's events in fold order (rebuilding a child's state);
* :func:`children` — every child with its events in fold order, streamed child by child;
* :func:`events_in_fold_order` — all events in fold order (a whole replay);
* :func:`last_event` / :func:`last_events` / :func:`high_water` — what the archive says a child's last
  event is, and the last seq;
* :func:`ids_to_check` / :func:`payloads` — the ids of the events to compare with the topic (all, or those
  after a watermark), and the payloads of those to re-publish;
* :class:`Reader` — the reader the rules worker is given (rebuilding a child, the restored-state check).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from carewatch.db import Base
from schemas.events import CaseEvent, event_to_json, parse_event
from services.rules.core.order import in_fold_order
from services.rules.core.state import LoggedEvent

READ_CHUNK = 5_000


class ArchivedEventRow(Base):
    """One accepted event as ingest received it (append-only)."""

    __tablename__ = "event_archive"
    __table_args__ = (
        UniqueConstraint("child_id", "event_id", name="uq_event_archive_child_event"),
        Index("ix_event_archive_child_occurred", "child_id", "occurred_on"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    child_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    """The event's ``occurred_on`` (its date in England): the restored-state check finds each child's last day
    from it without reading payloads."""
    payload: Mapped[str] = mapped_column(Text)
    """The validated event as JSON (``schemas.events.event_to_json``), the form written to the topic."""


TABLE = cast(Table, ArchivedEventRow.__table__)


class WatermarkRow(Base):
    """How far the archive is known to be on a topic, per partition (``services.archive.republish``).

    Every archived event with ``seq`` at most ``seq`` was on the topic (or re-published to it) when the check
    of ``checked_at`` ran, except the seqs of the gaps (:class:`WatermarkGapRow`); the next check reads the
    partition from ``next_offset`` and the archive after ``seq`` and in the gaps. ``probe_offset`` and
    ``probe_digest`` name the last record that check read or wrote, so a broker that lost or recreated the
    topic is seen by reading that one record back; ``seq_digest`` names the archived event at ``seq``."""

    __tablename__ = "event_archive_watermark"

    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    probe_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    probe_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    seq_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WatermarkGapRow(Base):
    """Seqs below a watermark's ``seq`` that no archived event had when it was stored: an ingest transaction
    that took them may still commit, so the next check reads them again. ``next_received_at`` is the receive
    time of the event just after the gap (a gap that old can no longer fill and is dropped)."""

    __tablename__ = "event_archive_watermark_gap"

    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    next_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


WATERMARKS = cast(Table, WatermarkRow.__table__)
GAPS = cast(Table, WatermarkGapRow.__table__)


@dataclass(frozen=True, slots=True)
class Watermark:
    partition: int
    next_offset: int
    probe_offset: int | None
    probe_digest: str | None
    seq: int
    seq_digest: str | None


@dataclass(frozen=True, slots=True)
class Gap:
    first_seq: int
    last_seq: int
    next_received_at: datetime


def watermarks(engine: Engine, topic: str) -> tuple[dict[int, Watermark], list[Gap]]:
    """The stored watermark of ``topic``, per partition (empty: never checked), and its gaps."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                WATERMARKS.c.partition,
                WATERMARKS.c.next_offset,
                WATERMARKS.c.probe_offset,
                WATERMARKS.c.probe_digest,
                WATERMARKS.c.seq,
                WATERMARKS.c.seq_digest,
            ).where(WATERMARKS.c.topic == topic)
        ).all()
        gaps = connection.execute(
            select(GAPS.c.first_seq, GAPS.c.last_seq, GAPS.c.next_received_at)
            .where(GAPS.c.topic == topic)
            .order_by(GAPS.c.first_seq)
        ).all()
    marks = {row[0]: Watermark(*row) for row in rows}
    return marks, [Gap(first, last, _utc(at) or at) for first, last, at in gaps]


def save_watermarks(
    engine: Engine, topic: str, marks: Iterable[Watermark], gaps: Iterable[Gap], *, now: datetime
) -> None:
    """Replace the watermark of ``topic`` (every partition, and its gaps) in one transaction."""
    with engine.begin() as connection:
        connection.execute(delete(WATERMARKS).where(WATERMARKS.c.topic == topic))
        connection.execute(delete(GAPS).where(GAPS.c.topic == topic))
        rows = [
            {
                "topic": topic,
                "partition": mark.partition,
                "next_offset": mark.next_offset,
                "probe_offset": mark.probe_offset,
                "probe_digest": mark.probe_digest,
                "seq": mark.seq,
                "seq_digest": mark.seq_digest,
                "checked_at": now,
            }
            for mark in marks
        ]
        if rows:
            connection.execute(insert(WATERMARKS), rows)
        gap_rows = [
            {"topic": topic, "first_seq": g.first_seq, "last_seq": g.last_seq, "next_received_at": g.next_received_at}
            for g in gaps
        ]
        if gap_rows:
            connection.execute(insert(GAPS), gap_rows)


def _utc(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        return at.replace(tzinfo=UTC)
    return at


def id_digest(child_id: str, event_id: str) -> str:
    """What names an archived event in a watermark (its seq must still hold it)."""
    return hashlib.sha256(f"{child_id}\0{event_id}".encode()).hexdigest()[:32]


def id_digest_at(engine: Engine, seq: int) -> str | None:
    """:func:`id_digest` of the archived event at ``seq`` (None: no event there)."""
    with engine.connect() as connection:
        row = connection.execute(select(TABLE.c.child_id, TABLE.c.event_id).where(TABLE.c.seq == seq)).first()
    return None if row is None else id_digest(row[0], row[1])


@dataclass(frozen=True, slots=True)
class ArchivedId:
    seq: int
    child_id: str
    event_id: str
    received_at: datetime


def ids_to_check(
    engine: Engine, after_seq: int = 0, gaps: Iterable[tuple[int, int]] = (), *, chunk: int = READ_CHUNK
) -> Iterator[ArchivedId]:
    """The ids of the archived events in the seq ranges ``gaps`` (first, last), then of those after
    ``after_seq``, in seq order, ``chunk`` rows at a time (payloads are not read)."""
    columns = (TABLE.c.seq, TABLE.c.child_id, TABLE.c.event_id, TABLE.c.received_at)
    for first, last_seq in sorted(gaps):
        with engine.connect() as connection:
            rows = connection.execute(
                select(*columns)
                .where(TABLE.c.seq >= first, TABLE.c.seq <= min(last_seq, after_seq))
                .order_by(TABLE.c.seq)
            ).all()
        for seq, child_id, event_id, received_at in rows:
            yield ArchivedId(seq, child_id, event_id, _utc(received_at) or received_at)
    last = after_seq
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(*columns).where(TABLE.c.seq > last).order_by(TABLE.c.seq).limit(chunk)
            ).all()
        if not rows:
            return
        for seq, child_id, event_id, received_at in rows:
            yield ArchivedId(seq, child_id, event_id, _utc(received_at) or received_at)
        last = rows[-1][0]


def payloads(engine: Engine, seqs: Sequence[int]) -> list[tuple[str, str]]:
    """(child_id, payload) of the archived events ``seqs``, in seq order (erased ones left out)."""
    with engine.connect() as connection:
        return [
            (child_id, payload)
            for child_id, payload in connection.execute(
                select(TABLE.c.child_id, TABLE.c.payload).where(TABLE.c.seq.in_(list(seqs))).order_by(TABLE.c.seq)
            ).all()
        ]


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    seq: int
    received_at: datetime
    event: CaseEvent


def rows_for(
    events: Sequence[CaseEvent], received_at: datetime, payloads: Sequence[bytes] | None = None
) -> list[dict[str, object]]:
    """The rows of a batch; ``payloads`` are the events' JSON when the caller has encoded them already."""
    at = received_at.astimezone(UTC)
    if payloads is None:
        payloads = [orjson.dumps(event_to_json(event)) for event in events]
    return [
        {
            "child_id": event.child_id,
            "event_id": event.event_id,
            "event_type": event.type,
            "received_at": at,
            "occurred_on": event.occurred_on,
            "payload": payload.decode(),
        }
        for event, payload in zip(events, payloads, strict=True)
    ]


def append(
    engine: Engine, events: Sequence[CaseEvent], received_at: datetime, payloads: Sequence[bytes] | None = None
) -> None:
    """Append a batch in one transaction (one executemany of INSERT … ON CONFLICT DO NOTHING).

    An event already archived (same child and event_id) is left as it is. ``payloads``: each event as
    ``event_to_json`` JSON, when the caller has it (ingest encodes it once for the archive and the topic).
    Raises SQLAlchemy's errors when the database is unavailable: the caller must then not acknowledge
    the batch.
    """
    if not events:
        return
    rows = rows_for(events, received_at, payloads)
    dialect = engine.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = pg_insert(TABLE).on_conflict_do_nothing(index_elements=["child_id", "event_id"])
    elif dialect == "sqlite":
        statement = sqlite_insert(TABLE).on_conflict_do_nothing(index_elements=["child_id", "event_id"])
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"the event archive supports PostgreSQL and SQLite, not {dialect}")
    with engine.begin() as connection:
        # No RETURNING: it halves PostgreSQL's rate (bench/archive_append.py); count() tells what is there.
        connection.execute(statement, rows)


def _decode(seq: int, received_at: datetime, payload: str) -> ArchivedEvent:
    if received_at.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        received_at = received_at.replace(tzinfo=UTC)
    return ArchivedEvent(seq, received_at, parse_event(payload, received_at=None))


def _since(
    engine: Engine, columns: Sequence[Any], after_seq: int, chunk: int, up_to: int | None = None
) -> Iterator[Sequence[Any]]:
    """The rows (``columns``, the first of them the seq) of the events archived after ``after_seq`` (and
    up to ``up_to``), in seq order: one query of at most ``chunk`` rows at a time, each on a connection of
    its own, so no more than ``chunk`` rows are held at once."""
    last = after_seq
    while True:
        query = select(*columns).where(TABLE.c.seq > last)
        if up_to is not None:
            query = query.where(TABLE.c.seq <= up_to)
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(TABLE.c.seq).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def read_since(engine: Engine, after_seq: int = 0, *, chunk: int = READ_CHUNK) -> Iterator[ArchivedEvent]:
    """Every event archived after ``after_seq``, in arrival order, read ``chunk`` rows at a time."""
    columns = (TABLE.c.seq, TABLE.c.received_at, TABLE.c.payload)
    for seq, received_at, payload in _since(engine, columns, after_seq, chunk):
        yield _decode(seq, received_at, payload)


def archive_lines(engine: Engine, *, chunk: int = READ_CHUNK) -> Iterator[tuple[int, bytes]]:
    """Every archived event as an NDJSON line (its payload and a newline) numbered by its seq, in arrival
    order, read ``chunk`` rows at a time and not parsed: what ``carewatch replay`` shares out into shards
    (``services.rules.sharded.split_lines``). Events archived after the first read are left out."""
    up_to = high_water(engine)
    for seq, payload in _since(engine, (TABLE.c.seq, TABLE.c.payload), 0, chunk, up_to):
        yield seq, payload.encode() + b"\n"


def lines_size(engine: Engine) -> tuple[int, int]:
    """How many archived events there are and about how many bytes :func:`archive_lines` gives (the
    payloads' length in characters, plus newlines), by one query."""
    with engine.connect() as connection:
        rows, size = connection.execute(
            select(func.count(), func.coalesce(func.sum(func.length(TABLE.c.payload)), 0)).select_from(TABLE)
        ).one()
    return int(rows), int(size) + int(rows)


def child_events(engine: Engine, child_id: str) -> list[CaseEvent]:
    """One child's archived events in fold order (what the rules fold to rebuild the child)."""
    with engine.connect() as connection:
        payloads = connection.execute(
            select(TABLE.c.payload).where(TABLE.c.child_id == child_id).order_by(TABLE.c.seq)
        ).scalars()
        return in_fold_order(parse_event(payload, received_at=None) for payload in payloads)


def children(engine: Engine, *, chunk: int = READ_CHUNK) -> Iterator[tuple[str, list[CaseEvent]]]:
    """Every child with its events in fold order, child by child (by child id): rebuilding every child's
    state without holding the whole archive in memory."""
    last_child, last_seq = "", 0
    current: str | None = None
    payloads: list[str] = []
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(TABLE.c.child_id, TABLE.c.seq, TABLE.c.payload)
                .where((TABLE.c.child_id > last_child) | ((TABLE.c.child_id == last_child) & (TABLE.c.seq > last_seq)))
                .order_by(TABLE.c.child_id, TABLE.c.seq)
                .limit(chunk)
            ).all()
        for child_id, _seq, payload in rows:
            if child_id != current:
                if current is not None:
                    yield current, in_fold_order(parse_event(p, received_at=None) for p in payloads)
                current, payloads = child_id, []
            payloads.append(payload)
        if len(rows) < chunk:
            break
        last_child, last_seq = rows[-1][0], rows[-1][1]
    if current is not None:
        yield current, in_fold_order(parse_event(p, received_at=None) for p in payloads)


def events_in_fold_order(engine: Engine) -> list[CaseEvent]:
    """Every archived event in fold order (a replay of the whole archive)."""
    return in_fold_order(archived.event for archived in read_since(engine))


def last_event(engine: Engine, child_id: str) -> CaseEvent | None:
    """The last event of the child in fold order, as the archive knows it (None: no events)."""
    events = child_events(engine, child_id)
    return events[-1] if events else None


def last_events(engine: Engine, child_ids: Iterable[str], *, chunk: int = 500) -> dict[str, tuple[str, date]]:
    """Per child with archived events: the (event id, occurred date) of its last event in fold order.

    One indexed query per ``chunk`` children finds each child's last day; only that day's payloads are
    read (the fold order within a day needs them)."""
    wanted = sorted(set(child_ids))
    found: dict[str, tuple[tuple[date, int, str, str], str]] = {}
    for start in range(0, len(wanted), chunk):
        some = wanted[start : start + chunk]
        last_day = (
            select(TABLE.c.child_id, func.max(TABLE.c.occurred_on).label("day"))
            .where(TABLE.c.child_id.in_(some))
            .group_by(TABLE.c.child_id)
            .subquery()
        )
        query = select(TABLE.c.child_id, TABLE.c.payload).join(
            last_day, (TABLE.c.child_id == last_day.c.child_id) & (TABLE.c.occurred_on == last_day.c.day)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        for child_id, payload in rows:
            event = parse_event(payload, received_at=None)
            order = LoggedEvent.order_of(event)
            best = found.get(child_id)
            if best is None or order > best[0]:
                found[child_id] = (order, event.event_id)
    return {child_id: (event_id, order[0]) for child_id, (order, event_id) in found.items()}


class Reader:
    """The event archive as the rules worker reads it (:class:`services.rules.stream.processor.Archive`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def events(self, child_id: str) -> list[CaseEvent]:
        return child_events(self.engine, child_id)

    def last_events(self, child_ids: Iterable[str]) -> dict[str, tuple[str, date]]:
        return last_events(self.engine, child_ids)


def high_water(engine: Engine) -> int:
    """The seq of the last archived event (0 when empty)."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(TABLE.c.seq), 0))).scalar_one())


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(TABLE)).scalar_one())


def subject_digest(child_id: str) -> str:
    """How an audit entry names an erased child: a digest, so the audit log does not keep the id itself."""
    return "sha256:" + hashlib.sha256(child_id.encode()).hexdigest()


def erase_child(engine: Engine, child_id: str, *, actor: str, now: datetime) -> int:
    """Delete every archived event of the child and write an audit entry, in one transaction."""
    from services.alerts.models import AuditLog

    with engine.begin() as connection:
        deleted = connection.execute(delete(TABLE).where(TABLE.c.child_id == child_id)).rowcount
        connection.execute(
            insert(AuditLog).values(
                at=now,
                actor=actor[:64],
                action="archive.erase",
                target=subject_digest(child_id),
                detail={"rows_deleted": deleted, "reason": "right to erasure"},
            )
        )
    return int(deleted)


def prune(engine: Engine, *, older_than_years: int, now: datetime, actor: str = "retention") -> int:
    """Delete archived events received more than ``older_than_years`` years before ``now`` (audited)."""
    from services.alerts.models import AuditLog
    from services.rules.core.calendar import add_years

    cutoff_day = add_years(now.astimezone(UTC).date(), -older_than_years)
    cutoff = datetime(cutoff_day.year, cutoff_day.month, cutoff_day.day, tzinfo=UTC)
    with engine.begin() as connection:
        deleted = connection.execute(delete(TABLE).where(TABLE.c.received_at < cutoff)).rowcount
        if deleted:
            connection.execute(
                insert(AuditLog).values(
                    at=now,
                    actor=actor[:64],
                    action="archive.retention",
                    target=f"received before {cutoff.date().isoformat()}",
                    detail={"rows_deleted": deleted, "retention_years": older_than_years},
                )
            )
    return int(deleted)


@contextmanager
def configured_engine() -> Iterator[Engine]:
    """An engine on the configured database, its schema migrated; disposed on leaving."""
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings

    url = get_settings().database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def archived_events() -> list[CaseEvent]:
    """Every event of the event archive in the configured database, in fold order."""
    with configured_engine() as engine:
        return events_in_fold_order(engine)
