"""A plain ORM version of the alerts writer (``services.alerts.store.apply_transitions``), kept only as the
reference of what the writer stores: one Alert object per occurrence, the lifecycle applied transition by
transition, the ORM's flush writing the changed columns. It is slow and simple on purpose; the differential
test runs both on the same random workloads and compares every column of both tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.alerts import AlertTransition
from services.alerts.lifecycle import OPEN_STATES, Occurrence, apply_transition
from services.alerts.models import Alert, AlertHistory
from services.alerts.store import ENGINE_ACTOR, ApplyStats


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


def _store(row: Alert, occurrence: Occurrence) -> None:
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
        points = [p.model_dump(mode="json") for p in transition.points]
        row.chart = {"points": points, "limits": dict(transition.limits)}


def apply_reference(session: Session, transitions: Sequence[AlertTransition], now: datetime) -> ApplyStats:
    stats = ApplyStats()
    entries: list[tuple[Alert, str, Any, dict[str, Any]]] = []
    latest: dict[str, Alert] = {}
    for fp in sorted({t.fingerprint for t in transitions}):
        found = session.scalars(select(Alert).where(Alert.fingerprint == fp).order_by(Alert.occurrence.desc())).first()
        if found is not None:
            latest[fp] = found
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
            session.flush()  # the previous occurrence has its id
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
            _store(row, outcome.occurrence)
            row.updated_at = now
            session.add(row)
            detail = {
                "occurrence": outcome.occurrence.number,
                "severity": transition.severity,
                "summary": transition.summary,
                "reason": outcome.reason,
            }
            entries.append((row, transition.state, transition.at, detail))
            latest[transition.fingerprint] = row
            continue
        assert current is not None
        _store(current, outcome.occurrence)
        told: dict[str, Any] = {}
        if outcome.action == "updated" and transition.state == "raised":
            told = {"severity": transition.severity, "summary": transition.summary, "was": current.severity}
            _details(current, transition)
        elif outcome.action == "resolved":
            seen = {e.get("event_id") for e in current.evidence}
            cleared = [e.model_dump(mode="json") for e in transition.evidence if e.event_id not in seen]
            if cleared:
                told = {"cleared_by": cleared}
        current.updated_at = now
        action = {"resolved": "resolved", "backfilled": "backfilled"}.get(outcome.action, "updated")
        entries.append((current, action, transition.at, {"reason": outcome.reason, **told}))
    session.flush()
    if team_of_child:
        children = sorted(team_of_child)
        query = select(Alert).where(Alert.child_id.in_(children), Alert.state.in_(sorted(OPEN_STATES)))
        for row in session.scalars(query.order_by(Alert.id)):
            team = team_of_child[str(row.child_id)]
            if row.team != team:
                entries.append((row, "rerouted", None, {"old_team": row.team, "new_team": team}))
                row.team = team
                row.updated_at = now
                stats.rerouted += 1
    session.flush()
    for row, action, on, detail in entries:
        entry = AlertHistory(
            alert_id=row.id, recorded_at=now, event_date=on, action=action, actor=ENGINE_ACTOR, detail=detail
        )
        session.add(entry)
        session.flush()  # one at a time: ids in the order logged
    return stats
