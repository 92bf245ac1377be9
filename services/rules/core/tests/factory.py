"""Small builders for rule tests: events as the contract spells them, folded into a state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from itertools import count
from typing import Any

from schemas.events import CaseEvent, parse_event
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine
from services.rules.core.fold import apply
from services.rules.core.horizon import DEFAULT_HORIZON, Horizon
from services.rules.core.state import ChildState

CHILD = "c-001"
_ids = count(1)


def ev(
    event_type: str, on: date | str, child: str = CHILD, event_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"e{next(_ids):05d}",
        "type": event_type,
        "child_id": child,
        "occurred_at": on if isinstance(on, str) else on.isoformat(),
        **fields,
    }


def started(on: date, dob: date, **fields: Any) -> dict[str, Any]:
    return ev("care.started", on, date_of_birth=dob.isoformat(), sex="F", legal_status="C2", **fields)


def parsed(events: Iterable[dict[str, Any]]) -> list[CaseEvent]:
    return [parse_event(data, received_at=None) for data in events]


def fold(events: Iterable[dict[str, Any]], horizon: Horizon = DEFAULT_HORIZON) -> ChildState:
    state: ChildState | None = None
    for event in parsed(events):
        state, _ = apply(state, event, horizon)
    assert state is not None
    return state


def rules_on(events: Iterable[dict[str, Any]], as_of: date, config: RulesConfig | None = None) -> dict[str, str]:
    """rule id → severity of the findings true on ``as_of``."""
    engine = Engine(config or RulesConfig.default())
    found, _ = engine.findings(fold(events), as_of)
    return {finding.rule: finding.severity for finding in found}


def fires(rule: str, events: Iterable[dict[str, Any]], as_of: date, config: RulesConfig | None = None) -> bool:
    return rule in rules_on(list(events), as_of, config)
