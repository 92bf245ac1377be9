"""The faust app of the rules stream: case events and clock ticks in, alert transitions out.

One agent reads ``CASE_EVENTS`` as raw bytes (faust never sees a pydantic class), lets
:class:`~services.rules.stream.processor.Processor` decode and evaluate each record, publishes the
transitions to ``ALERTS`` (key = child id) and the board's indicator deltas to ``INDICATOR_DELTAS`` (a
:class:`~schemas.deltas.DeltaBatch` per event that changed any and per tick, in the
record's partition) through a producer of its own, and goes on with the next record, whose plan reads the
states staged so far. A settler task waits for the broker's acknowledgement of each record's outputs, then
writes the record's states (at most one table write per event) and acknowledges the record to faust, in
record order, every record acknowledged by then at once (a partition's clock written once per pass): sends
are pipelined rather than one round trip per record, and a table never holds a state whose outputs the
broker may not have. The restored-state check that runs before a partition's first record is staged and settled
with that record (its rebuilds' outputs acknowledged before their states are written). A rebalance waits
until every record in flight is settled (faust waits for their acknowledgements before it revokes, and the
revocation handler drains again); what cannot be settled (a failed send, the agent stopping) is discarded
and processed again. A record that cannot be processed is sent, with its reason, topic, partition and
offset, to ``CASE_EVENTS_DLQ`` (acknowledged like any output before the record is), counted, and logged
without its content. Delivery is at-least-once (Tansu has no transactions).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import faust
import faust.streams
import orjson
from prometheus_client import CollectorRegistry

from carewatch.broker import FAUST_GROUP_SETTINGS, async_producer
from carewatch.settings import RulesProcess
from schemas import topics
from schemas.dead_letters import from_record, to_bytes
from schemas.deltas import DeltaBatch
from services.rules.core.calendar import is_working_day
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel
from services.rules.stream.metrics import RulesMetrics
from services.rules.stream.processor import Archive, Processor, Step

log = logging.getLogger(__name__)

APP_ID = "carewatch-rules"
CHILDREN_TABLE = "rules-children"
CLOCKS_TABLE = "rules-clocks"
AGENT_NAME = "rules"
# No linger: a record waits for the acknowledgement of its outputs before its state is written, and
# batching (a longer linger) would add its full length to every record that has outputs.
PRODUCER_LINGER_SECONDS = 0.0
# Records whose outputs may await the broker's acknowledgement at once: sends are pipelined, not one
# round trip per record; each state is still written only after its own outputs are acknowledged.
MAX_IN_FLIGHT = 1000
# After the oldest record's outputs are acknowledged, the settler waits this long before writing states, so
# that it writes the states of every record acknowledged by then at once, each partition's clock once (its
# newest value): the changelog (one record per produce batch, below) carries a partition's clock once per
# pass, not once per tick. Only the table writes and the offset commit wait; the outputs are sent at once.
SETTLE_SECONDS = 0.05
# One record per produce batch. The embedded broker (Tansu) reports a partition's end offset as the base
# offset of its last batch plus one, so after a batch of several records it reports the end short of what
# it holds (three batches of three records: offsets 0-8 acknowledged, end offset 7). faust's changelog
# recovery reads up to that end and refuses a RocksDB store whose persisted offset lies beyond it; pipelined
# writes batch the changelog records of a partition, so the batches are kept to one record each.
PRODUCER_MAX_BATCH_BYTES = 1


def set_current_event(event: Any) -> None:
    """Make ``event`` the record that faust attributes the next table writes (of this task) to.

    faust sends a table write to the changelog partition of "the event being processed", which it reads
    from the private context variable ``faust.streams._current_event`` (set by a stream's own iteration,
    read by ``faust.current_event()`` and ``Table.partition_for_key``). The rules agent writes a record's
    states later, from the settler task, once the broker has acknowledged the record's outputs, so it sets
    the record's event there by hand. faust has no public way to do this; this function is the only use of
    the private name, and tests/unit/test_rules_stream_event_hook.py fails if faust changes it.
    """
    faust.streams._current_event.set(weakref.ref(event))


@dataclass
class _InFlight:
    """A record whose outputs are sent: its steps (a check's, then the record's) are written, and the record
    acknowledged to faust, once every send in ``pending`` is acknowledged by the broker."""

    event: Any
    steps: list[tuple[Step, float]] = field(default_factory=list)
    """Each step with ``time.perf_counter()`` when its work began."""
    pending: list[Any] = field(default_factory=list)


def build_app(
    settings: RulesProcess,
    *,
    store: str | None = None,
    config: RulesConfig | None = None,
    metrics: RulesMetrics | None = None,
    web_enabled: bool = False,
    archive: Archive | None = None,
) -> faust.App:
    """The rules faust app for ``settings.broker.kafka_bootstrap`` (``host:port``); topics must exist already.

    ``store`` (default ``settings.rules.store``): ``memory://`` or ``rocksdb://`` (faust's RocksDB store through
    ``rocksdict``, under ``settings.database.data_dir``).

    ``metrics`` defaults to a private registry so that several apps can be built in one process; the
    service passes the process-wide one it exposes. ``archive``: the event archive's reader, for
    rebuilding a child after a deep correction and for the restored-state check of each partition
    assigned (None: neither; a flagged child then stays approximate).
    """
    if not settings.broker.kafka_bootstrap:
        raise ValueError("the rules stream needs a broker: set CAREWATCH_KAFKA_BOOTSTRAP (host:port)")
    store = store or settings.rules.store
    if store.startswith("rocksdb:") and importlib.util.find_spec("rocksdict") is None:
        raise RuntimeError("the rocksdb:// store needs rocksdict: install carewatch with the `rocksdb` extra")
    kernel = Kernel(config or _load_config(settings))
    # The calendar loads its bank-holiday tables (the holidays package's countries: about half a second of
    # imports) on first use: here, rather than on the first record, whose latency it would be.
    is_working_day(date.today())
    metrics = metrics or RulesMetrics(CollectorRegistry())
    datadir = settings.database.data_dir / "rules-stream"
    datadir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    app = faust.App(
        APP_ID,
        broker=f"kafka://{settings.broker.kafka_bootstrap}",
        store=store,
        datadir=str(datadir),
        autodiscover=False,
        # Tansu holds a group join for about half the session timeout: ready in ~5 s instead of ~30 s.
        **FAUST_GROUP_SETTINGS,
        producer_linger=PRODUCER_LINGER_SECONDS,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        topic_partitions=settings.broker.topic_partitions,
        topic_replication_factor=settings.broker.topic_replication,
        web_enabled=web_enabled,
        table_standby_replicas=settings.rules.standby_replicas,
        # Tansu rejects transactional producers; idempotence comes from event ids and fingerprints.
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topics.CASE_EVENTS, key_serializer="raw", value_serializer="raw")
    children = app.Table(CHILDREN_TABLE, value_type=bytes)
    # Raw bytes (services.rules.core.codec.dumps): the wake index reads each stored value's trailer at start
    # without decoding it, which faust's JSON serializer would do for every value it iterates. faust's Table
    # takes no serializer argument (it derives "json" from any type that is not a faust Model); its store
    # and changelog topic are made on first use, with the serializer set here.
    children.value_serializer = "raw"
    clocks = app.Table(CLOCKS_TABLE)
    processor = Processor(kernel, children, clocks, archive)

    # The outputs (alerts, indicator deltas, dead letters) have a producer of their own, which batches: the
    # app's producer keeps one record per batch for the changelogs (PRODUCER_MAX_BATCH_BYTES), and a send to a
    # partition whose one-record batch is not yet drained waits for it, a round trip per record per partition.
    # Nothing reads these topics' end offsets the way faust's changelog recovery does.
    outputs: list[Any] = []

    async def output(topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> Any:
        """Hand one record to the outputs' producer; returns its pending send."""
        return await outputs[0].send(topic, value, key=key, partition=partition)

    async def send(step: Step) -> list[Any]:
        """Hand the step's transitions and indicator deltas to the producer; returns the pending sends."""
        pending = [
            await output(topics.ALERTS, t.child_id.encode(), orjson.dumps(t.model_dump(mode="json")))
            for t in step.transitions
        ]
        if (step.deltas or step.kind == "tick") and step.as_of is not None:
            batch = DeltaBatch.of(step.as_of, step.deltas)
            # In the source partition, in its order; every tick sends one (empty or not), which tells the
            # board that this partition has reached the day (services.board.core.daily).
            key = step.deltas[0].child.encode() if step.kind == "event" else None
            pending.append(await output(topics.INDICATOR_DELTAS, key, batch.model_dump_json().encode(), step.partition))
        return pending

    # Records whose outputs are sent but not yet settled, in record order; the settler writes their states
    # and acknowledges them to faust (so their offsets can be committed) as the broker's acks arrive.
    inflight: deque[_InFlight] = deque()
    arrived = asyncio.Event()
    settled = asyncio.Event()
    settlers: list[asyncio.Future[None]] = []

    async def settle(stream: Any) -> None:
        while True:
            if not inflight:
                settled.set()
                arrived.clear()
                await arrived.wait()
                continue
            if not _acknowledged(inflight[0]):
                await asyncio.gather(*inflight[0].pending)  # the broker has them all before a state is written
            await asyncio.sleep(SETTLE_SECONDS)
            # The head and every record after it whose sends are acknowledged too are written and acknowledged
            # to faust together, with no await in between: a partition's clock, which each tick moves, is
            # written once, with its newest value.
            ready = [inflight.popleft()]
            while inflight and _acknowledged(inflight[0]):
                ready.append(inflight.popleft())
            steps = [(record, step, began) for record in ready for step, began in record.steps]
            for (record, step, began), clock in zip(steps, _clock_written(steps), strict=True):
                set_current_event(record.event)  # the states go to the changelog partition of their record
                processor.write(step, clock=clock)
                metrics.observe(step, time.perf_counter() - began)
            for record in ready:
                await stream.ack(record.event)
            if len(inflight) < MAX_IN_FLIGHT:
                settled.set()

    async def drain() -> None:
        """Wait until every record in flight is settled; what cannot be (the settler failed or stopped) is
        discarded: not acknowledged to faust, so processed again wherever its partition goes."""
        while inflight and settlers and not settlers[-1].done():
            settled.clear()
            await _first_of(settlers[-1], settled)
        if inflight:
            inflight.clear()
            processor.discard_staged()

    @app.agent(source, name=AGENT_NAME)
    async def rules(stream: faust.StreamT[Any]) -> None:
        # Not a generator: faust formats a debug log line for every value an agent yields.
        # Acknowledged by the settler, in order, once written (faust's StreamT does not declare noack).
        manual: Any = stream.noack()  # type: ignore[attr-defined]
        producer = async_producer(settings.broker.kafka_bootstrap or "", client_id=f"{APP_ID}-outputs")
        await producer.start()
        outputs[:] = [producer]
        settler = asyncio.ensure_future(settle(manual))
        settlers.append(settler)
        try:
            async for event in manual.events():
                if settler.done():
                    settler.result()  # a failed send stops the agent here (its records were not acknowledged)
                started = time.perf_counter()
                consumed = time.monotonic()
                message = event.message
                record = _InFlight(event)
                if processor.needs_check(message.partition):
                    # The first record since the partition (and its restored table) was assigned: states that
                    # miss the archive's last event of their child are rebuilt before anything else (reading
                    # the states staged so far: the partition's own records are all settled or discarded).
                    checked = processor.check(message.partition)
                    if checked.rebuilt or checked.unrebuilt:
                        log.info(
                            "partition %d: %d stale children rebuilt from the event archive, %d not rebuildable",
                            message.partition,
                            checked.rebuilt,
                            checked.unrebuilt,
                        )
                    record.pending += await send(checked)
                    processor.stage(checked)
                    record.steps.append((checked, started))
                    started = time.perf_counter()
                step = processor.plan(message.partition, message.key, message.value)
                if step.kind == "bad":
                    record.pending.append(await dead_letter(message, step))
                record.pending += await send(step)
                metrics.engine.observe(time.monotonic() - (getattr(message, "time_in", None) or consumed))
                processor.stage(step)
                record.steps.append((step, started))
                inflight.append(record)
                arrived.set()
                metrics.observe_lag(message.partition, _highwater(app, message.tp), message.offset)
                while len(inflight) >= MAX_IN_FLIGHT and not settler.done():
                    settled.clear()
                    await _first_of(settler, settled)
        finally:
            settler.cancel()
            settlers.remove(settler)
            if inflight:
                # Sent but not acknowledged to faust: processed again after a restart or a rebalance, so
                # their staged states must not be read by a restarted agent.
                inflight.clear()
                processor.discard_staged()
            await producer.stop()

    async def dead_letter(message: Any, step: Step) -> Any:
        """Send a bad record, with where and why, to the dead-letter topic; returns the pending send."""
        # Where and why only: a record's content may identify a child.
        log.warning(
            "bad record at %s[%d] offset %d sent to %s: %s: %s",
            message.topic,
            message.partition,
            message.offset,
            topics.CASE_EVENTS_DLQ,
            step.bad_reason,
            step.detail,
        )
        letter = from_record(
            stage="rules",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            reason=step.bad_reason or "invalid",
            message=step.detail,
            received_at=datetime.now(UTC),
            event_type=step.event_type,
        )
        return await output(topics.CASE_EVENTS_DLQ, message.key, to_bytes(letter))

    # (faust's annotation of receivers allows only *args; the signal passes the set of partitions)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        # faust has waited for every record handed to the agent to be acknowledged (stream_wait_empty), that
        # is settled; drain again all the same, so that no staged state outlives its partition here.
        await drain()
        # Forgotten too: whether the partition was checked against the archive (it is checked again if it
        # comes back, after the restore that comes with it).
        processor.forget({tp.partition for tp in revoked if tp.topic == topics.CASE_EVENTS})
        metrics.forget_lag({tp.partition for tp in revoked if tp.topic == topics.CASE_EVENTS})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        # A partition that comes back may have been changed by another worker meanwhile.
        processor.forget({tp.partition for tp in assigned if tp.topic == topics.CASE_EVENTS})

    return app


def _acknowledged(record: _InFlight) -> bool:
    """Every send of the record is acknowledged by the broker (a failed one is not: awaiting it raises)."""
    return all(sent.done() and not sent.cancelled() and sent.exception() is None for sent in record.pending)


def _clock_written(steps: list[tuple[_InFlight, Step, float]]) -> list[bool]:
    """Per step written together: whether its clock is the last of its partition among them."""
    found: list[bool] = []
    clocked: set[int] = set()
    for _, step, _ in reversed(steps):
        found.append(step.partition not in clocked)
        if step.clock is not None:
            clocked.add(step.partition)
    return found[::-1]


async def _first_of(task: asyncio.Future[None], flag: asyncio.Event) -> None:
    """Wait until ``flag`` is set or ``task`` ends."""
    waiter = asyncio.ensure_future(flag.wait())
    either: list[asyncio.Future[Any]] = [task, waiter]
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def _highwater(app: faust.App, tp: Any) -> int | None:
    """The partition's end as the consumer last heard it (None before the first fetch, or in a test context)."""
    try:
        found = app.consumer.highwater(tp)
    except Exception:  # the consumer may not be running (agent test context) or be between assignments
        return None
    return found if isinstance(found, int) else None


def _load_config(settings: RulesProcess) -> RulesConfig:
    return RulesConfig.load(settings.rules.config) if settings.rules.config else RulesConfig.default()
