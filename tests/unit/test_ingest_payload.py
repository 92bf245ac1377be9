"""Splitting HTTP bodies (object / array / NDJSON, by Content-Type and by sniffing) and reading files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from carewatch.testing.samples import good_event, good_line
from services.ingest.files import EventFile, csv_row_object, file_format
from services.ingest.payload import EmptyBody, MalformedBody, split_body
from services.ingest.validation import Rejected

ONE = good_line(1)
TWO = good_line(2)


def test_single_object_keeps_its_exact_bytes() -> None:
    body = b'  {"type": "review.held"}\n'
    split = split_body(body, "application/json")
    assert split.form == "object"
    assert [item.original for item in split.items] == [body]
    assert split.items[0].value == {"type": "review.held"}


def test_array_items_are_decoded_and_reencoded() -> None:
    split = split_body(b"[" + ONE + b", " + TWO + b", 3]", "application/json; charset=utf-8")
    assert split.form == "array"
    assert [item.value for item in split.items] == [good_event(1), good_event(2), 3]
    assert [item.original for item in split.items] == [ONE, TWO, b"3"]


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/ndjson", "application/json", None])
def test_ndjson_by_content_type_or_by_sniffing(content_type: str | None) -> None:
    split = split_body(ONE + b"\r\n\n" + b"{broken\n" + TWO, content_type)
    assert split.form == "ndjson"
    assert [item.original for item in split.items] == [ONE, b"{broken", TWO]
    assert not any(item.decoded for item in split.items)


def test_declared_ndjson_with_one_line_stays_ndjson() -> None:
    split = split_body(ONE, "application/x-ndjson")
    assert split.form == "ndjson"
    assert len(split.items) == 1


def test_empty_and_malformed_bodies() -> None:
    with pytest.raises(EmptyBody):
        split_body(b" \n ", "application/json")
    with pytest.raises(MalformedBody, match="not valid JSON"):
        split_body(b'{"type": ', None)


def test_file_format_by_suffix() -> None:
    assert file_format(Path("a.NDJSON")) == "ndjson"
    assert file_format(Path("a.jsonl")) == "ndjson"
    assert file_format(Path("a.csv")) == "csv"
    with pytest.raises(ValueError, match=r"unsupported file type '\.txt'"):
        file_format(Path("a.txt"))


def test_ndjson_file_lines_are_numbered_from_one_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(ONE + b"\n\n   \n" + TWO + b"\r\n")
    event_file = EventFile(path)
    items = list(event_file)
    assert [(line, item.original) for line, item in items] == [(1, ONE), (4, TWO)]  # type: ignore[union-attr]
    assert event_file.bytes_read == path.stat().st_size


def test_csv_rows_become_event_objects_with_typed_cells(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(
        b"\xef\xbb\xbftype,event_id,child_id,occurred_at,score,seen_alone,distance_miles,placement_type,team\r\n"
        b"sdq.recorded,e1,c1,2024-03-01,17,,,,\r\n"
        b"visit.completed,e2,c1,2024-03-02,,0,,,\r\n"
        b'placement.started,e3,c1,2024-03-03,,,12.5,U1,"007, north\r\nside"\r\n'
        b",,,,,,,,\r\n"
        b"sdq.recorded,e4,c1,2024-03-04,lots,,,,\r\n"
        b"sdq.recorded,e5,c1\r\n"
    )
    items = list(EventFile(path))
    assert [line for line, _ in items] == [2, 3, 4, 7, 8]
    values = [item.value for _, item in items[:4] if not isinstance(item, Rejected)]
    assert values[0] == {
        "type": "sdq.recorded",
        "event_id": "e1",
        "child_id": "c1",
        "occurred_at": "2024-03-01",
        "score": 17,
    }
    assert values[1]["seen_alone"] is False
    assert values[2]["distance_miles"] == 12.5
    assert values[2]["team"] == "007, north\r\nside"  # text fields stay text, even when they look numeric
    assert values[3]["score"] == "lots"  # left for validation to reject with its path
    _, original = items[2]
    assert original.original == b'placement.started,e3,c1,2024-03-03,,,12.5,U1,"007, north\r\nside"'
    short = items[4][1]
    assert isinstance(short, Rejected)
    assert short.reason == "json"
    assert short.errors[0].message == "the row has 3 cells but the header has 9"


def test_csv_booleans_accept_true_false_1_0() -> None:
    header = ["type", "in_touch", "uasc"]
    assert csv_row_object(header, ["care_leaver.contact", "TRUE", ""]) == {
        "type": "care_leaver.contact",
        "in_touch": True,
    }
    assert csv_row_object(header, ["care.started", "", "1"]) == {"type": "care.started", "uasc": True}
    assert csv_row_object(header, ["care_leaver.contact", "maybe", ""])["in_touch"] == "maybe"


def test_csv_row_that_is_not_utf8_is_rejected_with_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"type,event_id\nreview.held,\xff\n")
    [(line, item)] = list(EventFile(path))
    assert line == 2
    assert isinstance(item, Rejected)
    assert item.original == b"review.held,\xff"
    assert "not valid UTF-8" in item.errors[0].message
    assert orjson.dumps(item.errors[0].to_json())
