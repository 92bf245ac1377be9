"""Tables of the alerts service: alert occurrences and their history, routing, notifications, users, audit.

Migrations live in ``carewatch/migrations/versions`` (branch ``alerts``); a test keeps them equal.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from carewatch.db import Base


class Alert(Base):
    """One occurrence of a finding: a fingerprint raised again after it cleared is a new, linked row.

    ``scope`` is ``child`` for a case alert (a child id, a team) or ``authority`` for an alert on one of
    the authority's own series (CONTRACT §6: no child, ``subject`` = the indicator id, the chart read in
    ``chart``), which only the board's audience sees and hears about.
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("fingerprint", "occurrence", name="uq_alert_fingerprint_occurrence"),
        Index("ix_alert_state_team", "state", "team"),
        Index("ix_alert_child_id", "child_id"),
        Index("ix_alert_scope_state", "scope", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    occurrence: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), doc="raised, acknowledged, resolved or closed")
    engine_state: Mapped[str] = mapped_column(String(16), doc="the rules engine's view: raised or resolved")
    last_transition_at: Mapped[date] = mapped_column(Date, doc="event date of the newest transition applied")
    last_transition_state: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(8))
    child_id: Mapped[str | None] = mapped_column(String(64), doc="None for an authority alert")
    scope: Mapped[str] = mapped_column(String(16), default="child", server_default="child", doc="child or authority")
    subject: Mapped[str | None] = mapped_column(String(128), doc="an authority alert's indicator id")
    chart: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="an authority alert's points and limits")
    team: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    dates: Mapped[dict[str, str]] = mapped_column(JSON)
    raised_at: Mapped[date | None] = mapped_column(Date, doc="None while only the resolved has arrived")
    resolved_at: Mapped[date | None] = mapped_column(Date)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(String(32))
    close_note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    history: Mapped[list[AlertHistory]] = relationship(
        back_populates="alert", order_by="AlertHistory.id", cascade="all, delete-orphan"
    )


class AlertHistory(Base):
    """Every engine transition and human action on an occurrence: who, when, what."""

    __tablename__ = "alert_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_date: Mapped[date | None] = mapped_column(Date, doc="event time of an engine transition")
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64), doc="'engine', 'notifier' or a user name")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    alert: Mapped[Alert] = relationship(back_populates="history")


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class Route(Base):
    """Where a team's (or the default, or the head of service's) notifications go."""

    __tablename__ = "route"
    __table_args__ = (UniqueConstraint("scope", "team_id", "channel", "target", name="uq_route_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), doc="team, default or head_of_service")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    channel: Mapped[str] = mapped_column(String(16), doc="email or webhook")
    target: Mapped[str] = mapped_column(String(512))


class NotificationGroup(Base):
    """Digest state per recipient (Alertmanager's aggregation group)."""

    __tablename__ = "notification_group"
    __table_args__ = (UniqueConstraint("channel", "target", name="uq_notification_group_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_content: Mapped[list[int]] = mapped_column(JSON, doc="alert ids in the last digest")
    sequence: Mapped[int] = mapped_column(Integer)


class NotificationLog(Base):
    """The outbox: written before sending, marked after; its key makes a restart never send twice."""

    __tablename__ = "notification_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    alert_ids: Mapped[list[int]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, doc="pending, sent or failed")
    attempts: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), doc="manager, board, admin or ingest")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    teams: Mapped[list[UserTeam]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")


class UserTeam(Base):
    __tablename__ = "user_team"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), primary_key=True)


class ApiToken(Base):
    """Only the SHA-256 of the token is kept; the token itself is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens", lazy="joined")


class AuditLog(Base):
    """Every read of case-level data and every change made by a person."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebSession(Base):
    """A signed-in browser: the cookie holds an opaque id, only its SHA-256 is kept; sign-out revokes it."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")
