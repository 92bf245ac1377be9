"""The managers' pages: server-rendered, no JavaScript needed (forms POST, then redirect).

Sign-in takes an API token and starts a server-side web session whose opaque id is kept in an HttpOnly,
SameSite=Strict cookie (sign-out revokes it). Every form also carries a per-session anti-forgery value derived
from that id, checked on each POST. Failed sign-ins are audited and count towards the client's lockout.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from carewatch.httpguard import MAX_AGE_DAYS
from carewatch.settings import AlertsProcess
from schemas.alerts import SEVERITY_ORDER
from services.alerts import oidc
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
from services.alerts.guidance import (
    GUIDANCE,
    deadline_line,
    event_name,
    humanise,
    rule_name,
    severity_since,
    tell_history,
)
from services.alerts.lifecycle import CLOSE_REASONS, OPEN_STATES, EscalationPolicy, LifecycleError
from services.alerts.store import acknowledge, audit, close
from services.alerts.wording import age_in_days, describe_dates, long_date
from services.alerts.workspace import (
    SORTS,
    Query,
    child_alerts,
    children_page,
    counts,
    filter_options,
    get_visible,
    known_teams,
    unallocated_count,
)
from services.alerts.workspace_api import scope_of

COOKIE = SESSION_COOKIE
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
TEMPLATES.env.filters["long_date"] = long_date
TEMPLATES.env.filters["rule_title"] = rule_name
LONDON = ZoneInfo("Europe/London")

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


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


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    oidc_on = request.app.state.settings.oidc.enabled
    return _render(request, "login.html", status_code, error=error, oidc=oidc_on)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_model=None)
def login(request: Request, session: DbSession, token: str = Form(...)) -> Response:
    retry = locked_out(request)
    if retry is not None:
        response = _login_page(request, 429, f"Too many failed sign-ins: try again in {retry} seconds.")
        response.headers["Retry-After"] = str(retry)
        return response
    token = token.strip()
    principal = authenticate(session, token)
    if principal is None:
        client = request.client.host if request.client is not None else "unknown"
        audit(session, "anonymous", "sign-in-failed", "web", datetime.now(UTC), client=client)
        session.commit()
        note_failure(request, session, "sign-in")
        return _login_page(request, 401, "That token is not valid or has been revoked.")
    if principal.role not in BOARD_READER_ROLES:
        return _login_page(request, 403, "These pages are for service managers and the board.")
    now = datetime.now(UTC)
    audit(session, principal.name, "sign-in", "web", now)
    return _start_session(request, session, principal, now)


def _start_session(
    request: Request, session: Session, principal: Principal, now: datetime, onward_page: bool = False
) -> Response:
    """A new web session for ``principal`` (committed with what the caller added), and the way to its page.

    ``onward_page``: answer with a page that moves on by itself rather than a redirect. Coming back from the
    identity provider is a cross-site navigation, and a browser does not send the SameSite=Strict cookie on a
    redirect chain that began on another site; a navigation started by this service's own page is same-site."""
    lifetime = timedelta(hours=request.app.state.settings.web.session_hours)
    cookie = start_web_session(session, principal, now, lifetime)
    session.commit()
    landing = "/alerts" if principal.role in CASE_LEVEL_ROLES else "/board"
    response: Response
    if onward_page:
        response = _render(request, "signed_in.html", landing=landing, who=principal.name)
    else:
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


def _oidc_provider(request: Request) -> oidc.Provider | None:
    settings: AlertsProcess = request.app.state.settings
    if not settings.oidc.enabled:
        return None
    provider: oidc.Provider | None = getattr(request.app.state, "oidc_provider", None)
    if provider is None:
        provider = request.app.state.oidc_provider = oidc.Provider(settings)
    return provider


def _redirect_uri(request: Request) -> str:
    configured: str | None = request.app.state.settings.oidc.redirect_url
    return configured or str(request.url_for("oidc_callback"))


@router.get("/login/oidc", response_model=None)
def oidc_login(request: Request) -> Response:
    """Send the browser to the council's identity provider (a plain link on the sign-in page leads here)."""
    provider = _oidc_provider(request)
    if provider is None:
        return _login_page(request, 404, "Sign-in with a council account is not set up here.")
    retry = locked_out(request)
    if retry is not None:
        response = _login_page(request, 429, f"Too many failed sign-ins: try again in {retry} seconds.")
        response.headers["Retry-After"] = str(retry)
        return response
    try:
        url, flow = oidc.start(provider, _redirect_uri(request))
    except (httpx.HTTPError, KeyError, ValueError, oidc.OidcError):
        log.warning("identity provider unavailable for sign-in")
        return _login_page(request, 503, "The council sign-in service cannot be reached: try again shortly.")
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        oidc.FLOW_COOKIE,
        flow.cookie(),
        max_age=oidc.FLOW_SECONDS,
        path=oidc.FLOW_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, never on cross-site sub-requests
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login/oidc/callback", response_model=None, name="oidc_callback")
def oidc_callback(request: Request, session: DbSession) -> Response:
    """The provider's answer: checked (state, PKCE, ID token), then a web session like a token sign-in's."""
    provider = _oidc_provider(request)
    if provider is None:
        return _login_page(request, 404, "Sign-in with a council account is not set up here.")
    retry = locked_out(request)
    if retry is not None:
        response = _login_page(request, 429, f"Too many failed sign-ins: try again in {retry} seconds.")
        response.headers["Retry-After"] = str(retry)
        return response
    flow = oidc.Flow.from_cookie(request.cookies.get(oidc.FLOW_COOKIE))
    now = datetime.now(UTC)
    try:
        claims = oidc.finish(provider, _redirect_uri(request), flow, dict(request.query_params))
        identity = oidc.map_claims(claims, request.app.state.settings)
        principal = oidc.sign_in_user(session, identity, now)
    except (httpx.HTTPError, KeyError) as exc:  # the provider's discovery document or keys out of reach
        session.rollback()
        log.warning("identity provider unavailable for sign-in (%s)", type(exc).__name__)
        return _login_page(request, 503, "The council sign-in service cannot be reached: try again shortly.")
    except oidc.OidcError as exc:
        session.rollback()
        client = request.client.host if request.client is not None else "unknown"
        audit(session, "anonymous", "sign-in-failed", "web:oidc", now, client=client, reason=exc.reason)
        session.commit()
        note_failure(request, session, "sign-in")
        response = _login_page(request, 401, str(exc))
        response.delete_cookie(oidc.FLOW_COOKIE, path=oidc.FLOW_PATH)
        return response
    # Groups overage: the provider could not list the teams, so those recorded in carewatch stood.
    kept = {"teams_from": "carewatch (groups overage)"} if identity.teams is None else {}
    audit(
        session, principal.name, "sign-in", "web:oidc", now, role=principal.role, teams=sorted(principal.teams), **kept
    )
    response = _start_session(request, session, principal, now, onward_page=True)
    response.delete_cookie(oidc.FLOW_COOKIE, path=oidc.FLOW_PATH)
    response.set_cookie(
        oidc.SIGNED_IN_COOKIE,
        "1",
        max_age=int(request.app.state.settings.web.session_hours * 3600),
        path="/logout",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _post_logout_uri(request: Request) -> str:
    configured: str | None = request.app.state.settings.oidc.post_logout_redirect_url
    return configured or str(request.url_for("login_form"))


@router.post("/logout", response_model=None)
def logout(request: Request, session: DbSession) -> Response:
    """Sign out here; a browser signed in through the provider is then sent to sign out there too (when the
    provider publishes an end-session endpoint), coming back to the sign-in page."""
    cookie = request.cookies.get(COOKIE)
    if cookie and end_web_session(session, cookie, datetime.now(UTC)):
        session.commit()
    response: Response = _to_login()
    provider = _oidc_provider(request)
    if provider is not None and request.cookies.get(oidc.SIGNED_IN_COOKIE):
        try:
            onward = oidc.end_session_url(provider, _post_logout_uri(request))
        except (httpx.HTTPError, KeyError, ValueError, oidc.OidcError):
            log.warning("identity provider unavailable for sign-out; signed out of carewatch only")
            onward = None
        if onward is not None:
            # A page that moves on, not a redirect: the pages' form-action policy ('self') would stop a form
            # post redirected to the provider.
            response = _render(request, "signed_out.html", onward=onward)
    response.delete_cookie(COOKIE)
    response.delete_cookie(oidc.SIGNED_IN_COOKIE, path="/logout")
    return response


def _sees_unallocated(request: Request, principal: Principal) -> bool:
    scope = scope_of(request, principal)
    return scope.teams is None or scope.unallocated


def _escalation(alert: Any, settings: AlertsProcess) -> str:
    if alert.escalated_at is not None:
        return f"Escalated to the head of service on {long_date(_local_day(alert.escalated_at))}."
    if alert.state == "acknowledged":
        return "Acknowledged, so it will not be escalated."
    if alert.state != "raised" or alert.raised_at is None:
        return "Not open: it will not be escalated."
    policy = EscalationPolicy(settings.alerts.escalation_working_days)
    visible_from = max(alert.raised_at, _local_day(alert.created_at))
    due = policy.due_on(visible_from, alert.severity)
    return f"If nobody acknowledges it by {long_date(due)}, the head of service is told."


def _local_day(moment: datetime) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(LONDON).date()


def _card(alert: Any, on: date, settings: AlertsProcess, full: bool = False) -> dict[str, Any]:
    guide = GUIDANCE.get(alert.rule)
    deadline = deadline_line(alert.dates, on)
    pattern = settings.alerts.case_record_url
    card: dict[str, Any] = {
        "alert": alert,
        "title": rule_name(alert.rule),
        "summary": humanise(alert.summary),
        "age": age_in_days(alert.raised_at, on),
        "deadline": deadline,
        "dates": describe_dates(alert.dates),
        "evidence": [
            {"what": event_name(e.get("type", "")), "on": _evidence_day(e.get("occurred_at")), "id": e.get("event_id")}
            for e in alert.evidence
        ],
        "guide": guide,
        "escalation": _escalation(alert, settings),
        "case_link": pattern.replace("{child_id}", quote(alert.child_id, safe="")) if pattern else None,
    }
    if full:
        card["told"] = tell_history(alert.history, CLOSE_REASONS, alert.rule)
        card["since"] = severity_since(alert.history, alert.severity, alert.raised_at)
    return card


def _evidence_day(raw: str | None) -> str:
    try:
        return long_date(date.fromisoformat(raw[:10])) if raw else "date not known"
    except ValueError:
        return raw or "date not known"


PAGE_CHILDREN = 25


def _int(raw: str | None, minimum: int, maximum: int = MAX_AGE_DAYS) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        return min(max(minimum, int(raw)), maximum)  # no filter or page number beyond a century of days
    except ValueError:
        return None


def _query(params: dict[str, str]) -> Query:
    def pick(name: str, allowed: Any = None) -> str | None:
        value = (params.get(name) or "").strip()
        if not value or (allowed is not None and value not in allowed):
            return None
        return value

    return Query(
        team=pick("team"),
        rule=pick("rule"),
        severity=pick("severity", SEVERITY_ORDER),
        state=pick("state", STATE_CHOICES) or "open",
        overdue_days=_int(params.get("overdue"), 0),
        child_id=pick("child"),
        queue=pick("queue", ("unallocated",)),
        sort=pick("sort", SORTS) or "urgency",  # type: ignore[arg-type]
    )


STATE_CHOICES = {
    "open": "Open",
    "raised": "Raised",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "closed": "Closed",
    "any": "Any state",
}


def _url(base: str, params: dict[str, str], **changes: str | None) -> str:
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return f"{base}?{urlencode(kept)}" if kept else base


@router.get("/alerts", response_class=HTMLResponse, response_model=None)
def my_alerts(request: Request, session: DbSession) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    settings: AlertsProcess = request.app.state.settings
    scope = scope_of(request, principal)
    on = today()
    raw = {k: v for k, v in request.query_params.items() if k in QUERY_KEYS}
    q = _query(raw)
    if q.queue == "unallocated" and not (scope.teams is None or scope.unallocated):
        q = Query(state=q.state)  # not theirs to see: fall back to their own teams
        raw.pop("queue", None)
    shown = {k: v for k, v in raw.items() if k != "page"}
    found = counts(session, scope, q, on)
    pages = max(1, -(-found.children // PAGE_CHILDREN))
    page = min(_int(raw.get("page"), 1) or 1, pages)
    rows = children_page(session, scope, q, on, PAGE_CHILDREN, (page - 1) * PAGE_CHILDREN)
    alert_ids = [a.id for row in rows for a in row.alerts]
    audit(session, principal.name, "read-alerts", "web:alerts", datetime.now(UTC), alert_ids=alert_ids, filters=shown)
    unallocated = unallocated_count(session, on)
    known = known_teams(session)
    session.commit()
    teams, rules = filter_options(session, scope)
    own_unknown = principal.role == "manager" and not (principal.teams & known)
    # Teams given by the identity provider (or an administrator) that carewatch has never seen.
    some_unknown = sorted(principal.teams - known) if principal.role == "manager" and not own_unknown else []
    return _render(
        request,
        "alerts.html",
        principal=principal,
        rows=[
            {"child_id": r.child_id, "team": r.alerts[0].team, "cards": [_card(a, on, settings) for a in r.alerts]}
            for r in rows
        ],
        counts=found,
        query=q,
        params=shown,
        filtered=any(k in shown for k in ("team", "rule", "severity", "overdue", "child", "queue"))
        or q.state != "open",
        page=page,
        pages=pages,
        prev_url=_url("/alerts", shown, page=str(page - 1)) if page > 1 else None,
        next_url=_url("/alerts", shown, page=str(page + 1)) if page < pages else None,
        url=lambda **changes: _url("/alerts", shown, page=None, **changes),
        teams=teams,
        rules={r: rule_name(r) for r in rules},
        states=STATE_CHOICES,
        sorts=SORTS,
        severities=list(found.by_severity),
        unallocated=unallocated,
        sees_unallocated=scope.teams is None or scope.unallocated,
        own_unknown=own_unknown,
        some_unknown=some_unknown,
        rule_name=rule_name,
        reasons=CLOSE_REASONS,
        form_token=form_token(token),
        back=_url("/alerts", raw),
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
        today=on,
    )


QUERY_KEYS = ("team", "rule", "severity", "state", "overdue", "child", "queue", "sort", "page")


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
    alert = get_visible(session, scope_of(request, principal), alert_id)
    if alert is None:
        return _render(request, "missing.html", 404, principal=principal, form_token=form_token(token))
    audit(session, principal.name, "read-alert", f"web:alert:{alert.id}", datetime.now(UTC))
    session.commit()
    return _render(
        request,
        "alert.html",
        principal=principal,
        unallocated=unallocated_count(session, today()),
        sees_unallocated=_sees_unallocated(request, principal),
        card=_card(alert, today(), request.app.state.settings, full=True),
        reasons=CLOSE_REASONS,
        form_token=form_token(token),
        back=f"/alerts/{alert.id}",
        done=done,
        error=error,
    )


@router.get("/children/{child_id}", response_class=HTMLResponse, response_model=None)
def child_page(
    request: Request,
    child_id: str,
    session: DbSession,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    on = today()
    settings: AlertsProcess = request.app.state.settings
    alerts = child_alerts(session, scope_of(request, principal), child_id, on)
    if not alerts:
        return _render(request, "missing.html", 404, principal=principal, form_token=form_token(token))
    audit(
        session,
        principal.name,
        "read-child",
        "web:child",
        datetime.now(UTC),
        child_id=child_id,
        alert_ids=[a.id for a in alerts],
    )
    session.commit()
    open_cards = [_card(a, on, settings, full=True) for a in alerts if a.state in OPEN_STATES]
    past_cards = [_card(a, on, settings, full=True) for a in alerts if a.state not in OPEN_STATES]
    latest = max(alerts, key=lambda a: (a.updated_at, a.id))
    pattern = settings.alerts.case_record_url
    return _render(
        request,
        "child.html",
        principal=principal,
        unallocated=unallocated_count(session, on),
        sees_unallocated=_sees_unallocated(request, principal),
        child_id=child_id,
        team=latest.team,
        open_cards=open_cards,
        past_cards=past_cards,
        timeline=timeline(alerts),
        case_link=pattern.replace("{child_id}", quote(child_id, safe="")) if pattern else None,
        reasons=CLOSE_REASONS,
        form_token=form_token(token),
        back=f"/children/{quote(child_id, safe='')}",
        done=done,
        error=error,
    )


def timeline(alerts: list[Any]) -> list[dict[str, Any]]:
    """The child's key events, newest first, from the evidence of their alerts (each event once)."""
    seen: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        for e in alert.evidence:
            key = e.get("event_id") or f"{e.get('type')}@{e.get('occurred_at')}"
            entry = seen.setdefault(
                key,
                {
                    "sort": (e.get("occurred_at") or "")[:10],
                    "on": _evidence_day(e.get("occurred_at")),
                    "what": event_name(e.get("type", "")),
                    "rules": set(),
                },
            )
            entry["rules"].add(rule_name(alert.rule))
        if alert.raised_at is not None:
            seen[f"alert-{alert.id}"] = {
                "sort": alert.raised_at.isoformat(),
                "on": long_date(alert.raised_at),
                "what": f"Alert raised: {rule_name(alert.rule)}",
                "rules": set(),
                "alert": True,
            }
        if alert.resolved_at is not None:
            seen[f"alert-{alert.id}-resolved"] = {
                "sort": alert.resolved_at.isoformat(),
                "on": long_date(alert.resolved_at),
                "what": f"Alert resolved: {rule_name(alert.rule)}",
                "rules": set(),
                "alert": True,
            }
    return sorted(seen.values(), key=lambda e: e["sort"], reverse=True)


def _back(alert_id: int, back: str, **query: str) -> RedirectResponse:
    """Back to the page the form was on (a local path only), with the outcome as ``done`` or ``error``."""
    if back == "detail":
        target = f"/alerts/{alert_id}"
    elif back.startswith(("/alerts", "/children/")) and not back.startswith("//") and "\\" not in back:
        target = back
    else:
        target = "/alerts"
    path, _, existing = target.partition("?")
    kept = [(k, v) for k, v in parse_qsl(existing) if k not in ("done", "error")]
    return RedirectResponse(f"{path}?{urlencode(kept + list(query.items()))}", status_code=status.HTTP_303_SEE_OTHER)


def _post(request: Request, session: Session, alert_id: int, csrf: str, back: str, act: str, **fields: str) -> Response:
    signed = _signed_in(request, session)
    if signed is None:
        return _to_login()
    principal, token = signed
    if not hmac.compare_digest(csrf, form_token(token)):
        return HTMLResponse("The form has expired: reload the page and try again.", status_code=403)
    alert = get_visible(session, scope_of(request, principal), alert_id)
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
