"""A small synthetic authority's history (the demo generator), replayed once per test session."""

from __future__ import annotations

from datetime import date
from functools import cache

from pydantic import ValidationError

from schemas.events import CaseEvent, parse_event
from services.demo.generator import generate
from services.rules.core.config import RulesConfig
from services.rules.core.state import ChildState
from services.rules.replay import replay

UNTIL = date(2026, 1, 31)
CIN_CHILDREN = 80
"""Children of the children in need flow kept (the first referred): enough for every CIN/CP rule."""


@cache
def events() -> tuple[CaseEvent, ...]:
    """Two years of 40 children in care and the children in need around them (the generator's deliberately
    invalid records left out)."""
    parsed: list[CaseEvent] = []
    for raw in generate(seed=5, children=40, months=24, start=date(2024, 1, 1), cin=True):
        child = raw["child_id"]
        if child.startswith("kp") or (child.startswith("k") and int(child[1:]) > CIN_CHILDREN):
            continue  # "kp": plans already open when the flow begins (its own draws, not needed here)
        try:
            parsed.append(parse_event(raw, received_at=None))
        except ValidationError:
            continue
    return tuple(parsed)


@cache
def histories() -> dict[str, ChildState]:
    """Each child's state at the end of the history."""
    return replay(events(), UNTIL, RulesConfig.default()).states
