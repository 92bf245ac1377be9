"""``carewatch import-cin --bootstrap``: the census's events reach the real broker, keyed by child."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from carewatch.cli import app
from schemas.events import parse_event
from schemas.topics import CASE_EVENTS
from services.ingest.cin.convert import convert
from services.ingest.cin.source import read_census
from tests.support.cin_census import to_xml, valid_return

pytestmark = pytest.mark.integration


def test_census_events_reach_the_broker_keyed_by_child(fresh_broker: str, tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_bytes(to_xml(valid_return(children=8), 2025))
    expected = {event["event_id"] for event in convert(read_census(path), 2025).events}
    result = CliRunner().invoke(app, ["import-cin", str(path), "--year", "2025", "--bootstrap", fresh_broker])
    assert result.exit_code == 0, result.output

    consumer = KafkaConsumer(bootstrap_servers=fresh_broker, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(CASE_EVENTS, p) for p in consumer.partitions_for_topic(CASE_EVENTS) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = []
        deadline = time.monotonic() + 30
        while len(received) < len(expected) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received.extend(batch)
        for batch in consumer.poll(timeout_ms=1000).values():  # nothing beyond the expected events
            received.extend(batch)
    finally:
        consumer.close()
    events = [parse_event(message.value, received_at=None) for message in received]
    assert {event.event_id for event in events} == expected and len(events) == len(expected)
    assert all(message.key == event.child_id.encode() for message, event in zip(received, events, strict=True))
