"""Time as an event: clock ticks to every partition of ``CASE_EVENTS``, live or interleaved with history.

The live scheduler is the one place of the rules service that reads the clock (today's date in England).
The feeder sends a recorded stream in exactly the order replay processes it
(:func:`services.rules.core.order.interleave`), so that the stream and replay produce the same transitions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import orjson

from carewatch import broker
from carewatch.broker import KafkaProducer
from carewatch.settings import RulesProcess
from schemas import topics
from schemas.events import LONDON, CaseEvent, ClockTick, event_to_json
from services.rules.core.order import interleave

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 30.0


def make_producer(bootstrap: str) -> KafkaProducer:
    """A producer that keeps each partition's order (one request in flight) and waits for every replica."""
    return broker.producer(
        bootstrap,
        client_id="carewatch-rules-clock",
        max_in_flight_requests_per_connection=1,  # a retried batch must not overtake the next one
    )


def tick_value(as_of: date) -> bytes:
    return orjson.dumps(ClockTick(as_of=as_of).model_dump(mode="json"))


def event_value(event: CaseEvent) -> bytes:
    return orjson.dumps(event_to_json(event))


def case_event_partitions(producer: KafkaProducer) -> list[int]:
    found = producer.partitions_for(topics.CASE_EVENTS)
    if not found:
        raise RuntimeError(f"topic {topics.CASE_EVENTS} has no partitions: provision the topics first")
    return sorted(found)


def send_ticks(producer: KafkaProducer, as_of: date, partitions: int | Iterable[int] | None = None) -> list[Any]:
    """Send one tick for ``as_of`` to every partition; returns the send futures (not yet acknowledged).

    ``partitions``: a count (partitions 0..n-1), the partition numbers, or None to ask the broker.
    """
    targets = _targets(producer, partitions)
    value = tick_value(as_of)
    return [producer.send(topics.CASE_EVENTS, value=value, partition=p) for p in targets]


def _targets(producer: KafkaProducer, partitions: int | Iterable[int] | None) -> list[int]:
    if partitions is None:
        return case_event_partitions(producer)
    if isinstance(partitions, int):
        return list(range(partitions))
    return list(partitions)


def england_today() -> date:
    return datetime.now(LONDON).date()


def run_scheduler(settings: RulesProcess, stop: threading.Event) -> int:
    """Send today's tick to every partition now and then every ``tick_interval_seconds`` until ``stop``.

    Re-sending the same date is harmless (a tick evaluates only children that are due), so a restart
    simply ticks again. Returns the number of rounds sent.
    """
    if not settings.broker.kafka_bootstrap:
        raise ValueError("the clock scheduler needs CAREWATCH_KAFKA_BOOTSTRAP")
    producer = make_producer(settings.broker.kafka_bootstrap)
    rounds = 0
    try:
        while not stop.is_set():
            as_of = england_today()
            for future in send_ticks(producer, as_of):
                future.get(timeout=ACK_TIMEOUT_SECONDS)
            rounds += 1
            log.info("clock tick %s sent to every partition of %s", as_of, topics.CASE_EVENTS)
            stop.wait(settings.rules.tick_interval_seconds)
    finally:
        producer.close()
    return rounds


def feed(
    producer: KafkaProducer,
    events: Sequence[CaseEvent],
    until: date,
    *,
    partitions: int | Iterable[int] | None = None,
    progress: bool = False,
) -> tuple[int, int]:
    """Send a recorded stream: ``events`` and daily ticks in :func:`interleave` order, up to ``until``.

    Keyed by child id, so each child's events land on its partition in order; ticks go to every partition.
    Waits for every acknowledgement; returns (events sent, tick days sent).
    """
    targets = _targets(producer, partitions)
    futures: list[Any] = []
    sent_events = sent_ticks = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(events), unit="event", desc="feeding")
    for item in interleave(events, until):
        if isinstance(item, ClockTick):
            futures += send_ticks(producer, item.as_of, targets)
            sent_ticks += 1
        else:
            futures.append(producer.send(topics.CASE_EVENTS, key=item.child_id.encode(), value=event_value(item)))
            sent_events += 1
            if bar is not None:
                bar.update()
        if len(futures) >= 10_000:
            _wait(futures)
    _wait(futures)
    if bar is not None:
        bar.close()
    return sent_events, sent_ticks


def _wait(futures: list[Any]) -> None:
    for future in futures:
        future.get(timeout=ACK_TIMEOUT_SECONDS)
    futures.clear()
