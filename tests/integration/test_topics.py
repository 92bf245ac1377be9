"""Topic provisioning on the real broker: versioned names, configured partitions, idempotent."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient

from carewatch.broker import EmbeddedBroker, ensure_topics
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
