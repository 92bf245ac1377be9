"""Splitting an HTTP body into items: one JSON object, a JSON array, or NDJSON.

Pure. The Content-Type decides when it is explicit about NDJSON; otherwise the body is sniffed: a body
that parses as JSON is one object or an array of them, a body of several lines that does not parse as a
whole is NDJSON (a frequent mislabelling of NDJSON as ``application/json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

NDJSON_MEDIA_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
_UNDECODED: Final = object()


class MalformedBody(ValueError):
    """The body is neither JSON nor NDJSON, so it cannot be split into items."""


class EmptyBody(MalformedBody):
    """Nothing was sent (nothing to keep either)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One item's original bytes and, when the body was decoded as a whole, its decoded value."""

    original: bytes
    value: Any = _UNDECODED

    @property
    def decoded(self) -> bool:
        return self.value is not _UNDECODED


@dataclass(frozen=True, slots=True)
class Body:
    form: Literal["object", "array", "ndjson"]
    items: list[Item]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def ndjson_lines(body: bytes) -> list[bytes]:
    """Non-blank lines, without their line ending (CRLF tolerated)."""
    return [line.rstrip(b"\r") for line in body.split(b"\n") if line.strip()]


def split_body(body: bytes, content_type: str | None) -> Body:
    """Raises :class:`MalformedBody` for an empty body or one that is neither JSON nor NDJSON.

    Array items keep their decoded value and, as original bytes, their JSON re-encoded (the array's text
    is not copied once per item); object and NDJSON items keep their exact bytes.
    """
    if media_type(content_type) in NDJSON_MEDIA_TYPES:
        return Body("ndjson", [Item(line) for line in ndjson_lines(body)])
    if not body.strip():
        raise EmptyBody("the body is empty: send one JSON object, a JSON array, or NDJSON lines")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        lines = ndjson_lines(body)
        if len(lines) > 1:
            return Body("ndjson", [Item(line) for line in lines])
        raise MalformedBody(f"the body is not valid JSON: {exc}") from exc
    if isinstance(value, list):
        return Body("array", [Item(orjson.dumps(element), element) for element in value])
    return Body("object", [Item(body, value)])
