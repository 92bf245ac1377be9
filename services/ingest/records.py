"""What ingest writes: event records for the case-events topic and dead letters for the DLQ.

Pure: bytes in, (key, value) bytes out. A dead letter keeps everything needed to understand and replay
a rejection: the original bytes (base64, plus the text when it is UTF-8), the reasons, when it was
received and where it came from.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from schemas.events import CaseEvent, event_to_json
from services.ingest.validation import Rejected

Record = tuple[bytes | None, bytes]
"""(key, value) as written to Kafka."""

MAX_KEPT_ORIGINAL: Final = 256 * 1024
"""The most of an original a dead letter keeps: with its base64 and text copies (a control character is
six bytes of JSON text) the record stays under the broker's 1 MiB limit. HTTP refuses bigger items whole;
a file line beyond it is rejected and kept truncated, marked ``original_truncated``."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an item came from: an HTTP request (item index) or a file (line number, 1-based)."""

    kind: str
    position: int
    name: str | None = None
    """The file name (files) or request id (HTTP)."""

    @classmethod
    def http(cls, request_id: str, index: int) -> Origin:
        return cls("http", index, request_id)

    @classmethod
    def file(cls, name: str, line: int) -> Origin:
        return cls("file", line, name)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "file":
            return {"kind": "file", "file": self.name, "line": self.position}
        return {"kind": self.kind, "request_id": self.name, "index": self.position}


def event_record(event: CaseEvent) -> Record:
    """Keyed by child id so one child's events stay in order on one partition."""
    return event.child_id.encode(), orjson.dumps(event_to_json(event))


def dead_letter(rejected: Rejected, *, received_at: datetime, origin: Origin) -> dict[str, Any]:
    record: dict[str, Any] = {
        "received_at": received_at.isoformat(),
        "source": origin.to_json(),
        "reason": rejected.reason,
        "errors": [error.to_json() for error in rejected.errors],
        "event_type": rejected.event_type,
    }
    original = rejected.original
    if len(original) > MAX_KEPT_ORIGINAL:
        record["original_truncated"] = True
        record["original_size"] = len(original)
        original = original[:MAX_KEPT_ORIGINAL]
    record["original_base64"] = base64.b64encode(original).decode("ascii")
    # The base64 copy is the faithful one; the text is only a convenience for readers.
    with contextlib.suppress(UnicodeDecodeError):
        text = original.decode("utf-8")
        if len(text) * 6 + len(original) * 2 < 900 * 1024:
            record["original_text"] = text
    return record


def dead_letter_record(rejected: Rejected, *, received_at: datetime, origin: Origin) -> Record:
    """Keyed by child id when the item had a well-formed one, so a replay keeps per-child order."""
    key = rejected.child_id.encode() if rejected.child_id else None
    return key, orjson.dumps(dead_letter(rejected, received_at=received_at, origin=origin))
