"""The dead-letter record (CONTRACT §1): what the case-events dead-letter topic carries.

One model for the producer (ingest) and every reader (tests, tools looking at the topic). The original
bytes travel as base64 (the faithful copy) and, when they are UTF-8, as text too, for readers.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

RejectReason = Literal["json", "validation", "duplicate"]
"""Low-cardinality class of a rejection (also a metric label). ``json``: the item cannot be read as an object
(not JSON, not an object, a CSV row that does not fit its header or is not UTF-8); ``validation``: it breaks
the event contract; ``duplicate``: it repeats an event_id accepted earlier in the same batch."""

REJECT_REASONS: Final[tuple[RejectReason, ...]] = ("json", "validation", "duplicate")


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


DeadLetterSource = Annotated[FileSource | HttpSource, Field(discriminator="kind")]


class FieldError(BaseModel):
    """One reason an item was rejected: where (JSONPath in the item) and why (plain English)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    message: str


class DeadLetter(BaseModel):
    """Rejected input with its reasons, when it was received and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: AwareDatetime
    source: DeadLetterSource
    reason: RejectReason
    errors: tuple[FieldError, ...]
    event_type: str | None = Field(
        default=None, description="The item's type when it names a known event type, else 'unknown'"
    )
    original_base64: str = Field(description="The bytes as received (the faithful copy), standard base64")
    original_text: str | None = Field(default=None, description="The same bytes as UTF-8, when decodable")

    @field_validator("original_base64")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("original_base64 is not standard base64") from exc
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
        """The record of ``original``; the text copy is added only when the bytes are UTF-8."""
        text = None
        with contextlib.suppress(UnicodeDecodeError):
            text = original.decode("utf-8")
        return cls(
            received_at=received_at,
            source=source,
            reason=reason,
            errors=errors,
            event_type=event_type,
            original_base64=base64.b64encode(original).decode("ascii"),
            original_text=text,
        )

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_base64)

    def to_json_bytes(self) -> bytes:
        """The record value on the topic (absent text rather than null, as the contract has always been)."""
        return self.model_dump_json(exclude_none=True).encode()


DEAD_LETTER_ADAPTER: Final = TypeAdapter(DeadLetter)


def parse_dead_letter(value: bytes | str) -> DeadLetter:
    """A dead-letter record read from the topic (raises ``pydantic.ValidationError`` on anything else)."""
    return DeadLetter.model_validate_json(value)
