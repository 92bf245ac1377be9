"""The alert transition record (CONTRACT §2): what rules emit, replay writes and the alerts topic carries."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Severity = Literal["low", "medium", "high"]
SEVERITY_ORDER: Final = {"low": 0, "medium": 1, "high": 2}
TransitionState = Literal["raised", "resolved"]


class EvidenceEvent(BaseModel):
    """An event that proves (part of) a finding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    type: str
    occurred_at: str = Field(description="ISO date or datetime as the event carried it")


class AlertTransition(BaseModel):
    """A finding appearing (raised) or clearing (resolved) for one child, at event time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str = Field(description="Deterministic id of (rule, child, subject)")
    rule: str
    child_id: str
    state: TransitionState
    at: date = Field(description="The date the transition took effect (event time)")
    severity: Severity
    summary: str = Field(description="One plain-English sentence")
    evidence: tuple[EvidenceEvent, ...] = ()
    dates: dict[str, date] = Field(default_factory=dict, description="Computed dates, e.g. the deadline")
    team: str | None = Field(default=None, description="The child's team when the transition happened")

    def sort_key(self) -> tuple[date, str, str]:
        return (self.at, self.fingerprint, self.state)


TRANSITION_ADAPTER: Final = TypeAdapter(AlertTransition)


def fingerprint(rule: str, child_id: str, subject: str = "") -> str:
    """Stable across processes and replays: the same (rule, child, subject) always gives the same id."""
    digest = hashlib.sha256(f"{rule}\x1f{child_id}\x1f{subject}".encode()).hexdigest()
    return digest[:24]
