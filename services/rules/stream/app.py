"""The faust app of the rules stream: case events and clock ticks in, alert transitions out.

One agent reads ``CASE_EVENTS`` as raw bytes (faust never sees a pydantic class), lets
:class:`~services.rules.stream.processor.Processor` decode and evaluate each record, publishes the
transitions to ``ALERTS`` (key = child id) and the board's indicator deltas to ``INDICATOR_DELTAS`` (a
:class:`~schemas.deltas.DeltaBatch` per event that changed any and per tick, in the
record's partition), waits for the
broker's acknowledgement, then writes the child's state: at most one table write per event. A record that
cannot be processed is sent, with its reason, topic, partition and offset, to ``CASE_EVENTS_DLQ`` (awaited
like any output), counted, and logged without its content. Delivery is at-least-once (Tansu has no
transactions).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from prometheus_client import CollectorRegistry

from carewatch.broker import FAUST_GROUP_SETTINGS
from carewatch.settings import RulesProcess
from schemas import topics
from schemas.dead_letters import from_record, to_bytes
from schemas.deltas import DeltaBatch
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
        topic_partitions=settings.broker.topic_partitions,
        topic_replication_factor=settings.broker.topic_replication,
        web_enabled=web_enabled,
        table_standby_replicas=settings.rules.standby_replicas,
        # Tansu rejects transactional producers; idempotence comes from event ids and fingerprints.
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topics.CASE_EVENTS, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(topics.ALERTS, key_serializer="raw", value_serializer="raw")
    deltas = app.topic(topics.INDICATOR_DELTAS, key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(topics.CASE_EVENTS_DLQ, key_serializer="raw", value_serializer="raw")
    children = app.Table(CHILDREN_TABLE)
    clocks = app.Table(CLOCKS_TABLE)
    processor = Processor(kernel, children, clocks, archive)

    async def publish(step: Step, consumed: float | None = None) -> None:
        """Send the step's transitions and indicator deltas and wait until the broker has them all;
        ``consumed`` (``time.monotonic`` when faust took the record) times the engine's part."""
        pending = [
            await alerts.send(key=t.child_id.encode(), value=orjson.dumps(t.model_dump(mode="json")))
            for t in step.transitions
        ]
        if (step.deltas or step.kind == "tick") and step.as_of is not None:
            batch = DeltaBatch.of(step.as_of, step.deltas)
            # In the source partition, in its order; every tick sends one (empty or not), which tells the
            # board that this partition has reached the day (services.board.core.daily).
            key = step.deltas[0].child.encode() if step.kind == "event" else None
            pending.append(await deltas.send(key=key, value=batch.model_dump_json().encode(), partition=step.partition))
        if consumed is not None:
            metrics.engine.observe(time.monotonic() - consumed)
        if pending:
            await asyncio.gather(*pending)

    @app.agent(source, name=AGENT_NAME)
    async def rules(stream: faust.StreamT[Any]) -> AsyncIterator[Step]:
        async for event in stream.events():
            started = time.perf_counter()
            consumed = time.monotonic()
            message = event.message
            if processor.needs_check(message.partition):
                # The first record since the partition (and its restored table) was assigned: states that
                # miss the archive's last event of their child are rebuilt before anything else.
                checking = time.perf_counter()
                checked = processor.check(message.partition)
                if checked.rebuilt or checked.unrebuilt:
                    log.info(
                        "partition %d: %d stale children rebuilt from the event archive, %d not rebuildable",
                        message.partition,
                        checked.rebuilt,
                        checked.unrebuilt,
                    )
                await publish(checked)
                processor.commit(checked)
                metrics.observe(checked, time.perf_counter() - checking)
            step = processor.plan(message.partition, message.key, message.value)
            if step.kind == "bad":
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
                sent = await dead_letters.send(key=message.key, value=to_bytes(letter))
                await sent  # acknowledged before the offset can be committed past the record
            await publish(step, getattr(message, "time_in", None) or consumed)
            processor.commit(step)
            metrics.observe(step, time.perf_counter() - started)
            metrics.observe_lag(message.partition, _highwater(app, message.tp), message.offset)
            yield step  # lets agent.test_context() see the plan

    # (faust's annotation of receivers allows only *args; the signal passes the set of partitions)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        processor.forget({tp.partition for tp in revoked if tp.topic == topics.CASE_EVENTS})
        metrics.forget_lag({tp.partition for tp in revoked if tp.topic == topics.CASE_EVENTS})

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        # A partition that comes back may have been changed by another worker meanwhile.
        processor.forget({tp.partition for tp in assigned if tp.topic == topics.CASE_EVENTS})

    return app


def _highwater(app: faust.App, tp: Any) -> int | None:
    """The partition's end as the consumer last heard it (None before the first fetch, or in a test context)."""
    try:
        found = app.consumer.highwater(tp)
    except Exception:  # the consumer may not be running (agent test context) or be between assignments
        return None
    return found if isinstance(found, int) else None


def _load_config(settings: RulesProcess) -> RulesConfig:
    return RulesConfig.load(settings.rules.config) if settings.rules.config else RulesConfig.default()
