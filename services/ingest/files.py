"""Event files: NDJSON (``.ndjson``/``.jsonl``) and CSV (``.csv``), read line by line, never whole.

CSV: the header row names the fields; an empty cell means the field is absent; booleans are written
``true``/``false``/``1``/``0``; numbers are converted where the event type's model wants a number (so
``17`` is an SDQ score but ``007`` stays a team name). Anything that cannot be converted is left as text
for validation to reject with the field's path.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from schemas.events import EVENT_MODELS, EVENT_TYPES
from services.ingest.payload import Item
from services.ingest.validation import FieldError, Rejected

FileFormat = Literal["ndjson", "csv"]
FORMATS: Final[dict[str, FileFormat]] = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def file_format(path: Path) -> FileFormat:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r} (expected .ndjson, .jsonl or .csv)") from None


def _json_kind(schema: Mapping[str, Any]) -> str:
    """The JSON type a field takes when present ('string' if it has several or none)."""
    if "type" in schema:
        return str(schema["type"])
    kinds = {option.get("type") for option in schema.get("anyOf", ())} - {"null", None}
    return str(kinds.pop()) if len(kinds) == 1 else "string"


FIELD_KINDS: Final[dict[str, dict[str, str]]] = {
    event_type: {name: _json_kind(schema) for name, schema in model.model_json_schema()["properties"].items()}
    for event_type, model in zip(EVENT_TYPES, EVENT_MODELS, strict=True)
}
"""Event type → field → JSON type ('boolean', 'integer', 'number', 'string'), from the models themselves."""


def _convert(text: str, kind: str) -> Any:
    if kind == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    elif kind == "integer":
        try:
            return int(text)
        except ValueError:
            pass
    elif kind == "number":
        try:
            return float(text)
        except ValueError:
            pass
    return text


def csv_row_object(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV row as the event object it stands for (cells already checked to match the header)."""
    kinds = FIELD_KINDS.get(dict(zip(header, cells, strict=True)).get("type", ""), {})
    return {name: _convert(cell, kinds.get(name, "string")) for name, cell in zip(header, cells, strict=True) if cell}


@dataclass
class EventFile:
    """Iterates ``(line number, item or rejection)``; ``bytes_read`` follows progress through the file."""

    path: Path
    bytes_read: int = 0
    format: FileFormat = field(init=False)

    def __post_init__(self) -> None:
        self.format = file_format(self.path)

    def __iter__(self) -> Iterator[tuple[int, Item | Rejected]]:
        with self.path.open("rb") as handle:
            yield from self._ndjson(handle) if self.format == "ndjson" else self._csv(handle)

    def _ndjson(self, handle: BinaryIO) -> Iterator[tuple[int, Item | Rejected]]:
        for number, line in enumerate(handle, start=1):
            self.bytes_read += len(line)
            if line.strip():
                yield number, Item(line.rstrip(b"\r\n"))

    def _csv(self, handle: BinaryIO) -> Iterator[tuple[int, Item | Rejected]]:
        # csv needs text, the reject file and DLQ need the exact bytes: feed csv decoded lines while
        # keeping each row's raw lines (a quoted cell may span several).
        raw_lines: list[bytes] = []
        line_number = 0

        def text_lines() -> Iterator[str]:
            nonlocal line_number
            for raw in handle:
                self.bytes_read += len(raw)
                line_number += 1
                raw_lines.append(raw)
                yield raw.decode("utf-8", errors="surrogateescape")

        rows = csv.reader(text_lines())
        header: list[str] | None = None
        for cells in rows:
            first_line = line_number - len(raw_lines) + 1
            original = b"".join(raw_lines).rstrip(b"\r\n")
            raw_lines.clear()
            if header is None:
                header = [name.strip().removeprefix("\ufeff") for name in cells]
                continue
            if not any(cell.strip() for cell in cells):
                continue
            problem = _row_problem(original, header, cells)
            if problem is not None:
                yield first_line, Rejected(original, "json", (problem,))
                continue
            yield first_line, Item(original, csv_row_object(header, cells))


def _row_problem(original: bytes, header: list[str], cells: list[str]) -> FieldError | None:
    try:
        original.decode("utf-8")
    except UnicodeDecodeError as exc:
        return FieldError("$", f"the row is not valid UTF-8 (byte {exc.start})")
    if len(cells) != len(header):
        return FieldError("$", f"the row has {len(cells)} cells but the header has {len(header)}")
    return None
