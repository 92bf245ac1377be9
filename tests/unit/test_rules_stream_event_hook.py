"""The one use of a faust private in the rules stream: naming the record a table write belongs to.

The settler task writes a record's states after the agent has moved on, so it sets the record as faust's
current event (``services.rules.stream.app.set_current_event``). These tests fail if faust stops reading
that event where the function puts it, before a worker would send states to the wrong changelog partition.
"""

from __future__ import annotations

import contextvars
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from carewatch.settings import Settings
from schemas import topics
from services.rules.stream.app import CHILDREN_TABLE, build_app, set_current_event


class Record:
    """What faust's table reads of an event: its message's topic and partition (weakly referenced)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(topic=topics.CASE_EVENTS, partition=partition, offset=7)


def _event(partition: int) -> Any:
    return Record(partition)


def test_the_event_set_is_faust_s_current_event_in_that_task_only() -> None:
    event = _event(5)

    def in_task() -> Any:
        set_current_event(event)
        return faust.current_event()

    assert contextvars.copy_context().run(in_task) is event
    assert faust.current_event() is None  # another task (context) is not affected


def test_a_table_write_goes_to_the_changelog_partition_of_the_event_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path))
    table = app.tables[CHILDREN_TABLE]
    # No broker here: the partition counts faust compares (source topic against changelog) are unknown.
    monkeypatch.setattr(app.consumer, "topic_partitions", lambda topic: None)
    sent: list[tuple[int | None, Any]] = []

    def send_changelog(partition: int | None, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((partition, key))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))

    monkeypatch.setattr(table, "send_changelog", send_changelog)

    def write(partition: int, key: str) -> None:
        event = _event(partition)  # held while written (faust keeps a weak reference), as the agent does
        set_current_event(event)
        table[key] = {"partition": partition}

    contextvars.copy_context().run(write, 3, "a")
    contextvars.copy_context().run(write, 11, "b")
    assert sent == [(3, "a"), (11, "b")]
    with pytest.raises((RuntimeError, TypeError)):  # and without it faust refuses the write
        contextvars.copy_context().run(table.__setitem__, "c", {})


def test_the_children_table_stores_and_reads_the_codec_s_bytes_as_they_are(tmp_path: Path) -> None:
    # The wake index reads each stored value's trailer: faust must neither JSON-encode nor JSON-decode it.
    app = build_app(Settings(kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path))
    table = app.tables[CHILDREN_TABLE]
    stored = b'[6,"c1",[],"cw6:0000000:0123456789abcdef:00003"]'  # bytes that are also valid JSON
    assert table.data._encode_value(stored) == stored
    assert table.data._decode_value(stored) == stored
    assert table.changelog_topic.value_serializer == "raw"
