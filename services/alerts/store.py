"""SQL side of the lifecycle: applying transitions and human actions to the tables, reading alerts back.

Functions take an open session and never commit: the caller owns the transaction (the consumer commits one
batch at a time, the API one request at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, insert, select
from sqlalchemy.orm import Session, object_session, selectinload

from schemas.alerts import SEVERITY_ORDER, AlertTransition
from services.alerts.lifecycle import (
    OPEN_STATES,
    EscalationPolicy,
    Occurrence,
    apply_transition,
    check_acknowledge,
    check_close,
)
from services.alerts.models import Alert, AlertHistory, AuditLog

ENGINE_ACTOR = "engine"
LONDON = ZoneInfo("Europe/London")


@dataclass
class ApplyStats:
    """Counts of what a batch did, by lifecycle action (``ignored`` = repeats and stale transitions)."""

    actions: dict[str, int] = field(default_factory=dict)
    rerouted: int = 0

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


def _occurrence(row: Alert) -> Occurrence:
    return Occurrence(
        number=row.occurrence,
        state=row.state,  # type: ignore[arg-type]
        engine_state=row.engine_state,  # type: ignore[arg-type]
        last_at=row.last_transition_at,
        last_state=row.last_transition_state,  # type: ignore[arg-type]
        raised_at=row.raised_at,
        resolved_at=row.resolved_at,
    )


def _store_occurrence(row: Alert, occurrence: Occurrence) -> None:
    row.occurrence = occurrence.number
    row.state = occurrence.state
    row.engine_state = occurrence.engine_state
    row.last_transition_at = occurrence.last_at
    row.last_transition_state = occurrence.last_state
    row.raised_at = occurrence.raised_at
    row.resolved_at = occurrence.resolved_at


def _details(row: Alert, transition: AlertTransition) -> None:
    row.severity = transition.severity
    row.summary = transition.summary
    row.evidence = [e.model_dump(mode="json") for e in transition.evidence]
    row.dates = {k: v.isoformat() for k, v in transition.dates.items()}
    if transition.scope == "authority":
        row.chart = {
            "points": [p.model_dump(mode="json") for p in transition.points],
            "limits": dict(transition.limits),
        }


def _history(row: Alert, action: str, actor: str, now: datetime, on: date | None, **detail: Any) -> None:
    session = object_session(row)
    assert session is not None, "history is written for rows already in a session"
    # Linking from the history side never loads the alert's existing history: one INSERT, no SELECT.
    session.add(AlertHistory(alert=row, recorded_at=now, event_date=on, action=action, actor=actor, detail=detail))


class _HistoryLog:
    """The engine's history entries of one batch, inserted together (one executemany) once the alerts they
    belong to have ids: cheaper than an ORM object per entry linked through the relationship."""

    def __init__(self) -> None:
        self.entries: list[tuple[Alert, dict[str, Any]]] = []

    def add(self, row: Alert, action: str, now: datetime, on: date | None, **detail: Any) -> None:
        entry = {"recorded_at": now, "event_date": on, "action": action, "actor": ENGINE_ACTOR, "detail": detail}
        self.entries.append((row, entry))

    def write(self, session: Session) -> None:
        if not self.entries:
            return
        session.flush()  # new alerts get their ids
        session.execute(insert(AlertHistory.__table__), [{"alert_id": row.id, **entry} for row, entry in self.entries])
        self.entries.clear()


def _latest_by_fingerprint(session: Session, fingerprints: Iterable[str]) -> dict[str, Alert]:
    wanted = sorted(set(fingerprints))
    latest: dict[str, Alert] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.scalars(
            select(Alert).where(Alert.fingerprint.in_(chunk)).order_by(Alert.fingerprint, Alert.occurrence.desc())
        )
        for row in rows:
            latest.setdefault(row.fingerprint, row)
    return latest


def apply_transitions(session: Session, transitions: Sequence[AlertTransition], now: datetime) -> ApplyStats:
    """Apply a batch in arrival order; repeats and stale transitions change nothing."""
    stats = ApplyStats()
    log = _HistoryLog()
    latest = _latest_by_fingerprint(session, (t.fingerprint for t in transitions))
    team_of_child: dict[str, str] = {}
    for transition in transitions:
        current = latest.get(transition.fingerprint)
        outcome = apply_transition(None if current is None else _occurrence(current), transition)
        stats.count(outcome.action)
        if transition.team is not None and transition.child_id is not None:
            team_of_child[transition.child_id] = transition.team
        if outcome.occurrence is None:
            continue
        if outcome.action == "opened":
            if current is not None and current.id is None:
                session.flush()  # the new occurrence links to the previous one by id
            row = Alert(
                fingerprint=transition.fingerprint,
                rule=transition.rule,
                child_id=transition.child_id,
                scope=transition.scope,
                subject=transition.subject,
                team=transition.team if transition.team is not None else (current.team if current else None),
                previous_id=None if current is None else current.id,
                created_at=now,
            )
            _details(row, transition)
            _store_occurrence(row, outcome.occurrence)
            row.updated_at = now
            session.add(row)
            log.add(
                row,
                transition.state,
                now,
                transition.at,
                occurrence=outcome.occurrence.number,
                severity=transition.severity,
                summary=transition.summary,
                reason=outcome.reason,
            )
            latest[transition.fingerprint] = row
            continue
        assert current is not None
        _store_occurrence(current, outcome.occurrence)
        told: dict[str, Any] = {}
        if outcome.action == "updated" and transition.state == "raised":
            told = {"severity": transition.severity, "summary": transition.summary, "was": current.severity}
            _details(current, transition)
        elif outcome.action == "resolved":
            # Evidence the raised did not carry is what cleared the finding (when the rules send it).
            seen = {e.get("event_id") for e in current.evidence}
            cleared = [e.model_dump(mode="json") for e in transition.evidence if e.event_id not in seen]
            if cleared:
                told = {"cleared_by": cleared}
        current.updated_at = now
        action = {"resolved": "resolved", "backfilled": "backfilled"}.get(outcome.action, "updated")
        log.add(current, action, now, transition.at, reason=outcome.reason, **told)
    session.flush()
    stats.rerouted = reroute(session, team_of_child, now, log)
    log.write(session)
    return stats


def reroute(session: Session, team_of_child: dict[str, str], now: datetime, log: _HistoryLog | None = None) -> int:
    """Move every open alert of each child to the child's current team."""
    if not team_of_child:
        return 0
    own_log = log is None
    log = _HistoryLog() if log is None else log
    moved = 0
    children = sorted(team_of_child)
    for start in range(0, len(children), 500):
        rows = session.scalars(
            select(Alert).where(Alert.child_id.in_(children[start : start + 500]), Alert.state.in_(OPEN_STATES))
        )
        for row in rows:
            team = team_of_child[str(row.child_id)]
            if row.team != team:
                log.add(row, "rerouted", now, None, old_team=row.team, new_team=team)
                row.team = team
                row.updated_at = now
                moved += 1
    if own_log:
        log.write(session)
    return moved


def acknowledge(session: Session, alert: Alert, user: str, note: str, now: datetime) -> None:
    check_acknowledge(alert.state)
    alert.state = "acknowledged"
    alert.acknowledged_by = user
    alert.acknowledged_at = now
    alert.acknowledge_note = note
    alert.updated_at = now
    _history(alert, "acknowledged", user, now, None, note=note)


def close(session: Session, alert: Alert, user: str, reason: str, note: str, now: datetime) -> None:
    check_close(alert.state, reason)
    alert.state = "closed"
    alert.closed_by = user
    alert.closed_at = now
    alert.close_reason = reason
    alert.close_note = note
    alert.updated_at = now
    _history(alert, "closed", user, now, None, reason=reason, note=note)


def escalate_due(session: Session, policy: EscalationPolicy, today: date, now: datetime) -> list[Alert]:
    """Mark every raised, unacknowledged alert past its working-day allowance as escalated.

    The allowance runs from when managers could first see the alert: the later of its event date and the
    day it was stored, so replaying old history does not escalate everything at once.
    """
    rows = session.scalars(select(Alert).where(Alert.state == "raised", Alert.escalated_at.is_(None))).all()
    escalated = []
    for row in rows:
        if row.raised_at is None:
            continue
        visible_from = max(row.raised_at, _local_date(row.created_at))
        if policy.is_due(row.state, visible_from, row.severity, today):
            row.escalated_at = now
            row.updated_at = now
            due_on = policy.due_on(visible_from, row.severity).isoformat()
            _history(row, "escalated", "notifier", now, None, due_on=due_on)
            escalated.append(row)
    return escalated


def _local_date(moment: datetime) -> date:
    # SQLite returns stored UTC datetimes without their offset.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(LONDON).date()


@dataclass(frozen=True)
class AlertFilter:
    team: str | None = None
    rule: str | None = None
    severity: str | None = None
    state: str | None = None
    min_age_days: int | None = None
    scope: str = "child"
    """Case alerts (``child``) or the authority's (``authority``): never both in one list."""


def _filtered(query: Select[Any], flt: AlertFilter, teams: frozenset[str] | None, today: date) -> Select[Any]:
    query = query.where(Alert.scope == flt.scope)
    if teams is not None:
        query = query.where(Alert.team.in_(sorted(teams)))
    if flt.team is not None:
        query = query.where(Alert.team == flt.team)
    if flt.rule is not None:
        query = query.where(Alert.rule == flt.rule)
    if flt.severity is not None:
        query = query.where(Alert.severity == flt.severity)
    if flt.state == "open":
        query = query.where(Alert.state.in_(OPEN_STATES))
    elif flt.state is not None:
        query = query.where(Alert.state == flt.state)
    if flt.min_age_days is not None:
        query = query.where(Alert.raised_at <= today - timedelta(days=flt.min_age_days))
    return query


def list_alerts(
    session: Session,
    flt: AlertFilter,
    teams: frozenset[str] | None,
    today: date,
    limit: int,
    offset: int,
) -> tuple[list[Alert], int]:
    """Alerts visible to a reader with ``teams`` (None = all), most severe then oldest first."""
    total = session.scalar(_filtered(select(func.count(Alert.id)), flt, teams, today)) or 0
    severity_rank = case(SEVERITY_ORDER, value=Alert.severity, else_=-1)
    query = _filtered(select(Alert), flt, teams, today).order_by(
        severity_rank.desc(), Alert.raised_at.asc().nulls_last(), Alert.id
    )
    return list(session.scalars(query.limit(limit).offset(offset))), int(total)


def get_alert(session: Session, alert_id: int, teams: frozenset[str] | None, *, scope: str = "child") -> Alert | None:
    """The alert if the reader may see it: a manager gets None for other teams' alerts (no existence leak),
    and a case reader None for an authority alert (and the other way round)."""
    row = session.get(Alert, alert_id, options=[selectinload(Alert.history)])
    if row is None or row.scope != scope or (teams is not None and row.team not in teams):
        return None
    return row


def audit(session: Session, actor: str, action: str, target: str, now: datetime, **detail: Any) -> None:
    session.add(AuditLog(at=now, actor=actor, action=action, target=target, detail=detail))
