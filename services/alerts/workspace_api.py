"""JSON for the managers' workspace: counts over every matching alert and one child's alerts together.

``GET /v1/workspace/counts`` takes the same filters as the managers' page (team, rule, severity, state,
overdue, child, queue); ``GET /v1/children/{child_id}`` answers every open and recent alert of one child
the reader may see, with the child's key events. Both are audited like every case-level read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from carewatch.httpguard import MAX_AGE_DAYS, FilterText
from services.alerts.auth import CASE_LEVEL_ROLES, DbSession, Principal, require_role
from services.alerts.store import audit
from services.alerts.workspace import Query as Filters
from services.alerts.workspace import Scope, child_alerts, counts, unallocated_count

CaseReader = Annotated[Principal, Depends(require_role(*CASE_LEVEL_ROLES))]
api = APIRouter(prefix="/v1", tags=["workspace"])


def scope_of(request: Request, principal: Principal) -> Scope:
    if principal.role == "admin":
        return Scope(None)
    named = request.app.state.settings.alerts.unallocated_managers
    return Scope(principal.teams, unallocated=principal.name in named)


class CountsOut(BaseModel):
    total: int
    children: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    by_team: dict[str, int]
    unallocated: int


class ChildAlertOut(BaseModel):
    id: int
    rule: str
    state: str
    severity: str
    team: str | None
    summary: str
    raised_at: date | None
    resolved_at: date | None


class ChildEventOut(BaseModel):
    event_id: str | None
    type: str
    occurred_at: str


class ChildOut(BaseModel):
    child_id: str
    team: str | None
    alerts: list[ChildAlertOut]
    events: list[ChildEventOut]


@api.get("/workspace/counts", response_model=CountsOut)
def workspace_counts(
    request: Request,
    principal: CaseReader,
    session: DbSession,
    team: FilterText = None,
    rule: FilterText = None,
    severity: Literal["low", "medium", "high"] | None = None,
    state: Literal["raised", "acknowledged", "resolved", "closed", "open", "any"] = "open",
    overdue: Annotated[
        int | None, Query(ge=0, le=MAX_AGE_DAYS, description="More than this many days past the deadline")
    ] = None,
    child: FilterText = None,
    queue: Literal["unallocated"] | None = None,
) -> CountsOut:
    """Counts by severity, rule and team over every alert the filters match (in SQL, not one page)."""
    from services.alerts.web import today

    scope = scope_of(request, principal)
    if queue == "unallocated" and not (scope.teams is None or scope.unallocated):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the unallocated queue is for named managers and admins")
    on = today()
    flt = Filters(team, rule, severity, state, overdue, child, queue)
    found = counts(session, scope, flt, on)
    audit(
        session,
        principal.name,
        "read-counts",
        "workspace",
        datetime.now(UTC),
        filters={k: v for k, v in vars(flt).items() if v is not None and k != "sort"},
    )
    session.commit()
    return CountsOut(
        total=found.total,
        children=found.children,
        by_severity=found.by_severity,
        by_rule=found.by_rule,
        by_team={team or "": n for team, n in found.by_team.items()},
        unallocated=unallocated_count(session, on),
    )


@api.get("/children/{child_id}", response_model=ChildOut)
def child(request: Request, child_id: str, principal: CaseReader, session: DbSession) -> ChildOut:
    """Every open alert of the child, and those resolved or closed in the last 90 days (404 if none visible)."""
    from services.alerts.web import today

    alerts = child_alerts(session, scope_of(request, principal), child_id, today())
    if not alerts:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such child among your alerts")
    audit(
        session,
        principal.name,
        "read-child",
        "child",
        datetime.now(UTC),
        child_id=child_id,
        alert_ids=[a.id for a in alerts],
    )
    session.commit()
    events: dict[str, ChildEventOut] = {}
    for alert in alerts:
        for e in alert.evidence:
            key = e.get("event_id") or f"{e.get('type')}@{e.get('occurred_at')}"
            events.setdefault(
                key,
                ChildEventOut(event_id=e.get("event_id"), type=e.get("type", ""), occurred_at=e.get("occurred_at", "")),
            )
    latest = max(alerts, key=lambda a: (a.updated_at, a.id))
    return ChildOut(
        child_id=child_id,
        team=latest.team,
        alerts=[ChildAlertOut.model_validate(a, from_attributes=True) for a in alerts],
        events=sorted(events.values(), key=lambda e: e.occurred_at, reverse=True),
    )
