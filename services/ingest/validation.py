"""The one validation step shared by HTTP and files: raw item → accepted event or rejection with reasons.

Pure: no broker, no HTTP, no clock (the receive time is an argument).

Reason paths are JSONPath relative to the item itself: ``$`` is the whole item, ``$.score`` a field,
``$.a[2]`` an element of a list field. The item's position in its batch (HTTP index, file line) is kept
beside the reasons, never inside the path, so the same reason reads the same whatever the transport.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.dead_letters import REJECT_REASONS as REJECT_REASONS  # the contract is their home
from schemas.dead_letters import RejectReason as RejectReason
from schemas.events import EVENT_TYPES, PSEUDONYM_PATTERN, CaseEvent, ClockTick, parse_event
from services.ingest.payload import Item

UNKNOWN_TYPE: Final = "unknown"
_KNOWN_TYPES: Final = frozenset(EVENT_TYPES)
_PSEUDONYM: Final = re.compile(PSEUDONYM_PATTERN)
_INTERNAL_TYPE: Final = ClockTick.model_fields["type"].default
_PYDANTIC_PREFIXES: Final = ("Value error, ", "Assertion failed, ")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason an item was rejected: where (JSONPath in the item) and why (plain English)."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True, slots=True)
class Accepted:
    event: CaseEvent

    @property
    def event_type(self) -> str:
        return self.event.type


@dataclass(frozen=True, slots=True)
class Rejected:
    original: bytes
    reason: RejectReason
    errors: tuple[FieldError, ...]
    event_type: str = UNKNOWN_TYPE
    """The item's ``type`` when it names a known event type, else ``unknown`` (safe as a metric label)."""
    child_id: str | None = None
    """The item's ``child_id`` when it is a well-formed pseudonym (used to key the dead letter)."""


Outcome = Accepted | Rejected


@dataclass
class BatchValidator:
    """Validates the items of one batch (one HTTP request, one file) received at ``received_at``.

    A second item with an ``event_id`` already accepted in the same batch is rejected as a duplicate.
    Across batches duplicates are expected (clients resend after a failure) and are harmless: the rules
    engine ignores an ``event_id`` it has already applied, so dedupe beyond one batch is its job, not ours.

    An event without ``recorded_at`` gets ``received_at`` (CONTRACT §1: it defaults to receipt time).
    """

    received_at: datetime
    seen_event_ids: set[str] = field(default_factory=set)

    def check(self, item: Item) -> Outcome:
        """One item of a body or file, decoded already or not."""
        return self.check_object(item.value, item.original) if item.decoded else self.check_bytes(item.original)

    def check_bytes(self, original: bytes) -> Outcome:
        """One item as JSON text (an NDJSON line, a single-object body)."""
        try:
            value = orjson.loads(original)
        except orjson.JSONDecodeError as exc:
            return Rejected(original, "json", (FieldError("$", f"not valid JSON: {exc}"),))
        return self.check_object(value, original)

    def check_object(self, value: Any, original: bytes) -> Outcome:
        """One item already decoded (an element of a JSON array, a CSV row); ``original`` is kept as is."""
        if not isinstance(value, Mapping):
            kind = type(value).__name__ if value is not None else "null"
            return Rejected(original, "json", (FieldError("$", f"an event must be a JSON object, not {kind}"),))
        event_type = value.get("type")
        label = event_type if isinstance(event_type, str) and event_type in _KNOWN_TYPES else UNKNOWN_TYPE
        child_id = value.get("child_id")
        key = child_id if isinstance(child_id, str) and _PSEUDONYM.match(child_id) else None
        if value.get("recorded_at") is None:
            # filled before validation, so the validated (frozen) event needs no copy
            value = {**value, "recorded_at": self.received_at}
        try:
            event = parse_event(value, received_at=self.received_at)
        except ValidationError as exc:
            errors = tuple(_field_error(detail, value) for detail in exc.errors(include_url=False))
            return Rejected(original, "validation", errors, label, key)
        if event.event_id in self.seen_event_ids:
            duplicate = FieldError("$.event_id", f"duplicate event_id {event.event_id!r} earlier in this batch")
            return Rejected(original, "duplicate", (duplicate,), label, key)
        self.seen_event_ids.add(event.event_id)
        return Accepted(event)


def validate_batch(originals: Sequence[bytes], *, received_at: datetime) -> list[Outcome]:
    """Validate JSON-text items of one batch, in order (duplicates judged within the batch)."""
    validator = BatchValidator(received_at)
    return [validator.check_bytes(original) for original in originals]


def json_path(loc: Sequence[int | str]) -> str:
    """``('score',)`` → ``$.score``; ``('a', 2)`` → ``$.a[2]``; ``()`` → ``$``."""
    parts = ["$"]
    for step in loc:
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "".join(parts)


def _field_error(detail: ErrorDetails, item: Mapping[str, Any]) -> FieldError:
    loc = detail["loc"]
    # A discriminated union prefixes every location with the tag ('sdq.recorded', 'score'): drop it so
    # the path names the field as the sender wrote it.
    if loc and loc[0] == item.get("type"):
        loc = loc[1:]
    kind = detail["type"]
    if kind == "union_tag_not_found":
        return FieldError("$.type", f"missing field 'type' (one of: {', '.join(EVENT_TYPES)})")
    if kind == "union_tag_invalid":
        given = item.get("type")
        if given == _INTERNAL_TYPE:
            return FieldError("$.type", f"{_INTERNAL_TYPE!r} is internal to carewatch and not accepted here")
        return FieldError("$.type", f"unknown event type {given!r} (one of: {', '.join(EVENT_TYPES)})")
    if kind == "extra_forbidden":
        return FieldError(json_path(loc), "unknown field (not part of this event type)")
    if kind == "missing":
        return FieldError(json_path(loc), "required field is missing")
    message = detail["msg"]
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return FieldError(json_path(loc), message)
