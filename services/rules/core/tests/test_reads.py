"""The facts behind verdict reuse: each rule reads only the state fields its spec lists, and a verdict
stands (same findings, same next due date) from its evaluation date until its next due date."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, timedelta
from typing import Any

import pytest

from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine
from services.rules.core.rules.base import RuleSpec, Verdict
from services.rules.core.state import ChildState

from .history import histories

CONFIG = RulesConfig.default()
ENGINE = Engine(CONFIG)
FIELDS = frozenset(f.name for f in fields(ChildState))
# child_id never changes; events is read only through evidence(), whose entries never change once logged.
ALWAYS_ALLOWED = frozenset({"child_id", "events", "stamps"})  # evidence: an event's stamp never changes


class _Watched(ChildState):
    """A state that records which of its fields are read (methods included: they read through self)."""

    def __getattribute__(self, name: str) -> Any:
        if name in FIELDS:
            object.__getattribute__(self, "__dict__").setdefault("_read", set()).add(name)
        return super().__getattribute__(name)


def watched(state: ChildState) -> _Watched:
    copy = object.__new__(_Watched)
    copy.__dict__.update({f.name: getattr(state, f.name) for f in fields(ChildState)})
    return copy


def _dates(state: ChildState) -> list[date]:
    last = state.events[-1].occurred_on
    return [last + timedelta(days=offset) for offset in range(0, 900, 29)]


@pytest.mark.parametrize("spec", ENGINE.rules, ids=lambda spec: spec.id)
def test_each_rule_reads_only_the_fields_its_spec_lists(spec: RuleSpec) -> None:
    read: set[str] = set()
    for state in histories().values():
        for as_of in _dates(state):
            copy = watched(state)
            spec.evaluate(copy, as_of, CONFIG)
            read |= copy.__dict__.get("_read", set())
    assert read - ALWAYS_ALLOWED <= set(spec.reads)
    assert ("cin" if spec.reads == ("cin",) else "periods") in read  # the histories did exercise the rule


def _signature(verdict: Verdict) -> tuple[object, ...]:
    return (sorted((f.key, f.severity) for f in verdict.findings), verdict.next_due)


@pytest.mark.parametrize("spec", ENGINE.rules, ids=lambda spec: spec.id)
def test_a_verdict_stands_until_its_next_due_date(spec: RuleSpec) -> None:
    checked = 0
    for state in histories().values():
        for as_of in _dates(state):
            verdict = spec.evaluate(state, as_of, CONFIG)
            until = verdict.next_due or as_of + timedelta(days=800)
            for later in (as_of + timedelta(days=1), as_of + (until - as_of) // 2, until - timedelta(days=1)):
                if as_of < later < until:
                    assert _signature(spec.evaluate(state, later, CONFIG)) == _signature(verdict), (
                        state.child_id,
                        as_of,
                        later,
                    )
                    checked += 1
    assert checked > 100
