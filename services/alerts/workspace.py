"""The managers' workspace in SQL: who sees what (own teams, the unallocated queue), filters, counts over
every matching alert, urgency order, one row per child, and a child's alerts together.

Functions take an open session and never commit (the caller owns the transaction and the audit entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, selectinload

from schemas.alerts import SEVERITY_ORDER
from services.alerts.lifecycle import OPEN_STATES
from services.alerts.models import Alert, Team, User, UserTeam

Sort = Literal["urgency", "oldest"]
SORTS: Final[dict[str, str]] = {"urgency": "Most urgent first", "oldest": "Oldest first"}
RECENT_DAYS: Final = 90
"""How far back a child's resolved and closed alerts are shown beside the open ones."""


@dataclass(frozen=True)
class Scope:
    """What a reader may see: ``teams`` None = every team (admins); ``unallocated`` adds the alerts that reach
    no manager (no team, or a team no active manager has)."""

    teams: frozenset[str] | None
    unallocated: bool = False


@dataclass(frozen=True)
class Query:
    """The list's filters, all optional; ``queue='unallocated'`` keeps only alerts that reach no manager."""

    team: str | None = None
    rule: str | None = None
    severity: str | None = None
    state: str = "open"
    overdue_days: int | None = None
    child_id: str | None = None
    queue: str | None = None
    sort: Sort = "urgency"


@dataclass(frozen=True)
class Counts:
    total: int
    children: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    by_team: dict[str | None, int]


@dataclass
class ChildRow:
    """One child's matching alerts, most urgent first."""

    child_id: str
    alerts: list[Alert] = field(default_factory=list)


def deadline_text() -> ColumnElement[Any]:
    """The alert's deadline as its ISO text (ISO dates sort as text on every database), or NULL."""
    deadline: ColumnElement[Any] = Alert.dates["deadline"].as_string()
    return deadline


def managed_teams() -> Select[Any]:
    """Teams at least one active manager has."""
    return (
        select(UserTeam.team)
        .join(User, User.id == UserTeam.user_id)
        .where(User.role == "manager", User.revoked_at.is_(None))
    )


def unallocated_clause() -> ColumnElement[bool]:
    return or_(Alert.team.is_(None), Alert.team.not_in(managed_teams()))


def _visible(scope: Scope) -> ColumnElement[bool]:
    if scope.teams is None:
        return true()
    own = Alert.team.in_(sorted(scope.teams)) if scope.teams else false()
    return or_(own, unallocated_clause()) if scope.unallocated else own


def _where(query: Select[Any], scope: Scope, q: Query, today: date) -> Select[Any]:
    query = query.where(_visible(scope))
    if q.queue == "unallocated":
        query = query.where(unallocated_clause())
    if q.team is not None:
        query = query.where(Alert.team == q.team)
    if q.rule is not None:
        query = query.where(Alert.rule == q.rule)
    if q.severity is not None:
        query = query.where(Alert.severity == q.severity)
    if q.state == "open":
        query = query.where(Alert.state.in_(OPEN_STATES))
    elif q.state != "any":
        query = query.where(Alert.state == q.state)
    if q.overdue_days is not None:
        limit = (today - timedelta(days=q.overdue_days)).isoformat()
        query = query.where(deadline_text() < limit)
    if q.child_id is not None:
        query = query.where(Alert.child_id == q.child_id)
    return query


def _severity_rank() -> ColumnElement[int]:
    return case(SEVERITY_ORDER, value=Alert.severity, else_=-1)


def counts(session: Session, scope: Scope, q: Query, today: date) -> Counts:
    """Counts over every alert the filters match (not just the page shown), grouped in SQL."""

    def grouped(column: Any) -> dict[Any, int]:
        rows = session.execute(_where(select(column, func.count(Alert.id)), scope, q, today).group_by(column))
        return {key: int(n) for key, n in rows}

    by_severity = grouped(Alert.severity)
    total = sum(by_severity.values())
    children = session.scalar(_where(select(func.count(func.distinct(Alert.child_id))), scope, q, today)) or 0
    ordered = sorted(SEVERITY_ORDER, key=lambda s: -SEVERITY_ORDER[s])
    return Counts(
        total=total,
        children=int(children),
        by_severity={s: by_severity.get(s, 0) for s in ordered},
        by_rule=dict(sorted(grouped(Alert.rule).items(), key=lambda kv: (-kv[1], kv[0]))),
        by_team=dict(sorted(grouped(Alert.team).items(), key=lambda kv: (-kv[1], kv[0] or ""))),
    )


def unallocated_count(session: Session, today: date) -> int:
    q = Query(queue="unallocated")
    return int(session.scalar(_where(select(func.count(Alert.id)), Scope(None), q, today)) or 0)


def _alert_order(q: Query, today: date) -> list[Any]:
    if q.sort == "oldest":
        return [Alert.raised_at.asc().nulls_last(), _severity_rank().desc(), Alert.id]
    effective = func.coalesce(deadline_text(), literal(today.isoformat()))
    return [effective.asc(), _severity_rank().desc(), Alert.raised_at.asc().nulls_last(), Alert.id]


def children_page(session: Session, scope: Scope, q: Query, today: date, limit: int, offset: int) -> list[ChildRow]:
    """One row per child (their matching alerts grouped), in the order of each child's most urgent alert."""
    if q.sort == "oldest":
        key = func.min(func.coalesce(Alert.raised_at, today))
        order: list[Any] = [key.asc(), func.max(_severity_rank()).desc(), Alert.child_id]
    else:
        key = func.min(func.coalesce(deadline_text(), literal(today.isoformat())))
        order = [key.asc(), func.max(_severity_rank()).desc(), Alert.child_id]
    grouped = _where(select(Alert.child_id), scope, q, today).group_by(Alert.child_id).order_by(*order)
    children = list(session.scalars(grouped.limit(limit).offset(offset)))
    if not children:
        return []
    rows = {child: ChildRow(child) for child in children}
    alerts = session.scalars(
        _where(select(Alert), scope, q, today).where(Alert.child_id.in_(children)).order_by(*_alert_order(q, today))
    )
    for alert in alerts:
        rows[alert.child_id].alerts.append(alert)
    return [rows[c] for c in children]


def alerts_page(session: Session, scope: Scope, q: Query, today: date, limit: int, offset: int) -> list[Alert]:
    query = _where(select(Alert), scope, q, today).order_by(*_alert_order(q, today))
    return list(session.scalars(query.limit(limit).offset(offset)))


def child_alerts(session: Session, scope: Scope, child_id: str, today: date) -> list[Alert]:
    """Every open alert of the child the reader may see, and those resolved or closed in the last 90 days."""
    since = today - timedelta(days=RECENT_DAYS)
    recent = or_(
        Alert.state.in_(OPEN_STATES),
        and_(Alert.resolved_at.is_not(None), Alert.resolved_at >= since),
        and_(Alert.state == "closed", Alert.updated_at >= since),
    )
    query = (
        select(Alert)
        .where(Alert.child_id == child_id, _visible(scope), recent)
        .options(selectinload(Alert.history))
        .order_by(*_alert_order(Query(), today))
    )
    return list(session.scalars(query))


def get_visible(session: Session, scope: Scope, alert_id: int) -> Alert | None:
    """The alert if the reader may see it (None otherwise, so existence does not leak)."""
    query = select(Alert).where(Alert.id == alert_id, _visible(scope)).options(selectinload(Alert.history))
    return session.scalar(query)


def known_teams(session: Session) -> set[str]:
    """Teams that exist: named in the routing file (the team table) or carried by an alert."""
    named = set(session.scalars(select(Team.name)))
    carried = {t for t in session.scalars(select(Alert.team).where(Alert.team.is_not(None)).distinct()) if t}
    return named | carried


def filter_options(session: Session, scope: Scope) -> tuple[list[str], list[str]]:
    """Teams and rules present among the alerts the reader may see (for the filter menus)."""
    visible = _visible(scope)
    teams = session.scalars(select(Alert.team).where(visible, Alert.team.is_not(None)).distinct())
    rules = session.scalars(select(Alert.rule).where(visible).distinct())
    return sorted(t for t in teams if t), sorted(rules)
