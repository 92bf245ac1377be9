"""The stored form of a child's state: a compact versioned list, a lossless round trip through JSON bytes,
and clear errors for another format or malformed data."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from services.rules.core import codec
from services.rules.core.codec import STATE_FORMAT, StateFormatError, Trailer

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


def test_a_state_of_format_5_is_read_whole_and_has_no_trailer_to_read() -> None:
    # Format 5 is format 6 without the trailer: nothing of the state is lost, but its wake date needs a decode.
    state = max(histories().values(), key=lambda s: len(s.events))
    older = orjson.dumps([5, *codec.encode(state)[1:17]])
    assert codec.loads(older) == state
    assert codec.trailer(older) is None and not codec.knows(older, state.catalogue)
    assert codec.trailer(orjson.dumps([4, *codec.encode(state)[1:16]])) is None


def test_the_trailer_is_the_last_fixed_number_of_bytes_and_says_the_partition() -> None:
    for state in histories().values():
        raw = codec.dumps(state, partition=12)
        assert orjson.loads(raw)[-1] == raw[-codec.TRAILER_SIZE + 2 : -2].decode()
        found = codec.trailer(raw)
        assert (
            found is not None and found.partition == 12 and found.catalogue == codec.catalogue_digest(state.catalogue)
        )
        assert codec.trailer(codec.dumps(state)) == Trailer(found.wake, found.catalogue, 0)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b'{"state": [5], "wake": null}',
        b'[6,"c","cw6:0739651:e3414d7c7e7e18b3:00007"',  # cut short
        b'[6,"c","cw6:0739651:E3414D7C7E7E18B3:00007"]',  # not the digest's digits
        b'[6,"c","cw6:9999999:e3414d7c7e7e18b3:00007"]',  # past date.max
        b'[6,"c","cw6:07396x1:e3414d7c7e7e18b3:00007"]',
        b'[6,"c","cw5:0739651:e3414d7c7e7e18b3:00007"]',
        b'[5,"c","cw6:0739651:e3414d7c7e7e18b3:00007"]',
    ],
)
def test_bytes_without_a_trailer_of_this_format_have_none(raw: bytes) -> None:
    assert codec.trailer(raw) is None


def test_a_partition_the_trailer_cannot_hold_is_refused() -> None:
    state = next(iter(histories().values()))
    with pytest.raises(ValueError, match="partition"):
        codec.dumps(state, partition=codec.MAX_PARTITION + 1)


def test_well_formed_trailer_bytes_are_read() -> None:
    # The shape the cases above break, intact.
    raw = b'[6,"c","cw6:0739651:e3414d7c7e7e18b3:00007"]'
    assert codec.trailer(raw) == Trailer(date.fromordinal(739651), "e3414d7c7e7e18b3", 7)
