"""What ingest writes: event records for the case-events topic and dead letters for the DLQ.

Pure: bytes in, (key, value) bytes out. A dead letter keeps everything needed to understand and replay
a rejection: the original bytes (base64, plus the text when it is UTF-8), the reasons, when it was
received and where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from schemas.dead_letters import MAX_KEPT_ORIGINAL as MAX_KEPT_ORIGINAL  # the contract is its home
from schemas.dead_letters import DeadLetter, FieldError, FileSource, HttpSource
from schemas.events import CaseEvent, event_to_json
from services.ingest.validation import Rejected

Record = tuple[bytes | None, bytes]
"""(key, value) as written to Kafka."""


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

    def to_source(self) -> FileSource | HttpSource:
        if self.kind == "file":
            return FileSource(file=self.name, line=self.position)
        return HttpSource(request_id=self.name, index=self.position)


def event_record(event: CaseEvent) -> Record:
    """Keyed by child id so one child's events stay in order on one partition."""
    return event.child_id.encode(), orjson.dumps(event_to_json(event))


def dead_letter(rejected: Rejected, *, received_at: datetime, origin: Origin) -> DeadLetter:
    """The contract record (:class:`schemas.dead_letters.DeadLetter`) of a rejected item."""
    return DeadLetter.of(
        rejected.original,
        received_at=received_at,
        source=origin.to_source(),
        reason=rejected.reason,
        errors=tuple(FieldError(path=error.path, message=error.message) for error in rejected.errors),
        event_type=rejected.event_type,
    )


def dead_letter_record(rejected: Rejected, *, received_at: datetime, origin: Origin) -> Record:
    """Keyed by child id when the item had a well-formed one, so a replay keeps per-child order."""
    key = rejected.child_id.encode() if rejected.child_id else None
    return key, dead_letter(rejected, received_at=received_at, origin=origin).to_json_bytes()
