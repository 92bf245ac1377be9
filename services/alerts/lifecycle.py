"""The alert lifecycle, free of storage: how engine transitions and people move an occurrence along.

    raised ──acknowledge (manager, note)──► acknowledged
      │                                         │
      ├──────────── resolved (engine) ──────────┤──► resolved
      └──────────── close (manager, reason) ────┘──► closed

Engine transitions are ordered by ``(at, state)`` with raised before resolved on the same day. Each
occurrence remembers the newest key it has applied, so a repeat is a no-op and an older transition never
overrides a newer one: the engine view always ends as the newest transition says, whatever the arrival order.
A raised after the occurrence left the open states starts a new occurrence linked to the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType
from typing import Final, Literal

from schemas.alerts import AlertTransition, Severity
from services.rules.core.calendar import add_working_days

State = Literal["raised", "acknowledged", "resolved", "closed"]
OPEN_STATES: Final[frozenset[str]] = frozenset({"raised", "acknowledged"})
STATES: Final = ("raised", "acknowledged", "resolved", "closed")
_TRANSITION_RANK: Final = {"raised": 0, "resolved": 1}

CLOSE_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "action-taken": "Action taken: the work is booked or done",
        "recorded-late": "It happened on time but was recorded late",
        "recording-error": "The case record was wrong and has been corrected",
        "not-applicable": "The rule does not apply to this child's circumstances",
        "duplicate": "Duplicate of another alert",
    }
)

Action = Literal["opened", "updated", "resolved", "backfilled", "ignored"]


class LifecycleError(ValueError):
    """A human action that the occurrence's state does not allow."""


@dataclass(frozen=True)
class Occurrence:
    """The lifecycle-relevant part of one stored occurrence."""

    number: int
    state: State
    engine_state: Literal["raised", "resolved"]
    last_at: date
    last_state: Literal["raised", "resolved"]
    raised_at: date | None
    resolved_at: date | None

    @property
    def last_key(self) -> tuple[date, int]:
        return (self.last_at, _TRANSITION_RANK[self.last_state])

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Outcome:
    """What applying one transition does: ``occurrence`` is the new value of the affected occurrence."""

    action: Action
    occurrence: Occurrence | None
    reason: str


def transition_key(transition: AlertTransition) -> tuple[date, int]:
    return (transition.at, _TRANSITION_RANK[transition.state])


def apply_transition(latest: Occurrence | None, transition: AlertTransition) -> Outcome:
    """Decide what ``transition`` does to the fingerprint whose newest occurrence is ``latest``."""
    if latest is None:
        return Outcome("opened", _new_occurrence(1, transition), "first transition of this fingerprint")
    key = transition_key(transition)
    if key == latest.last_key:
        return Outcome("ignored", None, "repeat of the newest transition applied")
    if key < latest.last_key:
        if transition.state == "raised" and latest.raised_at is None:
            # The resolved overtook its raised: fill in when the occurrence started.
            return Outcome("backfilled", replace(latest, raised_at=transition.at), "late raised")
        return Outcome("ignored", None, "older than the newest transition applied")
    if transition.state == "raised":
        if latest.is_open:
            moved = replace(latest, engine_state="raised", last_at=transition.at, last_state="raised")
            return Outcome("updated", moved, "still raised: details refreshed")
        return Outcome("opened", _new_occurrence(latest.number + 1, transition), "raised again after it cleared")
    if latest.engine_state == "resolved":
        moved = replace(latest, last_at=transition.at, last_state="resolved")
        return Outcome("updated", moved, "already resolved")
    state: State = "resolved" if latest.is_open else latest.state
    resolved = replace(
        latest,
        state=state,
        engine_state="resolved",
        last_at=transition.at,
        last_state="resolved",
        resolved_at=transition.at,
    )
    return Outcome("resolved", resolved, "the condition cleared")


def _new_occurrence(number: int, transition: AlertTransition) -> Occurrence:
    raised = transition.state == "raised"
    return Occurrence(
        number=number,
        state="raised" if raised else "resolved",
        engine_state=transition.state,
        last_at=transition.at,
        last_state=transition.state,
        raised_at=transition.at if raised else None,
        resolved_at=None if raised else transition.at,
    )


def check_acknowledge(state: str) -> None:
    if state != "raised":
        raise LifecycleError(f"only a raised alert can be acknowledged (this one is {state})")


def check_close(state: str, reason: str) -> None:
    if state not in OPEN_STATES:
        raise LifecycleError(f"only an open alert can be closed (this one is {state})")
    if reason not in CLOSE_REASONS:
        raise LifecycleError(f"unknown close reason {reason!r}; one of: {', '.join(CLOSE_REASONS)}")


@dataclass(frozen=True)
class EscalationPolicy:
    """Working days a raised alert may stay unacknowledged, per severity, before the head of service hears
    (``AlertsSettings.escalation_working_days``)."""

    working_days: Mapping[str, int]

    def due_on(self, raised_at: date, severity: Severity | str) -> date:
        return add_working_days(raised_at, self.working_days[severity])

    def is_due(self, state: str, raised_at: date | None, severity: Severity | str, today: date) -> bool:
        """Escalate from the due day on, only while nobody has acknowledged it."""
        return state == "raised" and raised_at is not None and today >= self.due_on(raised_at, severity)
