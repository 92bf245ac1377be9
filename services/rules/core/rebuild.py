"""Rebuilding one child from its whole history: what makes deep corrections exact.

A correction older than the child's re-fold log (see :mod:`.horizon`) leaves the state approximate and
flagged (:attr:`ChildState.needs_rebuild`). A driver then asks its event archive for every event of the
child and calls :func:`rebuild`, which runs those events through the same :class:`~.kernel.Kernel` as
replay, in the one day order of :func:`~.order.interleave` with the child's own wake dates, and returns
the rebuilt state together with the alert transitions and indicator deltas that take what was published
for the child (the findings and contributions of the state *before* the correction) to what the rebuilt
state holds. Applying them leaves the alerts and the board's totals as a replay with rebuilds gives.

The history is taken as the archive knows it: events dated after ``as_of`` (the driver's evaluation date)
are left for the driver to process when they come; a retracted event is left out altogether (a
retraction dated long after its target would otherwise be deep even in date order), and its retraction
is folded at its own date, so the rebuilt state remembers the target as retracted.

This module reads no archive: the driver passes the events (the stream worker from the archive adapter
it was given, replay from its own input). :func:`stale` is the restored-state check: does a stored state
know the child's last archived event?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from schemas.alerts import AlertTransition, fingerprint
from schemas.deltas import deltas
from schemas.events import CaseEvent, ClockTick, EventRetracted

from .engine import remember, transition
from .kernel import Kernel, Step
from .order import interleave
from .state import ChildState, Finding


def history(events: Iterable[CaseEvent], as_of: date) -> list[CaseEvent]:
    """The events a rebuild as of ``as_of`` folds: those dated on or before it, each event id once,
    without the events a retraction among them withdraws."""
    seen: dict[str, CaseEvent] = {}
    for event in events:
        if event.occurred_on <= as_of:
            seen.setdefault(event.event_id, event)
    withdrawn = {event.retracted_event_id for event in seen.values() if isinstance(event, EventRetracted)}
    return [event for event_id, event in seen.items() if event_id not in withdrawn]


def replay_child(kernel: Kernel, events: Iterable[CaseEvent], as_of: date) -> ChildState | None:
    """The child's state after its :func:`history` as of ``as_of``, walked as replay walks it (each event
    evaluated as of its own date, a tick on each day its wake date has come). None: no events."""
    return _walk(kernel, history(events, as_of), as_of)[0]


def _walk(kernel: Kernel, events: list[CaseEvent], as_of: date) -> tuple[ChildState | None, dict[str, date]]:
    """:func:`replay_child` over an already taken history, with the date of each alert's last resolution
    in the walk (fingerprint → date; an alert whose last transition is a raise is not in it)."""
    state: ChildState | None = None
    wake: date | None = None
    resolved: dict[str, date] = {}

    def note(step: Step) -> None:
        for t in step.transitions:
            if t.state == "resolved":
                resolved[t.fingerprint] = t.at
            else:
                resolved.pop(t.fingerprint, None)

    for item in interleave(events, as_of):
        if isinstance(item, ClockTick):
            if state is not None and wake is not None and wake <= item.as_of:
                step = kernel.on_tick(state, item.as_of)
                note(step)
                state, wake = step.state, step.wake_at
            continue
        step = kernel.on_event(state, item, item.occurred_on)
        note(step)
        state, wake = step.state, step.wake_at
    return state, resolved


def changed_on(before: ChildState | None, events: Iterable[CaseEvent], changed_at: date | None = None) -> date | None:
    """The first day on which the history differs from what ``before`` was computed from: the earlier of
    ``changed_at`` (the correction being processed; a deep one is older than the log, where :func:`knows`
    takes every event for known) and the date of the first of ``events`` that ``before`` does not know.
    None: no state before (nothing was published), or no difference that can be told."""
    if before is None:
        return None
    found = changed_at
    for event in events:
        if (found is None or event.occurred_on < found) and not knows(before, event.event_id, event.occurred_on):
            found = event.occurred_on
    return found


def rebuild(
    kernel: Kernel,
    before: ChildState | None,
    events: Iterable[CaseEvent],
    as_of: date,
    changed_at: date | None = None,
) -> Step | None:
    """The child rebuilt from ``events`` (its whole archived history) as of ``as_of``, with the
    transitions and deltas from ``before`` (the state whose findings and contributions were published
    last) to the rebuilt one. None when there is nothing to rebuild from. ``changed_at``: the date of
    the correction that flagged the child (see :func:`changed_on`).

    Dates, as the kernel dates the transitions of a late event or a retraction (``changed`` is the
    first day the history changed, :func:`changed_on`): a raise at the date the walk over the whole
    history raised the finding (the day it became true), not before ``changed`` (it could not be known
    earlier); a resolution at the date the walk last resolved the alert, not before ``changed`` nor
    before the alert's raise. None of these depends on the driver's clock (``as_of`` only bounds the
    history), so the stream worker, whenever the correction reaches it, publishes what a replay of the
    same archive publishes.
    """
    taken = history(events, as_of)
    rebuilt, resolved = _walk(kernel, taken, as_of)
    if rebuilt is None:
        return None
    changed = changed_on(before, taken, changed_at)
    floor = date.min if before is None else (changed or as_of)
    old = {finding.key: finding for finding in before.findings} if before is not None else {}
    transitions: list[AlertTransition] = []
    kept: list[Finding] = []
    for finding in rebuilt.findings:
        previous = old.get(finding.key)
        if previous is not None and previous.severity == finding.severity:
            kept.append(previous)  # unchanged alert: it stays raised as published
            continue
        at = max(finding.raised_at or finding.since, floor)
        kept.append(replace(finding, raised_at=at))
        transitions.append(transition(rebuilt, finding, "raised", at))
    now = {finding.key for finding in rebuilt.findings}
    # The resolutions published for the child (before's) and those published now, with the rebuilt
    # history's own: a finding true again later is raised no earlier than any of them.
    resolutions = {(rule, subject): on for rule, subject, on in before.resolved} if before is not None else {}
    for key, finding in old.items():
        if key not in now:
            last = resolved.get(fingerprint(finding.rule, rebuilt.child_id, finding.subject), date.min)
            at = max(floor, last, finding.raised_at or finding.since)
            transitions.append(transition(rebuilt, finding, "resolved", at))
            resolutions[key] = at
    transitions.sort(key=AlertTransition.sort_key)
    old_contributions = Kernel.contributions(before) if before is not None else {}
    changes = tuple(deltas(rebuilt.child_id, old_contributions, Kernel.contributions(rebuilt)))
    state = rebuilt.evolve(findings=tuple(kept), needs_rebuild=False, resolved=remember(rebuilt.resolved, resolutions))
    return Step(state, tuple(transitions), changes, Kernel.wake_at(state))


def knows(state: ChildState, event_id: str, occurred_on: date) -> bool:
    """Whether ``state`` has applied the event (``event_id`` dated ``occurred_on``): it is in the log, was
    retracted, is cited by a kept fact, or is older than the log (the state holds later events)."""
    if event_id in state.processed_ids or event_id in state.retracted_ids or event_id in state.stamps:
        return True
    return state.log_from is not None and occurred_on < state.log_from


def stale(state: ChildState, last_event_id: str, last_on: date) -> bool:
    """The restored-state check: the archive's last event of the child (in fold order) is not in the
    state, so the state missed at least that update (the child is to be rebuilt)."""
    return not knows(state, last_event_id, last_on)
