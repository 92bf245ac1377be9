"""The managers' pages: server-rendered, no JavaScript needed (forms POST, then redirect).

Sign-in takes an API token and starts a server-side web session whose opaque id is kept in an HttpOnly,
SameSite=Strict cookie (sign-out revokes it). Every form also carries a per-session anti-forgery value derived
from that id, checked on each POST. Failed sign-ins are audited and count towards the client's lockout.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from schemas.alerts import SEVERITY_ORDER
from services.alerts.auth import (
    BOARD_READER_ROLES,
    CASE_LEVEL_ROLES,
    SESSION_COOKIE,
    DbSession,
    Principal,
    authenticate,
    authenticate_web,
    end_web_session,
    form_token,
    locked_out,
    note_failure,
    start_web_session,
)
from services.alerts.lifecycle import CLOSE_REASONS, LifecycleError
from services.alerts.store import AlertFilter, acknowledge, audit, close, get_alert, list_alerts
from services.alerts.wording import age_in_days, describe_dates, describe_deadline, long_date, rule_title

COOKIE = SESSION_COOKIE
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
TEMPLATES.env.filters["long_date"] = long_date
TEMPLATES.env.filters["rule_title"] = rule_title
PAGE_SIZE = 200
LONDON = ZoneInfo("Europe/London")

router = APIRouter(include_in_schema=False)


def today() -> date:
    """Today in England: ages and deadlines are counted in local calendar days."""
    return datetime.now(LONDON).date()


def _signed_in(request: Request, session: Session) -> tuple[Principal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    principal = authenticate_web(session, token, datetime.now(UTC))
    if principal is None or principal.role not in CASE_LEVEL_ROLES:
        return None
    return principal, token


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/alerts", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html", error=None)


@router.post("/login", response_model=None)
def login(request: Request, session: DbSession, token: str = Form(...)) -> Response:
    retry = locked_out(request)
    if retry is not None:
        response = _render(request, "login.html", 429, error=f"Too many failed sign-ins: try again in {retry} seconds.")
        response.headers["Retry-After"] = str(retry)
        return response
    token = token.strip()
    principal = authenticate(session, token)
    if principal is None:
        client = request.client.host if request.client is not None else "unknown"
        audit(session, "anonymous", "sign-in-failed", "web", datetime.now(UTC), client=client)
        session.commit()
        note_failure(request, session, "sign-in")
        return _render(request, "login.html", 401, error="That token is not valid or has been revoked.")
    if principal.role not in BOARD_READER_ROLES:
        return _render(request, "login.html", 403, error="These pages are for service managers and the board.")
    now = datetime.now(UTC)
    lifetime = timedelta(hours=request.app.state.settings.web_session_hours)
    cookie = start_web_session(session, principal, now, lifetime)
    audit(session, principal.name, "sign-in", "web", now)
    session.commit()
    landing = "/alerts" if principal.role in CASE_LEVEL_ROLES else "/board"
    response = RedirectResponse(landing, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(lifetime.total_seconds()),
    )
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession) -> RedirectResponse:
    cookie = request.cookies.get(COOKIE)
    if cookie and end_web_session(session, cookie, datetime.now(UTC)):
        session.commit()
    response = _to_login()
    response.delete_cookie(COOKIE)
    return response


def _card(alert: Any, on: date) -> dict[str, Any]:
    return {
        "alert": alert,
        "age": age_in_days(alert.raised_at, on),
        "deadline": describe_deadline(alert.rule, alert.dates, on),
        "dates": describe_dates(alert.dates),
    }


@router.get("/alerts", response_class=HTMLResponse, response_model=None)
def my_alerts(
    request: Request,
    session: DbSession,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    on = today()
    rows, total = list_alerts(session, AlertFilter(state="open"), principal.visible_teams, on, PAGE_SIZE, 0)
    audit(
        session,
        principal.name,
        "read-alerts",
        "web:alerts",
        datetime.now(UTC),
        alert_ids=[r.id for r in rows],
    )
    session.commit()
    most_severe_first = sorted(SEVERITY_ORDER, key=lambda s: -SEVERITY_ORDER[s])
    counts = {s: sum(1 for r in rows if r.severity == s) for s in most_severe_first}
    return _render(
        request,
        "alerts.html",
        principal=principal,
        cards=[_card(r, on) for r in rows],
        total=total,
        shown=len(rows),
        counts=counts,
        reasons=CLOSE_REASONS,
        form_token=form_token(token),
        done=done,
        error=error,
        today=on,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse, response_model=None)
def alert_page(
    request: Request,
    alert_id: int,
    session: DbSession,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    alert = get_alert(session, alert_id, principal.visible_teams)
    if alert is None:
        return _render(request, "missing.html", 404, principal=principal, form_token=form_token(token))
    audit(session, principal.name, "read-alert", f"web:alert:{alert.id}", datetime.now(UTC))
    session.commit()
    return _render(
        request,
        "alert.html",
        principal=principal,
        card=_card(alert, today()),
        history=alert.history,
        reasons=CLOSE_REASONS,
        form_token=form_token(token),
        done=done,
        error=error,
    )


def _back(alert_id: int, back: str, **query: str) -> RedirectResponse:
    target = f"/alerts/{alert_id}" if back == "detail" else "/alerts"
    return RedirectResponse(f"{target}?{urlencode(query)}", status_code=status.HTTP_303_SEE_OTHER)


def _post(request: Request, session: Session, alert_id: int, csrf: str, back: str, act: str, **fields: str) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    if not hmac.compare_digest(csrf, form_token(token)):
        return HTMLResponse("The form has expired: reload the page and try again.", status_code=403)
    alert = get_alert(session, alert_id, principal.visible_teams)
    if alert is None:
        return _render(request, "missing.html", 404, principal=principal, form_token=form_token(token))
    now = datetime.now(UTC)
    try:
        if act == "acknowledge":
            acknowledge(session, alert, principal.name, fields["note"], now)
        else:
            close(session, alert, principal.name, fields["reason"], fields["note"], now)
    except LifecycleError as exc:
        session.rollback()
        return _back(alert_id, back, error=str(exc))
    audit(session, principal.name, act, f"alert:{alert_id}", now, **fields)
    session.commit()
    verb = "acknowledged" if act == "acknowledge" else "closed"
    return _back(alert_id, back, done=f"Alert {alert_id} {verb}.")


@router.post("/alerts/{alert_id}/acknowledge", response_model=None)
def acknowledge_form(
    request: Request,
    alert_id: int,
    session: DbSession,
    note: str = Form(..., min_length=1, max_length=2000),
    csrf: str = Form(...),
    back: str = Form("list"),
) -> Response:
    return _post(request, session, alert_id, csrf, back, "acknowledge", note=note)


@router.post("/alerts/{alert_id}/close", response_model=None)
def close_form(
    request: Request,
    alert_id: int,
    session: DbSession,
    reason: str = Form(...),
    note: str = Form("", max_length=2000),
    csrf: str = Form(...),
    back: str = Form("list"),
) -> Response:
    return _post(request, session, alert_id, csrf, back, "close", reason=reason, note=note)
