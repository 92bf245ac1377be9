"""The per-child kernel: one pure step function that every driver runs (the stream worker, replay, the
board's rebuild).

Given a child's state and an event or a clock tick, :class:`Kernel` returns a :class:`Step`: the new
state, the alert transitions, the indicator deltas (the child's contributions, old out and new in) and
the date at which the child next needs a tick (``wake_at``; None: only an event can change anything).
The model is a stateful operator with a notification time (bytewax's ``StatefulLogic.notify_at``):
drivers keep a :class:`~services.rules.core.order.WakeIndex` of ``wake_at`` dates and walk a history
in the one day order of :func:`~services.rules.core.order.interleave`.

Everything a step needs is in the state: the findings of the last evaluation, the rules' next due date,
the last contributions published and the date they may next change, and the catalogue version they
were computed with. A state carrying another catalogue version (after a deploy that added or changed
a rule or an indicator) is evaluated in full on its next touch, and :meth:`Kernel.stale` tells a driver
to touch it at its next tick.

Contributions are recomputed only when a fact they read changed or their next-change date has come
(both exact: :func:`~services.rules.core.indicators.next_change` is a superset of the dates on which a
contribution can change without a new fact), and then definition by definition: only those reading a
changed fact, or with a date of their own read facts since the last check
(:func:`~services.rules.core.indicators.schedule`, which keeps each group's next date); the others keep
their rows of the last check, kept in the state's memo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Final

from schemas.alerts import AlertTransition
from schemas.deltas import Contribution, Delta
from schemas.events import CaseEvent

from . import indicators
from .config import RulesConfig
from .engine import Engine, Outcome
from .horizon import DEFAULT_HORIZON, Horizon
from .state import ChildState, wake_at

KERNEL_VERSION: Final = "kernel-2"
"""Bump when the kernel's own output changes for the same catalogue (part of the catalogue version; 2: an
alert true again after its resolution is raised no earlier than that resolution)."""


def catalogue_version(config: RulesConfig) -> str:
    """A short digest of the rule catalogue (enabled rules and their parameters, the school calendar) and
    of the indicator definitions' version: equal versions give equal outputs for equal states."""
    described = {
        "rules": {rule_id: params.model_dump(mode="json") for rule_id, params in sorted(config.rules.items())},
        "calendar": config.calendar.model_dump(mode="json"),
        "indicators": indicators.INDICATORS_VERSION,
        "kernel": KERNEL_VERSION,
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Step:
    """What one event or tick did to one child."""

    state: ChildState
    transitions: tuple[AlertTransition, ...]
    deltas: tuple[Delta, ...]
    wake_at: date | None
    """When a tick must next look at this child (the earlier of the rules' and the indicators' dates)."""


class Kernel:
    """The per-child step function for one rule configuration."""

    def __init__(self, config: RulesConfig, *, reuse: bool = True, horizon: Horizon = DEFAULT_HORIZON) -> None:
        self.config = config
        self.engine = Engine(config, reuse=reuse, horizon=horizon)
        self.version = catalogue_version(config)

    # -- the two entry points --------------------------------------------------------------------------
    def on_event(self, state: ChildState | None, event: CaseEvent, as_of: date) -> Step:
        """Apply ``event`` (a repeat of a processed event id changes nothing) and evaluate as of the later of
        ``as_of`` (the driver's clock), the event's date and the child's last evaluation: a child's time
        never goes back (after a crash the state can be ahead of re-read records and of the clock)."""
        when = max(as_of, event.occurred_on)
        if state is not None and state.evaluated_as_of is not None and state.evaluated_as_of > when:
            when = state.evaluated_as_of
        if state is not None and state.catalogue != self.version:
            state = _forget(state)
        outcome = self.engine.on_event(state, event, when)
        return self._finish(outcome, when, force=state is None or state.catalogue != self.version)

    def on_tick(self, state: ChildState, as_of: date) -> Step:
        """Let time pass to ``as_of`` (never back before the child's last evaluation): the rules are
        evaluated when their next due date has come, the contributions when theirs has; a state of
        another catalogue version is evaluated in full."""
        when = as_of if state.evaluated_as_of is None or as_of >= state.evaluated_as_of else state.evaluated_as_of
        if state.catalogue != self.version:
            outcome = self.engine.on_tick(_forget(state), when)
            return self._finish(outcome, when, force=True)
        if state.rules_due is not None and state.rules_due <= as_of:
            return self._finish(self.engine.on_tick(state, when), when, force=False)
        if state.indicators_due is not None and state.indicators_due <= as_of:
            return self._contributions(state, (), when, force=False)
        return Step(state, (), (), self.wake_at(state))

    # -- helpers for drivers ---------------------------------------------------------------------------
    def stale(self, state: ChildState) -> bool:
        """The state was computed with another catalogue version: touch it at the next tick."""
        return state.catalogue != self.version

    @staticmethod
    def wake_at(state: ChildState) -> date | None:
        return wake_at(state)

    @staticmethod
    def contributions(state: ChildState) -> dict[str, Contribution]:
        """The child's last published contributions."""
        return {name: Contribution(numerator, denominator) for name, numerator, denominator in state.contributions}

    # -- internals -------------------------------------------------------------------------------------
    def _finish(self, outcome: Outcome, as_of: date, *, force: bool) -> Step:
        state = outcome.state
        if state.rules_due != outcome.next_due:
            state = state.evolve(rules_due=outcome.next_due)
        return self._contributions(state, outcome.transitions, as_of, force=force)

    def _contributions(
        self, state: ChildState, transitions: tuple[AlertTransition, ...], as_of: date, *, force: bool
    ) -> Step:
        memo = state.memo
        facts = indicators.facts_read(state)
        checked: _Checked | None = memo.get(_CHECKED)
        due = state.indicators_due
        if not force and checked is not None and checked[1] <= as_of and state.catalogue == self.version:
            before, _, old_parts, old_rows, old_schedule = checked
            if (due is None or as_of < due) and before == facts:
                # Nothing the contributions read changed and their next change has not come: they stand.
                return Step(state, transitions, (), self.wake_at(state))
            # Only the definitions that read a changed field or whose own next change has come can give
            # anything else than at the last check.
            moved = [
                name for name, now, old in zip(indicators.FACTS_READ, facts, before, strict=True) if now is not old
            ]
            redo, schedule = indicators.schedule(state, as_of, old_schedule, moved)
            for name in moved:
                redo |= indicators.FIELD_READERS[name]
            parts = indicators.contribution_parts(state, as_of, old_parts, frozenset(redo))
            # The same parts (no definition gave other rows): the same sorted rows as at the last check.
            new = old_rows if parts is old_parts else indicators.rows_of(parts)
        else:
            parts = indicators.contribution_parts(state, as_of)
            new = indicators.rows_of(parts)
            schedule = indicators.schedule(state, as_of)[1]
        due = indicators.earliest(schedule)
        changes: tuple[Delta, ...] = ()
        if new != state.contributions:
            changes = tuple(_deltas(state.child_id, state.contributions, new))
        if new != state.contributions or due != state.indicators_due or state.catalogue != self.version:
            state = state.evolve(contributions=new, indicators_due=due, catalogue=self.version)
        state.memo[_CHECKED] = (facts, as_of, parts, new, schedule)
        return Step(state, transitions, changes, self.wake_at(state))


_CHECKED: Final = "kernel.contributions_checked"
_Checked = tuple[tuple[object, ...], date, indicators.Parts, tuple[indicators.Row, ...], indicators.Schedule]
"""The last contribution check of a state: its facts, date, per-definition rows, their sorted union and
the next candidate date of each group (:func:`~services.rules.core.indicators.schedule`)."""


def _forget(state: ChildState) -> ChildState:
    """The state without its evaluation memo (so the engine evaluates every rule afresh)."""
    fresh = state.evolve()
    fresh.__dict__.pop("_memo", None)
    return fresh


def _deltas(child: str, old: tuple[tuple[str, int, int], ...], new: tuple[tuple[str, int, int], ...]) -> list[Delta]:
    before = {name: (numerator, denominator) for name, numerator, denominator in old}
    after = {name: (numerator, denominator) for name, numerator, denominator in new}
    changed = []
    for indicator in sorted(before.keys() | after.keys()):
        was, now = before.get(indicator, (0, 0)), after.get(indicator, (0, 0))
        if was != now:
            changed.append(Delta(child, indicator, Contribution(*was), Contribution(*now)))
    return changed
