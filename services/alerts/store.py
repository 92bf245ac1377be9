"""SQL side of the lifecycle: applying transitions and human actions to the tables, reading alerts back.

Functions take an open session and never commit: the caller owns the transaction (the consumer commits one
batch at a time, the API one request at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, bindparam, case, func, insert, select, update
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
_CHUNK = 500
ALERTS = cast(Table, Alert.__table__)
HISTORY = cast(Table, AlertHistory.__table__)
_OCCURRENCE_COLUMNS = (
    "occurrence",
    "state",
    "engine_state",
    "last_transition_at",
    "last_transition_state",
    "raised_at",
    "resolved_at",
)
_LATEST_COLUMNS = (
    ALERTS.c.id,
    ALERTS.c.fingerprint,
    ALERTS.c.child_id,
    ALERTS.c.team,
    ALERTS.c.severity,
    ALERTS.c.evidence,
    *(ALERTS.c[name] for name in _OCCURRENCE_COLUMNS),
)


@dataclass
class ApplyStats:
    """Counts of what a batch did, by lifecycle action (``ignored`` = repeats and stale transitions)."""

    actions: dict[str, int] = field(default_factory=dict)
    rerouted: int = 0

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


class _Row:
    """One ``alert`` row as the batch sees it: its column values now, and (stored rows) as they were read,
    so that only the columns the batch changed are written, as the ORM would."""

    __slots__ = ("id", "occurrence", "stored", "values")

    def __init__(self, id: int | None, occurrence: Occurrence | None, values: dict[str, Any], stored: bool) -> None:
        self.id = id
        self.occurrence = occurrence
        self.values = values
        self.stored: dict[str, Any] | None = dict(values) if stored else None

    @property
    def state(self) -> str:
        return self.occurrence.state if self.occurrence is not None else str(self.values["state"])

    def columns(self) -> dict[str, Any]:
        if self.occurrence is not None:
            self.values.update(_occurrence_columns(self.occurrence))
        return self.values

    def changes(self) -> dict[str, Any]:
        assert self.stored is not None
        return {k: v for k, v in self.columns().items() if k not in self.stored or self.stored[k] != v}


def _occurrence(values: Mapping[str, Any]) -> Occurrence:
    return Occurrence(
        number=values["occurrence"],
        state=values["state"],
        engine_state=values["engine_state"],
        last_at=values["last_transition_at"],
        last_state=values["last_transition_state"],
        raised_at=values["raised_at"],
        resolved_at=values["resolved_at"],
    )


def _occurrence_columns(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "occurrence": occurrence.number,
        "state": occurrence.state,
        "engine_state": occurrence.engine_state,
        "last_transition_at": occurrence.last_at,
        "last_transition_state": occurrence.last_state,
        "raised_at": occurrence.raised_at,
        "resolved_at": occurrence.resolved_at,
    }


def _details(transition: AlertTransition) -> dict[str, Any]:
    values: dict[str, Any] = {
        "severity": transition.severity,
        "summary": transition.summary,
        "evidence": [e.model_dump(mode="json") for e in transition.evidence],
        "dates": {k: v.isoformat() for k, v in transition.dates.items()},
    }
    if transition.scope == "authority":
        values["chart"] = {
            "points": [p.model_dump(mode="json") for p in transition.points],
            "limits": dict(transition.limits),
        }
    return values


def _history(alert: Alert, action: str, actor: str, now: datetime, on: date | None, **detail: Any) -> None:
    session = object_session(alert)
    assert session is not None, "history is written for rows already in a session"
    # Linking from the history side never loads the alert's existing history: one INSERT, no SELECT.
    session.add(AlertHistory(alert=alert, recorded_at=now, event_date=on, action=action, actor=actor, detail=detail))


class _Batch:
    """The engine's writes of one batch in SQLAlchemy Core: the rows it reads, the occurrences it opens
    (inserted in the order they were opened), the columns it changes, and its history entries."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.rows: dict[int, _Row] = {}
        self.pending: list[_Row] = []
        self.inserted: list[_Row] = []
        self.history: list[tuple[_Row, dict[str, Any]]] = []

    def load_latest(self, fingerprints: Iterable[str]) -> dict[str, _Row]:
        """The newest occurrence of each fingerprint: one SELECT per 500 fingerprints."""
        wanted = sorted(set(fingerprints))
        latest: dict[str, _Row] = {}
        for start in range(0, len(wanted), _CHUNK):
            newest = (
                select(ALERTS.c.fingerprint, func.max(ALERTS.c.occurrence).label("number"))
                .where(ALERTS.c.fingerprint.in_(wanted[start : start + _CHUNK]))
                .group_by(ALERTS.c.fingerprint)
                .subquery()
            )
            query = select(*_LATEST_COLUMNS).join(
                newest, and_(ALERTS.c.fingerprint == newest.c.fingerprint, ALERTS.c.occurrence == newest.c.number)
            )
            for found in self.session.execute(query).mappings():
                values = dict(found)
                row = _Row(values.pop("id"), _occurrence(values), values, stored=True)
                self.rows[row.id] = row  # type: ignore[index]
                latest[values["fingerprint"]] = row
        return latest

    def load_open(self, children: Sequence[str]) -> list[_Row]:
        """Every open alert of these children, as stored before the batch (one SELECT per 500 children)."""
        found: list[_Row] = []
        for start in range(0, len(children), _CHUNK):
            query = (
                select(ALERTS.c.id, ALERTS.c.child_id, ALERTS.c.team, ALERTS.c.state)
                .where(ALERTS.c.child_id.in_(children[start : start + _CHUNK]), ALERTS.c.state.in_(OPEN_STATES))
                .order_by(ALERTS.c.id)
            )
            for id_, child, team, state in self.session.execute(query):
                row = self.rows.get(id_)
                if row is None:
                    row = _Row(id_, None, {"child_id": child, "team": team, "state": state}, stored=True)
                    self.rows[id_] = row
                found.append(row)
        return found

    def open_row(self, values: dict[str, Any], occurrence: Occurrence) -> _Row:
        row = _Row(None, occurrence, values, stored=False)
        self.pending.append(row)
        return row

    def log(self, row: _Row, action: str, on: date | None, **detail: Any) -> None:
        entry = {"recorded_at": self.now, "event_date": on, "action": action, "actor": ENGINE_ACTOR, "detail": detail}
        self.history.append((row, entry))

    def insert_pending(self) -> None:
        """Insert the occurrences opened so far (executemany per run of rows with the same columns, in the
        order opened), then read their ids back by ``(fingerprint, occurrence)``, which is unique: one SELECT
        per 500 fingerprints, cheaper on PostgreSQL than ``INSERT … RETURNING`` of many rows."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        start = 0
        while start < len(rows):
            keys = rows[start].columns().keys()
            end = start + 1
            while end < len(rows) and rows[end].columns().keys() == keys:
                end += 1
            self.session.execute(insert(ALERTS), [row.values for row in rows[start:end]])
            start = end
        wanted = sorted({row.values["fingerprint"] for row in rows})
        ids: dict[tuple[str, int], int] = {}
        for start in range(0, len(wanted), _CHUNK):
            query = select(ALERTS.c.fingerprint, ALERTS.c.occurrence, ALERTS.c.id).where(
                ALERTS.c.fingerprint.in_(wanted[start : start + _CHUNK])
            )
            ids.update({(fp, number): id_ for fp, number, id_ in self.session.execute(query)})
        for row in rows:
            row.id = ids[(row.values["fingerprint"], row.values["occurrence"])]
            row.stored = dict(row.values)
            self.rows[row.id] = row
        self.inserted.extend(rows)

    def write(self, moved: Iterable[_Row]) -> None:
        """Insert what is new, update the changed columns of stored rows (one executemany per set of
        columns), then every history entry in one executemany."""
        stored = list(self.rows.values())  # read or inserted earlier in the batch; not the pending ones
        self.insert_pending()
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in stored:
            changes = row.changes()
            if changes:
                groups.setdefault(tuple(sorted(changes)), []).append({"_id": row.id, **changes})
        for touched in groups.values():
            self.session.execute(update(ALERTS).where(ALERTS.c.id == bindparam("_id")), touched)
        if self.history:
            self.session.execute(insert(HISTORY), [{"alert_id": row.id, **entry} for row, entry in self.history])
        self._expire({row.id for row in stored} | {row.id for row in moved})

    def _expire(self, ids: set[int | None]) -> None:
        """Alert objects the session already holds are reloaded on next access, as after an ORM flush."""
        for key in list(self.session.identity_map.keys()):
            if key[0] is Alert and key[1][0] in ids:
                self.session.expire(self.session.identity_map[key])


def apply_transitions(session: Session, transitions: Sequence[AlertTransition], now: datetime) -> ApplyStats:
    """Apply a batch in arrival order; repeats and stale transitions change nothing.

    Set-based, in SQLAlchemy Core: one SELECT of the newest occurrence per fingerprint and one of the open
    alerts of the batch's children, the lifecycle decided in memory, then one insert of the new occurrences
    (more only when the batch reopens a fingerprint it opened itself), an executemany update per set of
    changed columns and one executemany of the history entries.
    """
    stats = ApplyStats()
    session.flush()  # the caller's pending ORM changes are visible to the reads below
    batch = _Batch(session, now)
    latest = batch.load_latest(t.fingerprint for t in transitions)
    team_of_child: dict[str, str] = {}
    for transition in transitions:
        current = latest.get(transition.fingerprint)
        outcome = apply_transition(None if current is None else current.occurrence, transition)
        stats.count(outcome.action)
        if transition.team is not None and transition.child_id is not None:
            team_of_child[transition.child_id] = transition.team
        if outcome.occurrence is None:
            continue
        if outcome.action == "opened":
            if current is not None and current.id is None:
                batch.insert_pending()  # the new occurrence links to the previous one by id
            values: dict[str, Any] = {
                "fingerprint": transition.fingerprint,
                "rule": transition.rule,
                "child_id": transition.child_id,
                "scope": transition.scope,
                "subject": transition.subject,
                "team": transition.team
                if transition.team is not None
                else (current.values["team"] if current else None),
                "previous_id": None if current is None else current.id,
                "created_at": now,
                **_details(transition),
                "updated_at": now,
            }
            row = batch.open_row(values, outcome.occurrence)
            batch.log(
                row,
                transition.state,
                transition.at,
                occurrence=outcome.occurrence.number,
                severity=transition.severity,
                summary=transition.summary,
                reason=outcome.reason,
            )
            latest[transition.fingerprint] = row
            continue
        assert current is not None
        current.occurrence = outcome.occurrence
        told: dict[str, Any] = {}
        if outcome.action == "updated" and transition.state == "raised":
            told = {"severity": transition.severity, "summary": transition.summary, "was": current.values["severity"]}
            current.values.update(_details(transition))
        elif outcome.action == "resolved":
            # Evidence the raised did not carry is what cleared the finding (when the rules send it).
            seen = {e.get("event_id") for e in current.values["evidence"]}
            cleared = [e.model_dump(mode="json") for e in transition.evidence if e.event_id not in seen]
            if cleared:
                told = {"cleared_by": cleared}
        current.values["updated_at"] = now
        action = {"resolved": "resolved", "backfilled": "backfilled"}.get(outcome.action, "updated")
        batch.log(current, action, transition.at, reason=outcome.reason, **told)
    moved = _reroute(batch, team_of_child)
    stats.rerouted = len(moved)
    batch.write(moved)
    return stats


def _reroute(batch: _Batch, team_of_child: dict[str, str]) -> list[_Row]:
    """Move every open alert of each child to the child's current team: the stored ones and the ones the
    batch opened, decided in memory and written with the batch's other changes."""
    if not team_of_child:
        return []
    candidates = batch.load_open(sorted(team_of_child))
    seen = {id(row) for row in candidates}
    candidates += [row for row in (*batch.inserted, *batch.pending) if id(row) not in seen]
    moved = []
    for row in candidates:
        child = row.values["child_id"]
        if child not in team_of_child or row.state not in OPEN_STATES:
            continue
        team = team_of_child[child]
        if row.values["team"] != team:
            batch.log(row, "rerouted", None, old_team=row.values["team"], new_team=team)
            row.values["team"] = team
            row.values["updated_at"] = batch.now
            moved.append(row)
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
