"""The alerts web service: JSON API (``/v1``), the managers' pages, ``/healthz`` and ``/metrics``.

Case-level endpoints admit managers (their own teams' alerts only; others' answer 404, so existence does
not leak) and admins; every read of case-level data is written to the audit log.

Hardening (``carewatch.httpguard``): security headers on every response (a strict Content-Security-Policy:
no script, styles and images from the service; the board pack, whose styles and charts are inline, may use
inline styles; ``/docs`` and ``/redoc`` may load Swagger UI and ReDoc from their CDN), ``Cache-Control:
no-store`` on everything but ``/static``, a database outage answered ``503`` with ``Retry-After``, parameters
out of range answered ``4xx``, and a lockout of clients sending too many bad tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from carewatch import apidocs, httpguard
from carewatch.db import session_factory
from carewatch.settings import AlertsProcess
from services.alerts import web, workspace_api
from services.alerts.auth import BOARD_READER_ROLES, CASE_LEVEL_ROLES, DbSession, Principal, require_role
from services.alerts.consumer import ConsumerStats
from services.alerts.lifecycle import CLOSE_REASONS, LifecycleError
from services.alerts.models import Alert
from services.alerts.store import AlertFilter, acknowledge, audit, close, get_alert, list_alerts
from services.alerts.web import today
from services.alerts.wording import age_in_days, describe_deadline

STATIC_DIR = Path(__file__).resolve().parent / "static"
BOARD_PACK_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The board pack is one self-contained page (it is also saved as a file): inline styles and SVG charts, no
script. Only its styles may be inline."""


SIGN_IN_PAGES: Final = frozenset({"/board"})
"""Pages a browser opens by address (a bookmark, a link in an e-mail): not signed in, it is sent to sign in."""


async def _pages_sign_in(request: Request, exc: Exception) -> Response:
    """A browser (no bearer token, asking for HTML) that is not signed in is sent to the sign-in page rather
    than shown the API's JSON refusal; every other refusal is answered as FastAPI answers it."""
    assert isinstance(exc, StarletteHTTPException)
    if (
        exc.status_code == status.HTTP_401_UNAUTHORIZED
        and request.method == "GET"
        and request.url.path in SIGN_IN_PAGES
        and "authorization" not in request.headers
        and "text/html" in request.headers.get("accept", "")
    ):
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return await http_exception_handler(request, exc)


class HealthOut(BaseModel):
    status: str


class HistoryOut(BaseModel):
    recorded_at: datetime
    event_date: date | None
    action: str
    actor: str
    detail: dict[str, Any]


class AlertOut(BaseModel):
    id: int
    fingerprint: str
    occurrence: int
    previous_id: int | None
    state: str
    rule: str
    severity: str
    child_id: str
    team: str | None
    summary: str
    raised_at: date | None
    resolved_at: date | None
    age_days: int
    deadline: str | None = Field(description="Plain English, e.g. 'PEP due by 3 March 2025 — 12 days overdue'")
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    escalated_at: datetime | None

    @classmethod
    def of(cls, alert: Alert, on: date) -> AlertOut:
        fields = {name: getattr(alert, name) for name in cls.model_fields if hasattr(alert, name)}
        return cls(
            **fields,
            age_days=age_in_days(alert.raised_at, on),
            deadline=describe_deadline(alert.rule, alert.dates, on),
        )


class AlertDetail(AlertOut):
    evidence: list[dict[str, Any]]
    dates: dict[str, str]
    acknowledge_note: str | None
    close_note: str | None
    history: list[HistoryOut]

    @classmethod
    def of(cls, alert: Alert, on: date) -> AlertDetail:
        base = AlertOut.of(alert, on).model_dump()
        return cls(
            **base,
            evidence=alert.evidence,
            dates=alert.dates,
            acknowledge_note=alert.acknowledge_note,
            close_note=alert.close_note,
            history=[HistoryOut.model_validate(h, from_attributes=True) for h in alert.history],
        )


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


NOTE_TEXT = {"pattern": r"^[^\x00]*$"}
"""Notes are text: no NUL (the database cannot store it)."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


class AcknowledgeIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, json_schema_extra=NOTE_TEXT)

    _text = field_validator("note")(_no_nul)


class CloseIn(BaseModel):
    reason: str = Field(
        description="One of: " + ", ".join(CLOSE_REASONS), json_schema_extra={"enum": list(CLOSE_REASONS)}
    )
    note: str = Field(default="", max_length=2000, json_schema_extra=NOTE_TEXT)

    _text = field_validator("note")(_no_nul)

    @field_validator("reason")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CLOSE_REASONS:
            raise ValueError(f"unknown reason; one of: {', '.join(CLOSE_REASONS)}")
        return value


CaseReader = Annotated[Principal, Depends(require_role(*CASE_LEVEL_ROLES))]
AlertId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="An alert id")]
MAX_AGE_DAYS = httpguard.MAX_AGE_DAYS
MAX_OFFSET = 2**31 - 1
FilterText = httpguard.FilterText
api = APIRouter(prefix="/v1", tags=["alerts"])


@api.get("/alerts", response_model=AlertPage)
def alerts_list(
    principal: CaseReader,
    session: DbSession,
    team: FilterText = None,
    rule: FilterText = None,
    severity: Literal["low", "medium", "high"] | None = None,
    state: Literal["raised", "acknowledged", "resolved", "closed", "open"] | None = None,
    min_age_days: int | None = Query(default=None, ge=0, le=MAX_AGE_DAYS),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> AlertPage:
    on = today()
    flt = AlertFilter(team, rule, severity, state, min_age_days)
    rows, total = list_alerts(session, flt, principal.visible_teams, on, limit, offset)
    audit(
        session,
        principal.name,
        "read-alerts",
        "alerts",
        datetime.now(UTC),
        filters={k: v for k, v in vars(flt).items() if v is not None and k != "scope"},
        alert_ids=[r.id for r in rows],
    )
    session.commit()
    return AlertPage(items=[AlertOut.of(r, on) for r in rows], total=total, limit=limit, offset=offset)


class AuthorityAlertOut(BaseModel):
    """An alert on one of the authority's own series (CONTRACT §6): aggregates only, never a child."""

    id: int
    fingerprint: str
    occurrence: int
    state: str
    rule: str
    subject: str | None = Field(description="The indicator id")
    severity: str
    summary: str
    raised_at: date | None
    resolved_at: date | None
    chart: dict[str, Any] | None = Field(description="The series read (points with their signals) and its limits")
    history: list[HistoryOut]

    @classmethod
    def of(cls, alert: Alert) -> AuthorityAlertOut:
        return cls(
            id=alert.id,
            fingerprint=alert.fingerprint,
            occurrence=alert.occurrence,
            state=alert.state,
            rule=alert.rule,
            subject=alert.subject,
            severity=alert.severity,
            summary=alert.summary,
            raised_at=alert.raised_at,
            resolved_at=alert.resolved_at,
            chart=alert.chart,
            history=[HistoryOut.model_validate(h, from_attributes=True) for h in alert.history],
        )


class AuthorityAlertPage(BaseModel):
    items: list[AuthorityAlertOut]
    total: int


BoardReader = Annotated[Principal, Depends(require_role(*BOARD_READER_ROLES))]


@api.get("/authority-alerts", response_model=AuthorityAlertPage)
def authority_alerts_list(
    principal: BoardReader,
    session: DbSession,
    state: Literal["raised", "acknowledged", "resolved", "closed", "open"] | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> AuthorityAlertPage:
    """Alerts on the authority's series, for the board's audience (and managers and admins): aggregates only."""
    flt = AlertFilter(state=state, scope="authority")
    rows, total = list_alerts(session, flt, None, today(), limit, offset)
    audit(
        session,
        principal.name,
        "read-authority-alerts",
        "authority-alerts",
        datetime.now(UTC),
        filters={"state": state} if state else {},
        alert_ids=[r.id for r in rows],
    )
    session.commit()
    full = [get_alert(session, r.id, None, scope="authority") for r in rows]
    return AuthorityAlertPage(items=[AuthorityAlertOut.of(r) for r in full if r is not None], total=total)


def _visible(session: Session, alert_id: int, principal: Principal) -> Alert:
    alert = get_alert(session, alert_id, principal.visible_teams)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert


@api.get("/alerts/{alert_id}", response_model=AlertDetail)
def alert_detail(alert_id: AlertId, principal: CaseReader, session: DbSession) -> AlertDetail:
    alert = _visible(session, alert_id, principal)
    audit(session, principal.name, "read-alert", f"alert:{alert.id}", datetime.now(UTC))
    session.commit()
    return AlertDetail.of(alert, today())


def _act(session: Session, alert: Alert, principal: Principal, action: str, **detail: Any) -> None:
    now = datetime.now(UTC)
    try:
        if action == "acknowledge":
            acknowledge(session, alert, principal.name, detail["note"], now)
        else:
            close(session, alert, principal.name, detail["reason"], detail["note"], now)
    except LifecycleError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    audit(session, principal.name, action, f"alert:{alert.id}", now, **detail)
    session.commit()


@api.post("/alerts/{alert_id}/acknowledge", response_model=AlertDetail)
def alert_acknowledge(
    alert_id: AlertId,
    body: AcknowledgeIn,
    principal: CaseReader,
    session: DbSession,
) -> AlertDetail:
    alert = _visible(session, alert_id, principal)
    _act(session, alert, principal, "acknowledge", note=body.note)
    return AlertDetail.of(alert, today())


@api.post("/alerts/{alert_id}/close", response_model=AlertDetail)
def alert_close(
    alert_id: AlertId,
    body: CloseIn,
    principal: CaseReader,
    session: DbSession,
) -> AlertDetail:
    alert = _visible(session, alert_id, principal)
    _act(session, alert, principal, "close", reason=body.reason, note=body.note)
    return AlertDetail.of(alert, today())


@api.get("/close-reasons")
def close_reasons(_: CaseReader) -> dict[str, str]:
    return dict(CLOSE_REASONS)


def create_app(
    settings: AlertsProcess,
    engine: Engine,
    extra_routers: Iterable[APIRouter] = (),
    consumer_stats: ConsumerStats | None = None,
    extra_collectors: Iterable[Collector] = (),
) -> FastAPI:
    """The alerts service app; ``extra_routers`` and ``extra_collectors`` (e.g. the board's) are added as given."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from services.alerts.metrics import build_registry

    app = FastAPI(
        title="carewatch alerts",
        version="1",
        description="Danger-indicator alerts for children in care: list, read, acknowledge, close.",
        responses=httpguard.ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.auth_limiter = httpguard.SharedFailureLimiter(
        engine,
        httpguard.LockoutPolicy(
            settings.auth.max_failures, settings.auth.failure_window_seconds, settings.auth.lockout_seconds
        ),
    )
    httpguard.install(app, httpguard.HeaderPolicy(extra_csp={"/board": BOARD_PACK_CSP}))
    app.add_exception_handler(StarletteHTTPException, _pages_sign_in)
    app.openapi = lambda: httpguard.openapi(app)  # type: ignore[method-assign]
    registry = build_registry(engine, consumer_stats, settings.board.suppression_threshold)
    for collector in extra_collectors:
        registry.register(collector)

    @app.get("/healthz", tags=["service"], response_model=HealthOut)
    def healthz() -> Response:
        """200 when the database answers; 503 with Retry-After when it does not."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database is an outage here
            httpguard.log.warning("health check: database unavailable (%s)", type(exc).__name__)
            return httpguard.unavailable("the database is unavailable")
        return Response(HealthOut(status="ok").model_dump_json(), media_type="application/json")

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api)
    app.include_router(workspace_api.api)
    for router in extra_routers:
        app.include_router(router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    apidocs.install(app)
    return app
