"""``carewatch reconcile``: the live alerts and board totals against a replay of the event archive.

The archive is the record of everything ingest acknowledged, so a replay of it (with deep corrections
rebuilt, as the stream worker rebuilds them) says which alerts must be open and what the board's totals
must be on a day. :func:`compare` reports the differences with the alerts database (open alerts missing,
open alerts that should not be, a different severity) and with the board's stored snapshot of that day;
:func:`repair` applies the transitions that remove the alert differences through the alerts service's
own write path (:func:`services.alerts.store.apply_transitions`, with an audit entry), so the lifecycle,
the history and the routing stay as for any transition; :func:`repair_board` writes the replay's totals of
the indicators that differ into the board's snapshot of that day through the board's own store
(:func:`services.board.store.write`), with an audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from carewatch.db import session_factory
from schemas.alerts import AlertTransition
from schemas.deltas import NOTHING, Contribution
from schemas.events import CaseEvent
from services.alerts.lifecycle import transition_key
from services.alerts.models import Alert
from services.alerts.store import ApplyStats, apply_transitions, audit
from services.archive import store as archive
from services.board import store as board_store
from services.board.core.aggregate import Aggregate
from services.rules.core.config import RulesConfig
from services.rules.replay import replay

ACTOR = "reconcile"


@dataclass(frozen=True)
class LiveAlert:
    """The newest occurrence of a fingerprint in the alerts database, as far as reconciling goes."""

    fingerprint: str
    rule: str
    child_id: str
    severity: str
    engine_state: str
    last_at: date


@dataclass
class Report:
    until: date
    expected_open: int
    live_open: int
    missing: list[AlertTransition] = field(default_factory=list)
    """Open after the replay, not open in the database: the replay's raised transition."""
    stray: list[LiveAlert] = field(default_factory=list)
    """Open in the database, not after the replay."""
    severity: list[tuple[AlertTransition, LiveAlert]] = field(default_factory=list)
    """Open in both, with another severity."""
    board_date: date | None = None
    board: dict[str, tuple[Contribution, Contribution]] = field(default_factory=dict)
    """Indicator → (stored, replayed) where they differ (only when a snapshot of ``until`` exists)."""
    live: dict[str, LiveAlert] = field(default_factory=dict)

    @property
    def alerts_differ(self) -> bool:
        return bool(self.missing or self.stray or self.severity)

    @property
    def differs(self) -> bool:
        return self.alerts_differ or bool(self.board)


def open_after(transitions: Iterable[AlertTransition]) -> dict[str, AlertTransition]:
    """The alerts open after applying ``transitions`` in the lifecycle's order: fingerprint → its newest
    transition (a raised one)."""
    newest: dict[str, AlertTransition] = {}
    for transition in transitions:
        found = newest.get(transition.fingerprint)
        if found is None or transition_key(transition) >= transition_key(found):
            newest[transition.fingerprint] = transition
    return {key: t for key, t in newest.items() if t.state == "raised"}


def live_alerts(session: Session) -> dict[str, LiveAlert]:
    """The newest occurrence of every fingerprint of a child alert in the database."""
    rows = session.execute(
        select(
            Alert.fingerprint,
            Alert.rule,
            Alert.child_id,
            Alert.severity,
            Alert.engine_state,
            Alert.last_transition_at,
            Alert.occurrence,
        ).order_by(Alert.fingerprint, Alert.occurrence.desc())
    ).all()
    latest: dict[str, LiveAlert] = {}
    for fingerprint, rule, child_id, severity, engine_state, last_at, _occurrence in rows:
        if fingerprint not in latest and child_id:
            latest[fingerprint] = LiveAlert(fingerprint, rule, child_id, severity, engine_state, last_at)
    return latest


def compare_alerts(report: Report, expected: dict[str, AlertTransition], live: dict[str, LiveAlert]) -> None:
    report.live = live
    live_open = {key: alert for key, alert in live.items() if alert.engine_state == "raised"}
    report.live_open = len(live_open)
    report.missing = [t for key, t in sorted(expected.items()) if key not in live_open]
    report.stray = [alert for key, alert in sorted(live_open.items()) if key not in expected]
    report.severity = [
        (t, live_open[key])
        for key, t in sorted(expected.items())
        if key in live_open and live_open[key].severity != t.severity
    ]


def compare(engine: Engine, until: date, config: RulesConfig, *, events: Sequence[CaseEvent] | None = None) -> Report:
    """Replay the archive up to ``until`` and compare the alerts database and the board's snapshot of
    ``until`` with it."""
    history = archive.events_in_fold_order(engine) if events is None else events
    result = replay(history, until, config, rebuild=True)
    expected = open_after(result.transitions)
    report = Report(until=until, expected_open=len(expected), live_open=0)
    with session_factory(engine)() as session:
        compare_alerts(report, expected, live_alerts(session))
    stored = board_store.load(engine, until, until).get(until)
    if stored is not None:
        report.board_date = until
        for indicator in board_store.STORED_INDICATORS:
            have, want = stored.get(indicator), result.totals.get(indicator, NOTHING)
            if have != want:
                report.board[indicator] = (have, want)
    return report


def repairs(report: Report) -> list[AlertTransition]:
    """The transitions that make the open alerts those of the replay, dated so that the lifecycle takes
    them as the newest of their fingerprint."""
    fixes: list[AlertTransition] = []
    for transition in report.missing:
        live = report.live.get(transition.fingerprint)
        at = transition.at if live is None else max(transition.at, live.last_at + timedelta(days=1))
        fixes.append(transition.model_copy(update={"at": at}))
    for transition, live in report.severity:
        fixes.append(transition.model_copy(update={"at": max(transition.at, live.last_at + timedelta(days=1))}))
    for alert in report.stray:
        fixes.append(
            AlertTransition(
                fingerprint=alert.fingerprint,
                rule=alert.rule,
                child_id=alert.child_id,
                state="resolved",
                at=max(alert.last_at, report.until),
                severity=alert.severity,
                summary="Resolved: not raised by a replay of the event archive (reconcile)",
            )
        )
    return fixes


def repair(engine: Engine, report: Report, *, now: datetime | None = None) -> ApplyStats:
    """Apply :func:`repairs` through the alerts service's write path, in one transaction, audited."""
    now = now or datetime.now(UTC)
    fixes = repairs(report)
    with session_factory(engine).begin() as session:
        stats = apply_transitions(session, fixes, now)
        audit(
            session,
            ACTOR,
            "alerts.reconcile",
            f"replay until {report.until.isoformat()}",
            now,
            missing=len(report.missing),
            stray=len(report.stray),
            severity=len(report.severity),
        )
    return stats


def repair_board(engine: Engine, report: Report, *, now: datetime | None = None) -> int:
    """Write the replay's totals of the indicators that differ into the board's snapshot of
    ``report.board_date`` (the others stay as stored), in one transaction with an audit entry; returns
    the indicators repaired. The audit entry names the indicators and both totals (no child is in them)."""
    if report.board_date is None or not report.board:
        return 0
    now = now or datetime.now(UTC)
    day = report.board_date
    fixed = Aggregate(dict(board_store.load(engine, day, day).get(day, Aggregate()).totals))
    for indicator, (_have, want) in report.board.items():
        if want:
            fixed.totals[indicator] = want
        else:
            fixed.totals.pop(indicator, None)
    with session_factory(engine).begin() as session:
        board_store.write(session, {day: fixed})
        audit(
            session,
            ACTOR,
            "board.reconcile",
            f"snapshot {day.isoformat()}",
            now,
            indicators={
                indicator: {
                    "stored": [have.numerator, have.denominator],
                    "replayed": [want.numerator, want.denominator],
                }
                for indicator, (have, want) in sorted(report.board.items())
            },
        )
    return len(report.board)
