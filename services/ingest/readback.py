"""Reading a topic back from its start (checks, benchmarks, looking at the dead-letter topic).

Partitions are assigned by hand (no group join) and read until ``until`` holds on what has been read;
then one more poll must come back empty, so everything acknowledged before the last awaited record has
been collected. End offsets are not used: some brokers (Tansu) can report them too low.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[Sequence[ConsumerRecord]], bool],
    *,
    timeout_s: float = 30.0,
) -> list[ConsumerRecord]:
    """All records of ``topic`` from the beginning once ``until(records)`` is true.

    Raises ``TimeoutError`` (with how many records were read) when that does not happen in time.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist on {bootstrap}")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not until(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout_s:.0f}s ({len(records)} records read)")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        while batch_of_more := [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]:
            records.extend(batch_of_more)
        return records
    finally:
        consumer.close()


def read_to_end(bootstrap: str, topic: str, *, timeout_s: float = 60.0, quiet_polls: int = 2) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning: read past the reported end offsets, then until
    ``quiet_polls`` polls in a row come back empty (the end offsets alone can be too low on Tansu)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist on {bootstrap}")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        quiet = 0
        deadline = time.monotonic() + timeout_s
        while quiet < quiet_polls:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout_s:.0f}s ({len(records)} records)")
            polled = consumer.poll(timeout_ms=500)
            for batch in polled.values():
                records.extend(batch)
            at_end = all(consumer.position(tp) >= ends[tp] for tp in partitions)
            quiet = quiet + 1 if at_end and not polled else 0
        return records
    finally:
        consumer.close()
