"""The stored form of a child's state: a compact versioned list, a lossless round trip through JSON bytes,
and clear errors for another format or malformed data."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.rules.core import codec
from services.rules.core.codec import STATE_FORMAT, StateFormatError

from .history import histories


def test_round_trip_through_json_bytes_is_lossless() -> None:
    states = list(histories().values())
    assert any(state.findings for state in states) and any(state.missing_episodes for state in states)
    assert any(state.base is not None for state in states)  # some histories are longer than the log
    for state in states:
        raw = codec.dumps(state)
        back = codec.loads(raw)
        assert back == state
        assert back.processed_ids == state.processed_ids  # not stored: the ids of the log
        assert codec.dumps(back) == raw


def test_the_stored_form_is_plain_positional_data_with_its_format_first() -> None:
    state = max(histories().values(), key=lambda s: len(s.events))
    data = codec.encode(state)
    assert data[0] == STATE_FORMAT and data[1] == state.child_id
    assert orjson.loads(orjson.dumps(data)) == data  # JSON-safe as it is
    shorter = state.evolve(events=state.events[:-1], visits=())
    assert codec.encode(shorter)[3] == data[3][:-1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"child_id": "c"}, f"format {STATE_FORMAT}"),
        ([1, "c"], f"format {STATE_FORMAT}"),
        ([STATE_FORMAT, "c"], "malformed"),
        (
            [STATE_FORMAT, "c", [], [], [], [], "yesterday", [], None, None, "", None, None, None, [], False],
            "malformed",
        ),
    ],
)
def test_another_format_or_malformed_data_is_a_clear_error(data: Any, message: str) -> None:
    with pytest.raises(StateFormatError, match=message):
        codec.decode(data)


def test_bytes_that_are_not_json_are_a_clear_error() -> None:
    with pytest.raises(StateFormatError, match="not JSON"):
        codec.loads(b"{oops")


def test_a_state_of_the_previous_format_is_read_without_resolution_dates() -> None:
    # Format 4 is format 5 without the last value (the alerts' last resolution dates).
    state = max(histories().values(), key=lambda s: len(s.resolved))
    assert state.resolved  # the histories resolve alerts, so the newer format has something more to say
    older = [4, *codec.encode(state)[1:16]]
    back = codec.decode(orjson.loads(orjson.dumps(older)))
    assert back.resolved == ()
    assert codec.encode(back)[1:16] == codec.encode(state)[1:16]
    assert codec.decode(codec.encode(state)).resolved == state.resolved
    with pytest.raises(StateFormatError, match="malformed"):
        codec.decode([STATE_FORMAT, *older[1:]])  # the newer format needs its last value
