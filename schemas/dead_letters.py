"""The dead-letter record (CONTRACT: ``schemas/json/dead-letter.schema.json``) as a model.

Ingest writes one per rejected item (``source`` names the HTTP request or file line). A consumer that cannot
process a record of a topic writes one as well: ``stage`` names the consumer and ``source_topic``,
``source_partition`` and ``source_offset`` where the record was; ``original_base64`` keeps its bytes, so
``carewatch dlq replay`` can submit it again after a fix.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FieldReason(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    message: str


class DeadLetter(BaseModel):
    """One record that could not be taken or processed, with why and where from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: datetime
    source: dict[str, Any] = Field(
        description="Where it came from: {kind: file, file, line}, {kind: http, request_id, index} or {kind: topic}"
    )
    reason: str = Field(description="Low-cardinality class: validation, json, duplicate, store, engine…")
    errors: list[FieldReason]
    event_type: str | None = None
    original_base64: str = Field(description="The bytes as received (the faithful copy)")
    original_text: str | None = Field(default=None, description="The same bytes as UTF-8, when decodable")
    original_truncated: bool | None = Field(default=None, description="Only the first bytes were kept")
    original_size: int | None = Field(default=None, description="Size of the original when truncated")
    stage: str | None = Field(default=None, description="The consumer that gave up on it (rules, alerts, board)")
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    key_base64: str | None = Field(default=None, description="The source record's key (consumer dead letters)")

    def original(self) -> bytes:
        return base64.b64decode(self.original_base64)

    def key(self) -> bytes | None:
        return base64.b64decode(self.key_base64) if self.key_base64 is not None else None


def from_record(
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    message: str,
    received_at: datetime,
    event_type: str | None = None,
) -> DeadLetter:
    """The dead letter of a consumed record that ``stage`` could not process. ``message`` must name fields and
    classes only, never values (a value may identify a child)."""
    original = value or b""
    return DeadLetter(
        received_at=received_at,
        source={"kind": "topic", "topic": topic, "partition": partition, "offset": offset},
        reason=reason,
        errors=[FieldReason(path="$", message=message)],
        event_type=event_type,
        original_base64=base64.b64encode(original).decode("ascii"),
        stage=stage,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        key_base64=base64.b64encode(key).decode("ascii") if key is not None else None,
    )


def to_bytes(letter: DeadLetter) -> bytes:
    return letter.model_dump_json(exclude_none=True).encode()
