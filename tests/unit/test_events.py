"""Event contracts (CONTRACT §1): every type accepted when valid, every kind of bad value rejected with its path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import EVENT_TYPES, LONDON, event_to_json, parse_event

RECEIVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

ENVELOPE = {"child_id": "C-0001", "occurred_at": "2025-05-20"}
VALID_BODIES: dict[str, dict[str, Any]] = {
    "care.started": {"date_of_birth": "2012-03-04", "sex": "F", "legal_status": "C2", "uasc": False, "team": "north"},
    "care.ended": {"reason": "E4A"},
    "legal_status.changed": {"legal_status": "E1"},
    "placement.started": {
        "placement_type": "U4",
        "provider": "PR1",
        "reason_for_change": "CARPL",
        "distance_miles": 12.5,
        "intended_until_18": True,
    },
    "pep.completed": {"kind": "initial"},
    "health_assessment.completed": {"kind": "review"},
    "dental_check.completed": {},
    "sdq.recorded": {"score": 17},
    "social_worker.changed": {"worker_id": "SW-42", "team": "north", "employment": "agency"},
    "visit.completed": {"seen_alone": True},
    "review.held": {},
    "missing.started": {"episode_id": "m1"},
    "missing.ended": {"episode_id": "m1"},
    "return_interview.completed": {"episode_id": "m1"},
    "care_leaver.contact": {"in_touch": True, "activity": "F5", "accommodation": "U1"},
    "pathway_plan.reviewed": {},
    "event.retracted": {"retracted_event_id": "e-0"},
    "outcomes.recorded": {"teeth_check": True, "health_assessment": False, "sdq_reason": "SDQ1"},
}


def make(event_type: str, **changes: Any) -> dict[str, Any]:
    body = {"event_id": f"e-{event_type}", "type": event_type, **ENVELOPE, **VALID_BODIES[event_type]}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


DROP = object()


def rejected_paths(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        parse_event(data, received_at=RECEIVED)
    return [error["loc"] for error in caught.value.errors()]


def test_every_contract_type_has_an_example() -> None:
    from tests.unit.test_events_cin import CIN_VALID_BODIES  # the CIN/CP types are tested there

    assert set(VALID_BODIES) | set(CIN_VALID_BODIES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(VALID_BODIES))
def test_valid_example_is_accepted_and_round_trips(event_type: str) -> None:
    event = parse_event(make(event_type), received_at=RECEIVED)
    assert event.type == event_type
    assert event.occurred_on == date(2025, 5, 20)
    again = parse_event(event_to_json(event), received_at=RECEIVED)
    assert again == event


@pytest.mark.parametrize("event_type", sorted(VALID_BODIES))
def test_unknown_field_is_rejected(event_type: str) -> None:
    assert rejected_paths(make(event_type, colour="blue")) == [(event_type, "colour")]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("care.started", "legal_status", "X9"),
        ("care.started", "sex", "1"),
        ("care.ended", "reason", "X1"),  # X1 is a continuation, not leaving care
        ("care.ended", "reason", "Z9"),
        ("legal_status.changed", "legal_status", "W1"),
        ("placement.started", "placement_type", "Q1"),
        ("placement.started", "provider", "PR9"),
        ("placement.started", "reason_for_change", "BORED"),
        ("placement.started", "distance_miles", -1),
        ("pep.completed", "kind", "final"),
        ("health_assessment.completed", "kind", ""),
        ("sdq.recorded", "score", 41),
        ("sdq.recorded", "score", -1),
        ("sdq.recorded", "score", "12"),
        ("social_worker.changed", "worker_id", "Ms Smith"),
        ("social_worker.changed", "employment", "locum"),
        ("visit.completed", "seen_alone", "perhaps"),
        ("care_leaver.contact", "activity", "G9"),
        ("care_leaver.contact", "accommodation", "S1"),  # no fixed abode can never be recorded as suitable
        ("care_leaver.contact", "in_touch", None),
        ("missing.started", "episode_id", ""),
        ("event.retracted", "retracted_event_id", "x" * 65),
    ],
)
def test_bad_value_is_rejected_at_its_path(event_type: str, field: str, value: Any) -> None:
    assert rejected_paths(make(event_type, **{field: value})) == [(event_type, field)]


@pytest.mark.parametrize("field", ["event_id", "child_id", "occurred_at"])
def test_missing_envelope_field_is_rejected(field: str) -> None:
    assert rejected_paths(make("review.held", **{field: DROP})) == [("review.held", field)]


@pytest.mark.parametrize("child_id", ["", "Jane Doe", "a/b", "x" * 65, "NHS:123"])
def test_child_id_must_be_a_pseudonym(child_id: str) -> None:
    assert rejected_paths(make("review.held", child_id=child_id)) == [("review.held", "child_id")]


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event({"event_id": "e", "type": "child.adopted", **ENVELOPE}, received_at=RECEIVED)
    assert "child.adopted" in str(caught.value)


def test_date_of_birth_after_care_started_is_rejected() -> None:
    with pytest.raises(ValidationError, match="date_of_birth is after"):
        parse_event(make("care.started", date_of_birth="2025-05-21"), received_at=RECEIVED)


def test_care_cannot_start_on_the_18th_birthday() -> None:
    parse_event(make("care.started", date_of_birth="2007-05-21"), received_at=RECEIVED)  # day before: 17
    with pytest.raises(ValidationError, match="18th birthday"):
        parse_event(make("care.started", date_of_birth="2007-05-20"), received_at=RECEIVED)


def test_occurred_at_more_than_a_day_after_receipt_is_rejected() -> None:
    parse_event(make("review.held", occurred_at="2025-06-02T12:00:00+00:00"), received_at=RECEIVED)
    with pytest.raises(ValidationError, match="more than a day after"):
        parse_event(make("review.held", occurred_at="2025-06-02T12:00:01+00:00"), received_at=RECEIVED)


def test_history_without_receive_time_is_not_checked_for_the_future() -> None:
    parse_event(make("review.held", occurred_at="2099-01-01"), received_at=None)


def test_naive_datetime_is_london_time_and_dates_stay_dates() -> None:
    summer = parse_event(make("review.held", occurred_at="2025-05-20T23:30:00"), received_at=RECEIVED)
    assert summer.occurred_at == datetime(2025, 5, 20, 23, 30, tzinfo=LONDON)
    assert summer.occurred_on == date(2025, 5, 20)
    utc_late = parse_event(make("review.held", occurred_at="2025-05-20T23:30:00Z"), received_at=RECEIVED)
    assert utc_late.occurred_on == date(2025, 5, 21)  # 00:30 BST next day
    plain = parse_event(make("review.held"), received_at=RECEIVED)
    assert type(plain.occurred_at) is date


def test_garbage_dates_are_rejected() -> None:
    assert rejected_paths(make("review.held", occurred_at="yesterday")) == [("review.held", "occurred_at")]
    assert rejected_paths(make("review.held", recorded_at="2025-05-20")) == [("review.held", "recorded_at")]


def test_json_text_is_accepted() -> None:
    event = parse_event(
        '{"event_id":"e","type":"sdq.recorded","child_id":"c","occurred_at":"2025-01-01","score":3}',
        received_at=RECEIVED,
    )
    assert event.type == "sdq.recorded"


@pytest.mark.parametrize("character", ["\x00", "\x07", "\n", "\t", "\x1b", "\x7f", "\x85"])
@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("care.started", "team"),
        ("social_worker.changed", "team"),
        ("review.held", "event_id"),
        ("review.held", "source"),
        ("missing.started", "episode_id"),
        ("event.retracted", "retracted_event_id"),
    ],
)
def test_control_characters_are_rejected_in_text_fields(event_type: str, field: str, character: str) -> None:
    data = make(event_type, **{field: f"north{character}east"})
    with pytest.raises(ValidationError) as caught:
        parse_event(data, received_at=RECEIVED)
    errors = caught.value.errors()
    assert [error["loc"][1:] for error in errors] == [(field,)]
    assert "control character" in errors[0]["msg"]


def test_lone_surrogates_are_rejected_in_text_fields() -> None:
    with pytest.raises(ValidationError):
        parse_event(make("care.started", team="north\ud800"), received_at=RECEIVED)
    text = '{"event_id": "e-1", "type": "review.held", "child_id": "C-1", "occurred_at": "2025-05-20", '
    text += '"source": "a\\udfff"}'
    with pytest.raises(ValidationError):
        parse_event(text, received_at=RECEIVED)


def test_control_characters_are_rejected_in_json_text() -> None:
    text = '{"event_id": "e-1", "type": "review.held", "child_id": "C-1", "occurred_at": "2025-05-20", '
    text += '"source": "a\\u0000b"}'
    with pytest.raises(ValidationError, match="control character U\\+0000"):
        parse_event(text, received_at=RECEIVED)


def test_printable_unicode_is_accepted_in_text_fields() -> None:
    event = parse_event(make("care.started", team="Équipe Nord – Ynys Môn"), received_at=RECEIVED)
    assert event.team == "Équipe Nord – Ynys Môn"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "0001-01-01T00:00:00+14:00"),
        ("occurred_at", "0001-01-01"),
        ("occurred_at", "1899-12-31"),
        ("occurred_at", "2101-01-01T00:00:00Z"),
        ("recorded_at", "0001-01-01T00:00:00+14:00"),
        ("recorded_at", "9999-12-31T23:59:59-14:00"),
    ],
)
def test_dates_outside_the_accepted_years_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(make("review.held", **{field: value}), received_at=None)
    errors = caught.value.errors()
    assert [error["loc"][1] for error in errors] == [field]
    assert "outside the accepted range 1900–2100" in errors[0]["msg"]


def test_date_of_birth_outside_the_accepted_years_is_rejected() -> None:
    with pytest.raises(ValidationError, match="year 1899 is outside the accepted range"):
        parse_event(make("care.started", date_of_birth="1899-12-31", occurred_at="1900-01-02"), received_at=None)


def test_the_edges_of_the_accepted_years_are_accepted() -> None:
    first = parse_event(make("review.held", occurred_at="1900-01-01T00:00:00+14:00"), received_at=None)
    last = parse_event(make("review.held", occurred_at="2100-12-31T23:59:59-14:00"), received_at=None)
    assert first.occurred_on == date(1899, 12, 31)  # converting it to England's date does not overflow
    assert last.occurred_on.year == 2101
