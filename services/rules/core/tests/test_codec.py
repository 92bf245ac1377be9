"""The state's JSON form: the same data pydantic's serializer gives (so tables written before stay
readable), a lossless round trip, and clear errors for malformed data."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from services.rules.core.state import ChildState

from .history import histories

ADAPTER = TypeAdapter(ChildState)


def _reference(state: ChildState) -> dict[str, Any]:
    data: dict[str, Any] = ADAPTER.dump_python(state, mode="json")
    data["processed_ids"] = sorted(state.processed_ids)
    data["retracted_ids"] = sorted(state.retracted_ids)
    return data


def test_to_dict_is_the_validators_json_form_and_round_trips() -> None:
    states = list(histories().values())
    assert any(state.findings for state in states) and any(state.missing_episodes for state in states)
    for state in states:
        data = orjson.loads(orjson.dumps(state.to_dict()))
        assert data == _reference(state)
        assert ChildState.from_dict(data) == state == ADAPTER.validate_python(data)


def test_to_dict_after_more_events_reflects_them() -> None:
    state = max(histories().values(), key=lambda s: len(s.events))
    first = state.to_dict()
    shorter = state.evolve(events=state.events[:-1], visits=())
    assert shorter.to_dict()["events"] == first["events"][:-1]
    assert shorter.to_dict()["visits"] == []
    assert state.to_dict() == first


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"child_id": 3}, "child_id"),
        ({"child_id": "c", "periods": [{"start": "2024-01-01"}]}, "periods.0.start_event_id"),
        ({"child_id": "c", "evaluated_as_of": "yesterday"}, "evaluated_as_of"),
    ],
)
def test_malformed_data_is_a_clear_error(data: Any, field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        ChildState.from_dict(data)
