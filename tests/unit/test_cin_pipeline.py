"""CIN/CP events pass through the existing pipeline: ingest validation accepts them (and dead-letters bad
ones with their paths), the rules kernel folds them without error, and replay runs over them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson

from schemas.events import parse_event
from services.ingest.validation import Accepted, BatchValidator, Rejected
from services.rules.core.config import RulesConfig
from services.rules.core.fold import Change, apply
from services.rules.replay import replay
from tests.unit.test_events_cin import CIN_VALID_BODIES

RECEIVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def example(event_type: str, n: int = 0) -> dict[str, object]:
    return {
        "event_id": f"e-{n}-{event_type}",
        "type": event_type,
        "child_id": "C-9",
        "occurred_at": "2025-05-20",
        **CIN_VALID_BODIES[event_type],
    }


def test_ingest_accepts_every_cin_type() -> None:
    validator = BatchValidator(RECEIVED)
    for event_type in CIN_VALID_BODIES:
        outcome = validator.check_bytes(orjson.dumps(example(event_type)))
        assert isinstance(outcome, Accepted), (event_type, outcome)
        assert outcome.event_type == event_type


def test_ingest_rejects_a_bad_cin_event_with_its_path() -> None:
    outcome = BatchValidator(RECEIVED).check_bytes(orjson.dumps({**example("case.closed"), "reason": "RC0"}))
    assert isinstance(outcome, Rejected)
    assert outcome.event_type == "case.closed"
    assert [error.path for error in outcome.errors] == ["$.reason"]


def test_the_rules_fold_takes_cin_events_without_error() -> None:
    state = None
    for n, event_type in enumerate(CIN_VALID_BODIES):
        state, change = apply(state, parse_event(example(event_type, n), received_at=None))
        assert change is not Change.DUPLICATE
    assert state is not None and len(state.events) == len(CIN_VALID_BODIES)


def test_replay_runs_over_cin_events() -> None:
    events = [parse_event(example(event_type, n), received_at=None) for n, event_type in enumerate(CIN_VALID_BODIES)]
    result = replay(events, date(2025, 8, 1), RulesConfig.default())
    assert result.events_applied == len(CIN_VALID_BODIES)
