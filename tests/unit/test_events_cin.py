"""Children in need and child protection events (CONTRACT §5): accepted when valid, rejected per field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas.cin_codes import ASSESSMENT_FACTORS, REASON_FOR_CLOSURE, REFERRAL_SOURCE
from schemas.events import CIN_EVENT_MODELS, EVENT_FORMAT_VERSION, EVENT_TYPES, event_to_json, parse_event
from schemas.export import documents

RECEIVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ENVELOPE = {"child_id": "C-0001", "occurred_at": "2025-05-20"}
CIN_VALID_BODIES: dict[str, dict[str, Any]] = {
    "referral.received": {
        "referral_id": "R1",
        "referral_source": "5D",
        "source": "front-door-system",
        "primary_need": "N1",
        "team": "front door",
        "date_of_birth": "2015-02-03",
        "sex": "F",
    },
    "referral.outcome": {"referral_id": "R1", "outcome": "assessment"},
    "assessment.started": {"assessment_id": "A1", "referral_id": "R1"},
    "assessment.completed": {
        "assessment_id": "A1",
        "referral_id": "R1",
        "child_in_need": True,
        "factors": ["3B", "4B", "24A"],
    },
    "s47.started": {"enquiry_id": "S1"},
    "s47.completed": {"enquiry_id": "S1", "outcome": "icpc"},
    "icpc.held": {"enquiry_id": "S1", "plan_decided": True},
    "cp_plan.started": {"plan_id": "P1", "category": "EMO", "previous_plans": 1},
    "cp_plan.ended": {"plan_id": "P1", "reason": "stepped down to a CIN plan"},
    "cp_review.held": {"plan_id": "P1"},
    "cp_visit.completed": {"plan_id": "P1", "seen_alone": False},
    "cin_plan.started": {"plan_id": "N1"},
    "cin_plan.ended": {"plan_id": "N1"},
    "case.closed": {"reason": "RC9"},
}


def make(event_type: str, **changes: Any) -> dict[str, Any]:
    body = {"event_id": f"e-{event_type}", "type": event_type, **ENVELOPE, **CIN_VALID_BODIES[event_type]}
    body.update(changes)
    return body


def rejected(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        parse_event(data, received_at=RECEIVED)
    return [error["loc"] for error in caught.value.errors()]


def test_every_cin_type_is_in_the_union_and_has_an_example() -> None:
    types = {model.model_fields["type"].annotation.__args__[0] for model in CIN_EVENT_MODELS}  # type: ignore[union-attr]
    assert types == set(CIN_VALID_BODIES)
    assert types <= set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(CIN_VALID_BODIES))
def test_valid_example_is_accepted_and_round_trips(event_type: str) -> None:
    event = parse_event(make(event_type), received_at=RECEIVED)
    assert event.type == event_type
    assert parse_event(event_to_json(event), received_at=RECEIVED) == event


@pytest.mark.parametrize("event_type", sorted(CIN_VALID_BODIES))
def test_unknown_field_is_rejected(event_type: str) -> None:
    assert rejected(make(event_type, colour="blue")) == [(event_type, "colour")]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("referral.received", "referral_source", "11"),
        ("referral.received", "primary_need", "N10"),
        ("referral.received", "referral_id", ""),
        ("referral.received", "sex", "1"),
        ("referral.received", "date_of_birth", "2015-02-30"),
        ("referral.outcome", "outcome", "nfa"),
        ("assessment.completed", "child_in_need", "perhaps"),
        ("assessment.completed", "factors", ["3B", "99Z"]),
        ("s47.completed", "outcome", "plan"),
        ("icpc.held", "plan_decided", "maybe"),
        ("cp_plan.started", "category", "NEGLECT"),
        ("cp_plan.started", "previous_plans", -1),
        ("cp_plan.started", "previous_plans", "1"),
        ("cp_plan.ended", "reason", ""),
        ("cp_visit.completed", "seen_alone", "sometimes"),
        ("case.closed", "reason", "RC10"),
        ("cin_plan.started", "plan_id", "x" * 65),
    ],
)
def test_bad_value_is_rejected_with_its_path(event_type: str, field: str, value: Any) -> None:
    paths = rejected(make(event_type, **{field: value}))
    assert paths and all(path[:2] == (event_type, field) for path in paths)


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("referral.received", "referral_source"),
        ("referral.received", "referral_id"),
        ("assessment.completed", "child_in_need"),
        ("icpc.held", "plan_decided"),
        ("cp_plan.started", "category"),
        ("case.closed", "reason"),
    ],
)
def test_missing_required_field_is_rejected(event_type: str, field: str) -> None:
    data = make(event_type)
    del data[field]
    assert rejected(data) == [(event_type, field)]


def test_factor_21_must_be_used_alone_and_codes_not_repeated() -> None:
    with pytest.raises(ValidationError, match="must be used alone"):
        parse_event(make("assessment.completed", factors=["21", "3B"]), received_at=RECEIVED)
    with pytest.raises(ValidationError, match="more than once"):
        parse_event(make("assessment.completed", factors=["3B", "3B"]), received_at=RECEIVED)
    assert parse_event(make("assessment.completed", factors=["21"]), received_at=RECEIVED)


def test_retired_factor_codes_are_rejected() -> None:
    assert "18A" not in ASSESSMENT_FACTORS
    assert rejected(make("assessment.completed", factors=["18A"])) == [("assessment.completed", "factors", 0)]


def test_envelope_rules_apply_to_cin_events() -> None:
    assert rejected(make("s47.started", occurred_at="2025-06-03")) == [("s47.started",)]
    assert rejected(make("s47.started", child_id="has space")) == [("s47.started", "child_id")]


def test_code_lists_are_published_in_the_json_schema() -> None:
    defs = documents()["case-event.schema.json"]["$defs"]
    assert defs["ReferralReceived"]["properties"]["referral_source"]["enum"] == sorted(REFERRAL_SOURCE)
    assert defs["CaseClosed"]["properties"]["reason"]["enum"] == sorted(REASON_FOR_CLOSURE)
    assert len(REASON_FOR_CLOSURE) == 9


def test_referral_source_and_the_envelope_source_are_two_fields() -> None:
    event = parse_event(make("referral.received"), received_at=RECEIVED)
    assert (getattr(event, "referral_source"), event.source) == ("5D", "front-door-system")  # noqa: B009
    assert event_to_json(event)["referral_source"] == "5D"


def test_the_1_0_form_with_the_code_in_source_is_still_read() -> None:
    old = make("referral.received")
    del old["referral_source"]
    old["source"] = "6"
    event = parse_event(old, received_at=RECEIVED)
    assert getattr(event, "referral_source") == "6"  # noqa: B009
    assert event.source is None  # in the 1.0 form no sending system is known
    assert parse_event(orjson.dumps(old), received_at=RECEIVED) == event
    assert parse_event(event_to_json(event), received_at=RECEIVED) == event
    # a 1.0 event with a code that is not a referral source is refused, naming the field's current name
    old["source"] = "front-door-system"
    assert rejected(old) == [("referral.received", "referral_source")]


def test_the_json_schema_allows_either_form_and_the_version_says_so() -> None:
    published = documents()
    schema = published["case-event.schema.json"]["$defs"]["ReferralReceived"]
    assert "referral_source" not in schema["required"]
    new_form, old_form = schema["anyOf"]
    assert new_form == {"required": ["referral_source"]}
    assert old_form["required"] == ["source"] and old_form["not"] == {"required": ["referral_source"]}
    assert old_form["properties"]["source"]["enum"] == sorted(REFERRAL_SOURCE)
    assert published["asyncapi.json"]["info"]["version"] == EVENT_FORMAT_VERSION == "1.1.0"
