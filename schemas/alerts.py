"""The alert transition record (CONTRACT §2): what rules emit, replay writes and the alerts topic carries."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

Severity = Literal["low", "medium", "high"]
SEVERITY_ORDER: Final = {"low": 0, "medium": 1, "high": 2}
TransitionState = Literal["raised", "resolved"]
Scope = Literal["child", "authority"]


class EvidenceEvent(BaseModel):
    """An event that proves (part of) a finding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    type: str
    occurred_at: str = Field(description="ISO date or datetime as the event carried it")


class ChartPoint(BaseModel):
    """One point of the series an authority alert was read from (CONTRACT §6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: date = Field(description="The month (first day) or date the value is for")
    value: float
    signals: tuple[str, ...] = Field(default=(), description="Special-cause rules this point is part of")


class AlertTransition(BaseModel):
    """A finding appearing (raised) or clearing (resolved) for one child, at event time; or, with
    ``scope: "authority"``, for the authority as a whole (a special cause on an indicator's series: no child,
    ``subject`` = the indicator id, the chart's points as evidence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str = Field(description="Deterministic id of (rule, child, subject)")
    rule: str
    child_id: str | None = Field(default=None, description="Required for scope child; absent for scope authority")
    state: TransitionState
    at: date = Field(description="The date the transition took effect (event time)")
    severity: Severity
    summary: str = Field(description="One plain-English sentence")
    evidence: tuple[EvidenceEvent, ...] = ()
    dates: dict[str, date] = Field(default_factory=dict, description="Computed dates, e.g. the deadline")
    team: str | None = Field(default=None, description="The child's team when the transition happened")
    scope: Scope = Field(default="child", description="child: a case alert; authority: an alert on a series")
    subject: str | None = Field(default=None, description="What the alert is about (authority: the indicator id)")
    points: tuple[ChartPoint, ...] = Field(default=(), description="Authority alerts: the series read")
    limits: dict[str, float] = Field(default_factory=dict, description="Authority alerts: mean and limits")

    @model_validator(mode="after")
    def _scope_consistent(self) -> AlertTransition:
        if self.scope == "child" and not self.child_id:
            raise ValueError("child_id is required for a child alert")
        if self.scope == "authority" and self.child_id is not None:
            raise ValueError("an authority alert carries no child_id")
        return self

    def sort_key(self) -> tuple[date, str, str]:
        return (self.at, self.fingerprint, self.state)


TRANSITION_ADAPTER: Final = TypeAdapter(AlertTransition)


AUTHORITY_KEY_PREFIX: Final = "authority:"
"""The alerts topic's record key: a case transition's is the child id, an authority transition's this prefix
and the series (its ``subject``), so the series' transitions stay in order on one partition."""


def authority_key(subject: str) -> str:
    return AUTHORITY_KEY_PREFIX + subject


def is_authority_key(key: str) -> bool:
    return key.startswith(AUTHORITY_KEY_PREFIX)


def fingerprint(rule: str, child_id: str, subject: str = "") -> str:
    """Stable across processes and replays: the same (rule, child, subject) always gives the same id."""
    digest = hashlib.sha256(f"{rule}\x1f{child_id}\x1f{subject}".encode()).hexdigest()
    return digest[:24]
