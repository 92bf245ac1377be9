"""SQL side of the lifecycle: applying transitions and human actions to the tables, reading alerts back.

Functions take an open session and never commit: the caller owns the transaction (the consumer commits one
batch at a time, the API one request at a time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Dialect, Select, Table, case, func, select
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
_LATEST_NAMES = ("id", "fingerprint", "child_id", "team", "severity", "evidence", *_OCCURRENCE_COLUMNS)
_DATE_COLUMNS = ("last_transition_at", "raised_at", "resolved_at")


@dataclass
class ApplyStats:
    """Counts of what a batch did, by lifecycle action (``ignored`` = repeats and stale transitions)."""

    actions: dict[str, int] = field(default_factory=dict)
    rerouted: int = 0

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


class _Row:
    """One ``alert`` row as the batch sees it: its column values now and, for a stored row, as they were
    read (``stored``), so that only the columns the batch changed are written, as the ORM would. A row the
    batch opens is inserted once, with its final values, and gets its id when the batch is written;
    ``previous`` is the occurrence it follows (stored or opened by the batch too)."""

    __slots__ = ("id", "occurrence", "previous", "stored", "values")

    def __init__(
        self,
        id: int | None,
        occurrence: Occurrence | None,
        values: dict[str, Any],
        stored: bool,
        previous: _Row | None = None,
    ) -> None:
        self.id = id
        self.occurrence = occurrence
        self.values = values
        self.stored: dict[str, Any] | None = dict(values) if stored else None
        self.previous = previous

    @property
    def state(self) -> str:
        return self.occurrence.state if self.occurrence is not None else str(self.values["state"])

    def columns(self) -> dict[str, Any]:
        if self.occurrence is not None:
            self.values.update(_occurrence_columns(self.occurrence))
        return self.values

    def changes(self) -> dict[str, Any]:
        stored = self.stored
        assert stored is not None
        return {k: v for k, v in self.columns().items() if k not in stored or stored[k] != v}


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


_NEW_COLUMNS = (
    "id",
    "fingerprint",
    "rule",
    "child_id",
    "scope",
    "subject",
    "team",
    "previous_id",
    "severity",
    "summary",
    "evidence",
    "dates",
    "chart",
    *_OCCURRENCE_COLUMNS,
    "created_at",
    "updated_at",
)
_HISTORY_COLUMNS = ("alert_id", "recorded_at", "event_date", "action", "actor", "detail")
_JSON_COLUMNS = frozenset({"evidence", "dates", "chart", "detail"})


class _Writer:
    """How one database reads and takes a batch's rows, in plain SQL on the driver (SQLAlchemy's Core would
    process every parameter of every row in Python): statements built once per dialect and set of columns,
    values converted as SQLAlchemy's types would."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgres = dialect.name == "postgresql"
        self.processors: dict[str, Callable[[Any], Any] | None] = {}
        # JSON as SQLAlchemy would bind it (the engine's serializer, json.dumps unless configured); other
        # values as the dialect's type would (on SQLite dates and datetimes become text), each distinct
        # value once: most of a batch's datetimes are its clock.
        serialize: Callable[[Any], str] = getattr(dialect, "_json_serializer", None) or json.dumps
        self.json = serialize
        for table in (ALERTS, HISTORY):
            for column in table.c:
                if column.name in _JSON_COLUMNS:
                    self.processors[column.name] = None
                elif not self.postgres:
                    self.processors[column.name] = column.type.dialect_impl(dialect).bind_processor(dialect)
        self.statements: dict[tuple[str, tuple[str, ...]], str] = {}
        # A list is bound as one parameter (a binary array on PostgreSQL, a JSON array read with json_each
        # on SQLite), so each read has one text, and one prepared plan, whatever the batch's size.
        columns = ", ".join(f"a.{name}" for name in _LATEST_NAMES)
        states = ", ".join(f"'{state}'" for state in sorted(OPEN_STATES))
        if self.postgres:
            # One index lookup per fingerprint and per child, whatever the planner's statistics say (a
            # table that grew since its last ANALYZE would otherwise be scanned whole); OFFSET 0 keeps the
            # children's lookup a loop over the child_id index rather than a join to every open alert.
            self.latest_sql = (
                f"SELECT {columns} FROM unnest(%(fingerprints)b::{self._type(ALERTS, 'fingerprint')}[]) AS f(fp)"
                " CROSS JOIN LATERAL (SELECT * FROM alert WHERE fingerprint = f.fp ORDER BY occurrence DESC LIMIT 1)"
                " AS a"
            )
            child = self._type(ALERTS, "child_id")
            self.open_sql = (
                f"SELECT a.id, a.child_id, a.team, a.state FROM unnest(%(children)b::{child}[]) AS c(child)"
                " CROSS JOIN LATERAL (SELECT id, child_id, team, state FROM alert WHERE child_id = c.child"
                f" OFFSET 0) AS a WHERE a.state IN ({states}) ORDER BY a.id"
            )
        else:
            # json_each of one JSON array parameter; "+state" keeps SQLite on the child_id index (the
            # state index would read every open alert).
            self.latest_sql = (
                f"SELECT {columns} FROM alert AS a JOIN (SELECT fingerprint, max(occurrence) AS number FROM alert"
                " WHERE fingerprint IN (SELECT value FROM json_each(?)) GROUP BY fingerprint) AS n"
                " ON a.fingerprint = n.fingerprint AND a.occurrence = n.number"
            )
            self.open_sql = (
                "SELECT id, child_id, team, state FROM alert WHERE child_id IN (SELECT value FROM json_each(?))"
                f" AND +state IN ({states}) ORDER BY id"
            )
        self.json_loads: Callable[[str], Any] = getattr(dialect, "_json_deserializer", None) or json.loads

    def _type(self, table: Table, name: str) -> str:
        return str(table.c[name].type.compile(dialect=self.dialect))

    def select(self, connection: Connection, sql: str, name: str, values: list[str]) -> Any:
        if self.postgres:
            return connection.exec_driver_sql(sql, {name: values})
        return connection.exec_driver_sql(sql, (json.dumps(values),))

    def latest(self, connection: Connection, fingerprints: list[str]) -> Iterator[dict[str, Any]]:
        """The newest occurrence of each fingerprint, as SQLAlchemy's types would read it."""
        names = _LATEST_NAMES
        if self.postgres:
            for found in self.select(connection, self.latest_sql, "fingerprints", fingerprints):
                yield dict(zip(names, found, strict=True))
            return
        day, loads = date.fromisoformat, self.json_loads
        for found in self.select(connection, self.latest_sql, "fingerprints", fingerprints):
            values = dict(zip(names, found, strict=True))
            values["evidence"] = loads(values["evidence"])
            for name in _DATE_COLUMNS:
                if values[name] is not None:
                    values[name] = day(values[name])
            yield values

    def open(self, connection: Connection, children: list[str]) -> Any:
        """Id, child, team and state of the children's open alerts, by id."""
        return self.select(connection, self.open_sql, "children", children)

    def column(self, name: str, values: list[Any]) -> list[Any]:
        if name in _JSON_COLUMNS:
            serialize = self.json
            # Python's None is SQL NULL here: the writer never stores a JSON null.
            return [None if v is None else serialize(v) for v in values]
        process = self.processors.get(name)
        if process is None:
            return values
        done = {v: process(v) for v in set(values)}
        return [done[v] for v in values]

    def _array(self, table: Table, name: str) -> str:
        return f"%({name})b::{self._type(table, name)}[]"

    def insert(self, connection: Connection, table: Table, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        """Insert ``rows`` (one list of values per column): one statement of arrays on PostgreSQL, an
        executemany on SQLite."""
        key = ("insert " + table.name, columns)
        sql = self.statements.get(key)
        if self.postgres:
            if sql is None:
                arrays = ", ".join(self._array(table, c) for c in columns)
                sql = self.statements[key] = (
                    f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
                )
            connection.exec_driver_sql(sql, {c: self.column(c, v) for c, v in zip(columns, rows, strict=True)})
            return
        if sql is None:
            marks = ", ".join("?" for _ in columns)
            sql = self.statements[key] = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
        processed = [self.column(c, v) for c, v in zip(columns, rows, strict=True)]
        connection.exec_driver_sql(sql, list(zip(*processed, strict=True)))

    def update(self, connection: Connection, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        """Set ``columns`` of the alerts whose ids are the first list of ``rows``."""
        key = ("update", columns)
        sql = self.statements.get(key)
        if self.postgres:
            if sql is None:
                names = ("id", *columns)
                arrays = ", ".join(self._array(ALERTS, c) for c in names)
                sets = ", ".join(f"{c} = v.{c}" for c in columns)
                sql = f"UPDATE alert SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}) WHERE alert.id = v.id"
                self.statements[key] = sql
            params = {"id": rows[0]} | {c: self.column(c, v) for c, v in zip(columns, rows[1:], strict=True)}
            connection.exec_driver_sql(sql, params)
            return
        if sql is None:
            sql = self.statements[key] = f"UPDATE alert SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
        processed = [self.column(c, v) for c, v in zip(columns, rows[1:], strict=True)]
        connection.exec_driver_sql(sql, list(zip(*processed, rows[0], strict=True)))

    def reserve_alert_ids(self, connection: Connection, n: int) -> list[int]:
        """``n`` new alert ids from the table's own sequence, in one round trip (PostgreSQL only)."""
        sql = "SELECT nextval(pg_get_serial_sequence('alert', 'id')) FROM generate_series(1, %(n)s)"
        return sorted(id_ for (id_,) in connection.exec_driver_sql(sql, {"n": n}))

    def insert_first(self, connection: Connection, columns: tuple[str, ...], values: list[Any]) -> int:
        """Insert one alert with no id given and return the id SQLite chose (SQLite only)."""
        key = ("insert first", columns)
        sql = self.statements.get(key)
        if sql is None:
            marks = ", ".join("?" for _ in columns)
            sql = self.statements[key] = f"INSERT INTO alert ({', '.join(columns)}) VALUES ({marks})"
        processed = tuple(self.column(c, [v])[0] for c, v in zip(columns, values, strict=True))
        found = connection.exec_driver_sql(sql, processed).lastrowid
        assert found is not None
        return int(found)


@lru_cache(maxsize=8)
def _writer(dialect: Dialect) -> _Writer:
    return _Writer(dialect)


class _Batch:
    """The engine's writes of one batch: the rows it reads, the occurrences it opens (inserted together in
    the order they were opened, with ids given by the batch), the columns it changes, and its history."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.connection = session.connection()
        self.writer = _writer(self.connection.dialect)
        self.rows: dict[int, _Row] = {}
        self.new: list[_Row] = []
        self.history: list[tuple[_Row, dict[str, Any]]] = []

    def load_latest(self, fingerprints: Iterable[str]) -> dict[str, _Row]:
        """The newest occurrence of each fingerprint, in one SELECT."""
        wanted = sorted(set(fingerprints))
        latest: dict[str, _Row] = {}
        if not wanted:
            return latest
        for values in self.writer.latest(self.connection, wanted):
            row = _Row(values.pop("id"), _occurrence(values), values, stored=True)
            self.rows[row.id] = row  # type: ignore[index]
            latest[values["fingerprint"]] = row
        return latest

    def load_open(self, children: list[str]) -> list[_Row]:
        """Every open alert of these children, as stored before the batch, in one SELECT."""
        found: list[_Row] = []
        for id_, child, team, state in self.writer.open(self.connection, children):
            row = self.rows.get(id_)
            if row is None:
                row = _Row(id_, None, {"child_id": child, "team": team, "state": state}, stored=True)
                self.rows[id_] = row
            found.append(row)
        return found

    def open_row(self, values: dict[str, Any], occurrence: Occurrence, previous: _Row | None) -> _Row:
        row = _Row(None, occurrence, values, stored=False, previous=previous)
        self.new.append(row)
        return row

    def log(self, row: _Row, action: str, on: date | None, **detail: Any) -> None:
        entry = {"recorded_at": self.now, "event_date": on, "action": action, "actor": ENGINE_ACTOR, "detail": detail}
        self.history.append((row, entry))

    def write(self, moved: Iterable[_Row]) -> None:
        """Update the changed columns of stored rows (one statement per set of columns), insert the new
        occurrences with ids reserved for them (no read-back), then every history entry in one statement."""
        connection, writer = self.connection, self.writer
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for row in self.rows.values():
            changes = row.changes()
            if changes:
                columns = tuple(sorted(changes))
                group = groups.get(columns)
                if group is None:
                    group = groups[columns] = [[] for _ in range(len(columns) + 1)]
                group[0].append(row.id)
                for values, name in zip(group[1:], columns, strict=True):
                    values.append(changes[name])
        for columns, rows in groups.items():
            writer.update(connection, columns, rows)
        if self.new:
            self._insert_new()
        if self.history:
            entries = [[row.id for row, _ in self.history]] + [
                [entry[name] for _, entry in self.history] for name in _HISTORY_COLUMNS[1:]
            ]
            writer.insert(connection, HISTORY, _HISTORY_COLUMNS, entries)
        self._expire({*self.rows, *(row.id for row in self.new), *(row.id for row in moved)})

    def _insert_new(self) -> None:
        new, writer = self.new, self.writer
        for row in new:
            row.columns()
        start = 0
        if writer.postgres:
            for row, id_ in zip(new, writer.reserve_alert_ids(self.connection, len(new)), strict=True):
                row.id = id_
        else:
            # SQLite gives a row with no id the largest id + 1; once it is in, the batch holds the write
            # lock, so the next ids are free and the rest go in with theirs.
            first = new[0]
            first.values["previous_id"] = None if first.previous is None else first.previous.id
            first.id = writer.insert_first(
                self.connection, _NEW_COLUMNS[1:], [first.values[c] for c in _NEW_COLUMNS[1:]]
            )
            for offset, row in enumerate(new[1:], start=1):
                row.id = first.id + offset
            start = 1
        rest = new[start:]
        if not rest:
            return
        for row in rest:
            row.values["id"] = row.id
            row.values["previous_id"] = None if row.previous is None else row.previous.id
        writer.insert(self.connection, ALERTS, _NEW_COLUMNS, [[row.values[c] for row in rest] for c in _NEW_COLUMNS])

    def _expire(self, ids: set[int | None]) -> None:
        """Alert objects the session already holds are reloaded on next access, as after an ORM flush."""
        for key in list(self.session.identity_map.keys()):
            if key[0] is Alert and key[1][0] in ids:
                self.session.expire(self.session.identity_map[key])


def apply_transitions(session: Session, transitions: Sequence[AlertTransition], now: datetime) -> ApplyStats:
    """Apply a batch in arrival order; repeats and stale transitions change nothing.

    Set-based: one SELECT of the newest occurrence per fingerprint and one of the open alerts of the
    batch's children, the lifecycle and the re-routing decided in memory, then one UPDATE per set of
    changed columns, one INSERT of the new occurrences (their ids reserved, so nothing is read back) and one
    of the history entries. On PostgreSQL each statement binds one array per column (``unnest``); on
    SQLite each is an executemany.
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
            values: dict[str, Any] = {
                "fingerprint": transition.fingerprint,
                "rule": transition.rule,
                "child_id": transition.child_id,
                "scope": transition.scope,
                "subject": transition.subject,
                "team": transition.team
                if transition.team is not None
                else (current.values["team"] if current else None),
                "previous_id": None,
                "created_at": now,
                "chart": None,
                **_details(transition),
                "updated_at": now,
            }
            row = batch.open_row(values, outcome.occurrence, current)
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
    moved = []
    for row in (*candidates, *batch.new):
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
