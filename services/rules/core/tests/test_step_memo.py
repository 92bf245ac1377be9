"""What a step remembers in the state's memo (the ids the facts cite, the findings of episodes overdue
for good) gives what computing them afresh gives, at every step of a history with late events, a
retraction and a retraction of an event that left the log."""

from __future__ import annotations

from datetime import date, timedelta

from schemas.events import CaseEvent, ClockTick, parse_event
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine
from services.rules.core.horizon import cited
from services.rules.core.order import interleave
from services.rules.core.state import ChildState

from .busy import START, busy_child

CONFIG = RulesConfig.default()


def _fresh(state: ChildState) -> ChildState:
    """The same state value without anything remembered (and its base likewise)."""
    copy = state.evolve()
    copy.__dict__.pop("_memo", None)
    copy.__dict__.pop("_stamped", None)
    if state.base is not None:
        base = state.base.evolve()
        base.__dict__.pop("_memo", None)
        copy.__dict__["base"] = base
    return copy


def _stream() -> list[CaseEvent | ClockTick]:
    raws = busy_child(years=3, interviewed=0.5, seed=4)
    events = [parse_event(raw, received_at=None) for raw in raws]
    until = START + timedelta(days=3 * 365)
    stream = list(interleave(events, until))

    def retraction(name: str, target: CaseEvent, on: date) -> CaseEvent:
        raw = {
            "type": "event.retracted",
            "event_id": name,
            "child_id": target.child_id,
            "occurred_at": on.isoformat(),
            "retracted_event_id": target.event_id,
        }
        return parse_event(raw, received_at=None)

    # A missing episode's end retracted within the log, and another's start after it left the log.
    ends = [e for e in events if e.type == "missing.ended"]
    starts = [e for e in events if e.type == "missing.started"]
    near, far = ends[10], starts[5]
    stream.insert(stream.index(near) + 5, retraction("r-near", near, near.occurred_on))
    stream.insert(stream.index(starts[30]), retraction("r-far", far, starts[30].occurred_on))
    # A visit arriving a month late.
    visit = next(e for e in events if e.type == "visit.completed" and e.occurred_on > START + timedelta(days=400))
    stream.remove(visit)
    month_later = next(e for e in events if e.occurred_on > visit.occurred_on + timedelta(days=30))
    stream.insert(stream.index(month_later), visit)
    return stream


def test_remembered_ids_and_findings_are_those_computed_afresh() -> None:
    engine = Engine(CONFIG)
    state: ChildState | None = None
    as_of = START
    for item in _stream():
        if isinstance(item, ClockTick):
            as_of = item.as_of
            if state is not None and as_of.day == 1:
                state = engine.on_tick(state, as_of).state
            continue
        state = engine.on_event(state, item, max(as_of, item.occurred_on)).state
        fresh = _fresh(state)
        assert cited(state) == cited(fresh)
        for spec in engine.rules:
            assert spec.evaluate(state, state.evaluated_as_of or as_of, CONFIG) == spec.evaluate(
                fresh, state.evaluated_as_of or as_of, CONFIG
            ), spec.id
        assert engine.findings(state, as_of)[0] == engine.findings(fresh, as_of)[0]
    assert state is not None and state.needs_rebuild
    remembered = state.memo["rhi-overdue.findings"][3]
    assert len(remembered) > 3  # the episodes overdue for good, whose findings were reused
