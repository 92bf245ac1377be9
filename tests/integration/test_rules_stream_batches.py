"""The rules app's producer batches on the embedded broker: with its batch limit, every record sent is below
the partition's end offset the broker reports, which faust's changelog recovery reads up to. (Without the
limit, pipelined sends batch several records and the broker reports the end short of them.)"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from schemas import topics
from services.rules.stream.app import PRODUCER_MAX_BATCH_BYTES

pytestmark = pytest.mark.integration


async def _sent_and_end(bootstrap: str, max_batch_size: int) -> tuple[list[int], int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=max_batch_size)
    await producer.start()
    try:
        offsets: list[int] = []
        for _ in range(3):  # three rounds of three sends not awaited in between: batched unless limited
            pending = [await producer.send(topics.ALERTS, b"x%d" % n, partition=0) for n in range(3)]
            offsets += [(await sent).offset for sent in pending]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topics.ALERTS, 0)
        end = (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()
    return offsets, end


def test_every_record_the_rules_producer_sends_is_below_the_reported_end(fresh_broker: str) -> None:
    offsets, end = asyncio.run(_sent_and_end(fresh_broker, PRODUCER_MAX_BATCH_BYTES))
    assert offsets == list(range(9))
    assert end == 9
