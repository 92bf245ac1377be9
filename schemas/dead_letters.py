"""The dead-letter record (CONTRACT §1): what every dead-letter topic carries.

One model for every producer and reader. Ingest writes one per rejected item (``source`` names the HTTP
request or the file line). A consumer that cannot process a record of a topic (the rules worker, the alerts
consumer, the board feed) writes one as well: ``stage`` names the consumer and ``source_topic``,
``source_partition`` and ``source_offset`` say where the record was. The original bytes travel as base64 (the
faithful copy) and, when they are UTF-8, as text too, so ``carewatch dlq replay`` can submit them again.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

RejectReason = Literal["json", "validation", "duplicate"]
"""Low-cardinality class of an ingest rejection (also a metric label). ``json``: the item cannot be read as an
object (not JSON, not an object, a CSV row that does not fit its header or is not UTF-8); ``validation``: it
breaks the event contract; ``duplicate``: it repeats an event_id accepted earlier in the same batch."""

REJECT_REASONS: Final[tuple[RejectReason, ...]] = ("json", "validation", "duplicate")

ConsumerReason = Literal["decode", "invalid", "key", "engine", "store"]
"""Why a consumer gave up on a record: ``decode`` (not a record of the topic's contract), ``invalid`` (breaks the
event contract), ``key`` (a case event off its child's partition), ``engine`` (the rules failed on it),
``store`` (the database refused it on its own, not in an outage)."""

MAX_KEPT_ORIGINAL: Final = 256 * 1024
"""At most this many bytes of an original are kept, so a dead letter always fits the broker's 1 MiB record."""
_MAX_TEXT_COPY: Final = 900 * 1024


class FileSource(BaseModel):
    """A line of a file loaded with ``carewatch ingest`` (1-based)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["file"] = "file"
    file: str | None = Field(description="The file name as given to the loader")
    line: int = Field(ge=1)


class HttpSource(BaseModel):
    """An item of an HTTP request body (0-based index in the batch)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http"] = "http"
    request_id: str | None = Field(description="The request id also sent back to the client")
    index: int = Field(ge=0)


class TopicSource(BaseModel):
    """A record of a topic that a consumer could not process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["topic"] = "topic"
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


DeadLetterSource = Annotated[FileSource | HttpSource | TopicSource, Field(discriminator="kind")]


class FieldError(BaseModel):
    """One reason an item was rejected: where (JSONPath in the item) and why (plain English)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    message: str


class DeadLetter(BaseModel):
    """A record that could not be taken or processed, with its reasons, when and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: AwareDatetime
    source: DeadLetterSource
    reason: RejectReason | ConsumerReason
    errors: tuple[FieldError, ...]
    event_type: str | None = Field(
        default=None, description="The item's type when it names a known event type, else 'unknown'"
    )
    original_base64: str = Field(description="The bytes as received (the faithful copy), standard base64")
    original_text: str | None = Field(default=None, description="The same bytes as UTF-8, when decodable")
    original_truncated: bool | None = Field(default=None, description="Only the first bytes were kept")
    original_size: int | None = Field(default=None, description="Size of the original when truncated")
    stage: str | None = Field(default=None, description="The consumer that gave up on it (rules, alerts, board)")
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    key_base64: str | None = Field(default=None, description="The source record's key (consumer dead letters)")

    @field_validator("original_base64", "key_base64")
    @classmethod
    def _is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError("not standard base64") from exc
        return value

    @classmethod
    def of(
        cls,
        original: bytes,
        *,
        received_at: datetime,
        source: FileSource | HttpSource,
        reason: RejectReason,
        errors: tuple[FieldError, ...],
        event_type: str | None,
    ) -> DeadLetter:
        """The record of a rejected ingest item: at most :data:`MAX_KEPT_ORIGINAL` bytes of it (marked
        truncated beyond), and the text copy only when the bytes are UTF-8 and the record stays small."""
        size = len(original)
        truncated = size > MAX_KEPT_ORIGINAL
        original = original[:MAX_KEPT_ORIGINAL]
        text = None
        with contextlib.suppress(UnicodeDecodeError):
            decoded = original.decode("utf-8")
            # JSON escapes can make text up to six times its length; base64 is 4/3 of the bytes.
            if len(decoded) * 6 + size * 2 < _MAX_TEXT_COPY:
                text = decoded
        return cls(
            received_at=received_at,
            source=source,
            reason=reason,
            errors=errors,
            event_type=event_type,
            original_base64=base64.b64encode(original).decode("ascii"),
            original_text=text,
            original_truncated=True if truncated else None,
            original_size=size if truncated else None,
        )

    def original(self) -> bytes:
        return base64.b64decode(self.original_base64)

    def key(self) -> bytes | None:
        return base64.b64decode(self.key_base64) if self.key_base64 is not None else None

    def to_json_bytes(self) -> bytes:
        """The record value on the topic (absent fields rather than nulls, as the contract has always been)."""
        return self.model_dump_json(exclude_none=True).encode()


def from_record(
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: ConsumerReason,
    message: str,
    received_at: datetime,
    event_type: str | None = None,
) -> DeadLetter:
    """The dead letter of a consumed record that ``stage`` could not process. ``message`` must name fields and
    classes only, never values (a value may identify a child)."""
    original = value or b""
    return DeadLetter(
        received_at=received_at,
        source=TopicSource(topic=topic, partition=partition, offset=offset),
        reason=reason,
        errors=(FieldError(path="$", message=message),),
        event_type=event_type,
        original_base64=base64.b64encode(original).decode("ascii"),
        stage=stage,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        key_base64=base64.b64encode(key).decode("ascii") if key is not None else None,
    )


def to_bytes(letter: DeadLetter) -> bytes:
    return letter.to_json_bytes()


DEAD_LETTER_ADAPTER: Final = TypeAdapter(DeadLetter)


def parse_dead_letter(value: bytes | str) -> DeadLetter:
    """A dead-letter record read from a topic (raises ``pydantic.ValidationError`` on anything else)."""
    return DeadLetter.model_validate_json(value)
