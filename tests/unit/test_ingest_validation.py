"""The shared validation step: reasons with paths, reason classes, duplicates, recorded_at default."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from carewatch.testing.samples import BAD_LINES, good_event, good_line
from schemas.dead_letters import DeadLetter, FileSource, parse_dead_letter
from schemas.events import EVENT_TYPES
from services.ingest.records import MAX_KEPT_ORIGINAL, Origin, dead_letter, dead_letter_record, event_record
from services.ingest.validation import (
    Accepted,
    BatchValidator,
    FieldError,
    Rejected,
    json_path,
    validate_batch,
)

RECEIVED = datetime(2024, 3, 5, 10, 30, tzinfo=UTC)


def check(data: dict[str, object] | bytes) -> Accepted | Rejected:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return BatchValidator(RECEIVED).check_bytes(raw)


def rejected(data: dict[str, object] | bytes) -> Rejected:
    outcome = check(data)
    assert isinstance(outcome, Rejected), outcome
    return outcome


def test_good_events_of_every_sample_kind_are_accepted() -> None:
    for n in range(12):
        outcome = check(good_event(n))
        assert isinstance(outcome, Accepted), (n, outcome)
        assert outcome.event.event_id == f"ev-{n:08d}"


def test_recorded_at_defaults_to_receipt_time_but_a_sent_one_is_kept() -> None:
    without = check(good_event(0))
    assert isinstance(without, Accepted)
    assert without.event.recorded_at == RECEIVED
    sent = check(good_event(5))
    assert isinstance(sent, Accepted)
    assert sent.event.recorded_at == datetime(2024, 3, 2, 9, tzinfo=UTC)


def test_field_error_path_drops_the_type_tag() -> None:
    outcome = rejected({**good_event(2), "score": 41})
    assert outcome.reason == "validation"
    assert outcome.event_type == "sdq.recorded"
    assert outcome.errors == (FieldError("$.score", "Input should be less than or equal to 40"),)


def test_several_errors_are_all_reported_in_order() -> None:
    outcome = rejected({**good_event(0), "child_id": "has space", "legal_status": "ZZ", "nickname": "x"})
    assert [error.path for error in outcome.errors] == ["$.child_id", "$.legal_status", "$.nickname"]
    assert outcome.errors[1].message == "unknown legal status code 'ZZ' (SSDA903 legal status list)"
    assert outcome.errors[2].message == "unknown field (not part of this event type)"
    assert outcome.child_id is None  # a malformed pseudonym is never used as a key


def test_missing_field_and_model_level_errors() -> None:
    missing = rejected({k: v for k, v in good_event(2).items() if k != "score"})
    assert missing.errors == (FieldError("$.score", "required field is missing"),)
    born_later = rejected({**good_event(0), "date_of_birth": "2025-01-01"})
    assert born_later.errors == (FieldError("$", "date_of_birth is after the date care started"),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"event_id": "e"}, "missing field 'type'"),
        ({"type": "tea.drunk"}, "unknown event type 'tea.drunk'"),
        ({"type": 7}, "unknown event type 7"),
        ({"type": "clock.tick", "as_of": "2024-01-01"}, "'clock.tick' is internal to carewatch"),
    ],
)
def test_type_problems_point_at_the_type_field(data: dict[str, object], message: str) -> None:
    outcome = rejected(data)
    assert outcome.reason == "validation"
    assert outcome.event_type == "unknown"
    assert [error.path for error in outcome.errors] == ["$.type"]
    assert outcome.errors[0].message.startswith(message)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"event_id": ', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "an event must be a JSON object, not list"),
        (b"null", "an event must be a JSON object, not null"),
        (b'"text"', "an event must be a JSON object, not str"),
    ],
)
def test_unreadable_items_are_json_rejections(raw: bytes, message: str) -> None:
    outcome = rejected(raw)
    assert outcome.reason == "json"
    assert outcome.original == raw
    assert [error.path for error in outcome.errors] == ["$"]
    assert outcome.errors[0].message.startswith(message)


def test_future_events_are_rejected_relative_to_receipt() -> None:
    outcome = rejected({**good_event(3), "occurred_at": "2024-03-07"})
    assert outcome.errors[0].path == "$"
    assert "more than a day after the event was received" in outcome.errors[0].message
    assert isinstance(check({**good_event(3), "occurred_at": "2024-03-06"}), Accepted)


def test_second_item_with_an_event_id_already_accepted_in_the_batch_is_a_duplicate() -> None:
    first = good_line(1)
    invalid_same_id = orjson.dumps({**good_event(1), "distance_miles": -1})
    outcomes = validate_batch([invalid_same_id, first, first, good_line(2)], received_at=RECEIVED)
    # an invalid item does not claim its event_id: the first valid one is accepted
    assert [type(o).__name__ for o in outcomes] == ["Rejected", "Accepted", "Rejected", "Accepted"]
    duplicate = outcomes[2]
    assert isinstance(duplicate, Rejected)
    assert duplicate.reason == "duplicate"
    assert duplicate.errors == (FieldError("$.event_id", "duplicate event_id 'ev-00000001' earlier in this batch"),)
    # another batch starts afresh (dedupe across batches belongs to the rules engine)
    assert isinstance(validate_batch([first], received_at=RECEIVED)[0], Accepted)


def test_every_sample_bad_line_is_rejected() -> None:
    for kind, make in BAD_LINES.items():
        outcome = check(make(100))
        assert isinstance(outcome, Rejected), kind
        assert outcome.errors, kind


def test_event_type_label_is_known_type_or_unknown() -> None:
    assert rejected({**good_event(2), "score": -1}).event_type == "sdq.recorded"
    assert rejected({"type": "x" * 300}).event_type == "unknown"
    assert all(event_type != "unknown" for event_type in EVENT_TYPES)


@pytest.mark.parametrize(("loc", "path"), [((), "$"), (("score",), "$.score"), (("a", 2, "b"), "$.a[2].b")])
def test_json_path(loc: tuple[int | str, ...], path: str) -> None:
    assert json_path(loc) == path


def test_event_record_is_keyed_by_child_and_carries_the_validated_event() -> None:
    outcome = check(good_event(1))
    assert isinstance(outcome, Accepted)
    key, value = event_record(outcome.event)
    assert key == b"child-0001"
    assert orjson.loads(value) == {**good_event(1), "recorded_at": "2024-03-05T10:30:00Z"}


def test_dead_letter_keeps_original_bytes_reasons_time_and_origin() -> None:
    raw = b'{"type": "sdq.recorded", "child_id": "c-1", "score": 99}'
    outcome = rejected(raw)
    key, value = dead_letter_record(outcome, received_at=RECEIVED, origin=Origin.file("in.ndjson", 7))
    assert key == b"c-1"
    record = orjson.loads(value)
    assert base64.b64decode(record["original_base64"]) == raw
    assert record["original_text"] == raw.decode()
    assert record["source"] == {"kind": "file", "file": "in.ndjson", "line": 7}
    assert record["reason"] == "validation"
    assert record["event_type"] == "sdq.recorded"
    assert {"path": "$.score", "message": "Input should be less than or equal to 40"} in record["errors"]
    # A reader gets the same record back through the one contract model.
    letter = parse_dead_letter(value)
    assert letter.received_at == RECEIVED
    assert letter.original() == raw
    assert letter.source == FileSource(file="in.ndjson", line=7)


def test_dead_letter_of_non_utf8_bytes_has_base64_only() -> None:
    outcome = rejected(b"\xff\xfe{")
    _, value = dead_letter_record(outcome, received_at=RECEIVED, origin=Origin.http("req", 3))
    record = orjson.loads(value)
    assert "original_text" not in record
    assert base64.b64decode(record["original_base64"]) == b"\xff\xfe{"
    assert record["source"] == {"kind": "http", "request_id": "req", "index": 3}
    assert dead_letter(outcome, received_at=RECEIVED, origin=Origin.http("req", 3)).original_text is None


def test_dead_letter_contract_refuses_what_is_not_a_dead_letter() -> None:
    outcome = rejected(b"{}")
    _, value = dead_letter_record(outcome, received_at=RECEIVED, origin=Origin.http("req", 0))
    record = orjson.loads(value)
    for broken in (
        {**record, "original_base64": "not base64!"},
        {**record, "reason": "because"},
        {**record, "received_at": "2024-03-05T10:30:00"},
        {**record, "source": {"kind": "ftp", "index": 0}},
        {**record, "extra": 1},
    ):
        with pytest.raises(ValidationError):
            parse_dead_letter(orjson.dumps(broken))


def test_every_dead_letter_reads_as_the_schemas_dead_letter_model() -> None:
    outcome = rejected(b'{"type": "sdq.recorded", "child_id": "c-1", "score": 99}')
    letter = DeadLetter.model_validate_json(
        dead_letter_record(outcome, received_at=RECEIVED, origin=Origin.http("req", 3))[1]
    )
    assert letter.original() == outcome.original and letter.reason == "validation"
    assert letter.source_topic is None and letter.original_truncated is None


def test_an_oversized_file_line_is_kept_truncated_so_its_dead_letter_fits_the_broker() -> None:
    huge = b'{"type": "review.held", "source": "' + b"\x01" * (2 * MAX_KEPT_ORIGINAL) + b'"}'
    outcome = rejected(huge)
    _, value = dead_letter_record(outcome, received_at=RECEIVED, origin=Origin.file("in.ndjson", 1))
    assert len(value) < 1024 * 1024  # the broker's default record limit
    letter = DeadLetter.model_validate_json(value)
    assert letter.original_truncated is True and letter.original_size == len(huge)
    assert letter.original() == huge[:MAX_KEPT_ORIGINAL]
