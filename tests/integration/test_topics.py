"""Topic provisioning on the real broker: versioned names, configured partitions, idempotent."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient

from carewatch.broker import (
    EmbeddedBroker,
    check_topics,
    consumer,
    ensure_topics,
    from_start,
    producer,
    read_topic,
)
from schemas import topics

pytestmark = pytest.mark.integration


def test_topics_are_created_once_with_the_configured_partitions() -> None:
    with EmbeddedBroker() as broker:
        assert sorted(ensure_topics(broker.bootstrap, partitions=3)) == sorted(topics.ALL_TOPICS)
        assert ensure_topics(broker.bootstrap, partitions=3) == []
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            described = admin.describe_topics(list(topics.ALL_TOPICS))
        finally:
            admin.close()
        assert {topic["name"]: len(topic["partitions"]) for topic in described} == dict.fromkeys(
            topics.ALL_TOPICS, 3
        )


def test_broker_stops_cleanly() -> None:
    broker = EmbeddedBroker().start()
    process = broker.process
    broker.stop()
    assert process is not None and process.poll() is not None


def test_the_kafka_edge_checks_topics_writes_and_reads_a_topic_back_from_the_start() -> None:
    with EmbeddedBroker() as broker:
        ok, why = check_topics(broker.bootstrap, [topics.ALERTS])
        assert not ok and why == f"topics missing on {broker.bootstrap}: {topics.ALERTS}"
        with pytest.raises(RuntimeError, match="does not exist"):
            from_start(broker.bootstrap, topics.ALERTS)
        ensure_topics(broker.bootstrap, partitions=2, names=[topics.ALERTS])
        assert check_topics(broker.bootstrap, [topics.ALERTS]) == (True, "ok")

        writer = producer(broker.bootstrap, client_id="carewatch-test")
        try:
            for number in range(5):
                writer.send(topics.ALERTS, key=f"k{number}".encode(), value=b"%d" % number).get(timeout=30)
        finally:
            writer.close()
        records = read_topic(broker.bootstrap, topics.ALERTS, lambda read: len(read) >= 5)
        assert sorted(record.value for record in records) == [b"0", b"1", b"2", b"3", b"4"]
        with pytest.raises(TimeoutError, match="5 records read"):
            read_topic(broker.bootstrap, topics.ALERTS, lambda read: len(read) > 5, timeout_s=2)

        member = consumer(broker.bootstrap, topics.ALERTS, group_id="carewatch-test")
        try:
            assert member.config["session_timeout_ms"] == 6000  # the short group timeouts
            assert member.config["enable_auto_commit"] is False
        finally:
            member.close()


def test_the_embedded_broker_is_unreachable_once_stopped() -> None:
    broker = EmbeddedBroker().start()
    bootstrap = broker.bootstrap
    broker.stop()
    ok, why = check_topics(bootstrap, [topics.ALERTS], timeout_s=1)
    assert not ok and "unreachable" in why
