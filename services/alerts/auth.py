"""Users, bearer tokens and role checks for the alerts API and pages (reusable by the board endpoints).

Only the SHA-256 of each token is stored: tokens are 256-bit random strings, so a plain hash is enough
(no password stretching needed) and lookup is one indexed query.

    from services.alerts.auth import require_role
    @router.get("/v1/board/indicators")
    def indicators(principal: Principal = Depends(require_role("board", "admin"))): ...
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from carewatch.db import session_factory
from carewatch.httpguard import AuthLimiter, client_of
from services.alerts.models import ApiToken, AuditLog, User, UserTeam, WebSession

ROLES: Final = ("manager", "board", "admin", "ingest", "board-data")
CASE_LEVEL_ROLES: Final = ("manager", "admin")
BOARD_READER_ROLES: Final = ("board", "manager", "admin", "board-data")
"""Who may read board aggregates (never case-level data)."""
BOARD_DATA_ROLES: Final = ("admin", "board-data")
"""Who may download the board's child-level lists (Ofsted Annex A): every download is audited."""
SESSION_COOKIE: Final = "carewatch_session"
"""The web pages' sign-in cookie (HttpOnly, SameSite=Strict) holding an opaque session id (never the token)."""
TOKEN_PREFIX: Final = "cw_"
SESSION_PREFIX: Final = "cws_"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    teams: frozenset[str]

    @property
    def visible_teams(self) -> frozenset[str] | None:
        """The teams whose alerts this person may see; None = every team."""
        return None if self.role == "admin" else self.teams


class UserError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def form_token(token: str) -> str:
    """Per-session anti-forgery value for HTML forms, derived from the session's bearer token."""
    return hmac.new(token.encode(), b"carewatch-form", hashlib.sha256).hexdigest()


def add_user(session: Session, name: str, role: str, teams: Iterable[str], now: datetime) -> str:
    """Create a user and their first token; returns the token (shown once, never stored)."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    teams = sorted(set(teams))
    if role == "manager" and not teams:
        raise UserError("a manager needs at least one --team")
    if role != "manager" and teams:
        raise UserError("only managers have teams")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise UserError(f"user {name!r} already exists")
    user = User(name=name, role=role, created_at=now, teams=[UserTeam(team=t) for t in teams])
    session.add(user)
    return issue_token(session, user, now)


def issue_token(session: Session, user: User, now: datetime) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, token_hash=hash_token(token), created_at=now))
    return token


def revoke_user(session: Session, name: str, now: datetime) -> None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user {name!r}")
    user.revoked_at = user.revoked_at or now
    for token in user.tokens:
        token.revoked_at = token.revoked_at or now


def rotate_token(session: Session, name: str, now: datetime, actor: str = "cli") -> str:
    """A new token for ``name``; every token they held and every page session they had stop working now
    (a token suspected of leaking may have started a session). Audited; returns the new token (shown once)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserError(f"no user {name!r}")
    if user.revoked_at is not None:
        raise UserError(f"user {name!r} is revoked: add them again instead")
    revoked = 0
    for token in user.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
            revoked += 1
    sessions = session.scalars(select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None)))
    ended = 0
    for web in sessions:
        web.revoked_at = now
        ended += 1
    fresh = issue_token(session, user, now)
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action="rotate-token",
            target=f"user:{name}",
            detail={"tokens_revoked": revoked, "sessions_ended": ended},
        )
    )
    return fresh


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def authenticate(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.user.revoked_at is not None:
        return None
    user = row.user
    return Principal(user.name, user.role, frozenset(t.team for t in user.teams))


def start_web_session(session: Session, principal: Principal, now: datetime, lifetime: timedelta) -> str:
    """A new signed-in browser for ``principal``; returns the cookie value (shown once, stored hashed)."""
    user = session.scalar(select(User).where(User.name == principal.name))
    if user is None:
        raise UserError(f"no user {principal.name!r}")
    # Sessions past their expiry are of no further use: dropped as new ones start, so the table stays small.
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    value = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(WebSession(session_hash=hash_token(value), user=user, created_at=now, expires_at=now + lifetime))
    return value


def authenticate_web(session: Session, cookie: str, now: datetime) -> Principal | None:
    """The principal of a live web session (not expired, not signed out, user not revoked)."""
    row = session.scalar(select(WebSession).where(WebSession.session_hash == hash_token(cookie)))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now or row.user.revoked_at:
        return None
    user = row.user
    return Principal(user.name, user.role, frozenset(t.team for t in user.teams))


def end_web_session(session: Session, cookie: str, now: datetime) -> bool:
    """Sign out: the session stops working now, whoever holds a copy of the cookie."""
    row = session.scalar(select(WebSession).where(WebSession.session_hash == hash_token(cookie)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Failed authentication: lockout per client, audit of failed sign-ins -------------------------------


def locked_out(request: Request) -> int | None:
    """Seconds this client is still locked out for, or None (no limiter on the app = never)."""
    limiter: AuthLimiter | None = getattr(request.app.state, "auth_limiter", None)
    return limiter.retry_after(client_of(request)) if limiter is not None else None


def note_failure(request: Request, session: Session | None, what: str) -> None:
    """Count a failed sign-in or bad token against the client; a lockout it starts is audited."""
    limiter: AuthLimiter | None = getattr(request.app.state, "auth_limiter", None)
    started = limiter.failed(client_of(request)) if limiter is not None else None
    if started is not None and session is not None:
        session.rollback()
        session.add(
            AuditLog(
                at=datetime.now(UTC),
                actor="anonymous",
                action="lockout",
                target="auth",
                detail={"client": client_of(request), "after": what, "seconds": started},
            )
        )
        session.commit()


def refuse_locked_out(request: Request) -> None:
    retry = locked_out(request)
    if retry is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed attempts from this client: try again in {retry} seconds",
            headers={"Retry-After": str(retry)},
        )


def role_authorizer(engine: Engine, role: str) -> Callable[[str], bool]:
    """``token -> bool`` for services outside this app (ingest): a live, unrevoked token with ``role``."""
    sessions = session_factory(engine)

    def authorize(token: str) -> bool:
        with sessions() as session:
            principal = authenticate(session, token)
        return principal is not None and principal.role == role

    return authorize


# FastAPI dependencies ------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="A carewatch API token (`carewatch users add`)")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request from ``app.state.sessions``; the handler commits what it changes."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
"""A request-scoped session, for handler signatures."""


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: DbSession,
) -> Principal:
    refuse_locked_out(request)
    principal = authenticate(session, credentials.credentials) if credentials is not None else None
    if principal is None:
        if credentials is not None:
            note_failure(request, session, "bearer token")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def _board_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None, session: Session, roles: tuple[str, ...]
) -> Principal:
    """A bearer token, or the signed-in web cookie (read-only GET routes only), of one of ``roles``."""
    refuse_locked_out(request)
    if credentials is not None:
        principal = authenticate(session, credentials.credentials)
        if principal is None:
            note_failure(request, session, "bearer token")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        principal = authenticate_web(session, cookie, datetime.now(UTC)) if cookie else None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "sign in or send a valid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    if principal.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {principal.role} role may not use this")
    return principal


def require_board_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], session: DbSession
) -> Principal:
    """Board pages and summary: a bearer token, or the signed-in web cookie (read-only GET routes only)."""
    return _board_principal(request, credentials, session, BOARD_READER_ROLES)


def require_board_data(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], session: DbSession
) -> Principal:
    """The board's child-level downloads (Annex A): the admin and board-data roles only."""
    return _board_principal(request, credentials, session, BOARD_DATA_ROLES)


def audit_writer(engine: Engine) -> Callable[[str, str, str, dict[str, Any]], None]:
    """``(actor, action, target, detail) -> None``: one audit log entry, committed at once (for services that
    record what a person did without holding a session of their own, e.g. the board's downloads)."""
    sessions = session_factory(engine)

    def write(actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        with sessions.begin() as session:
            session.add(AuditLog(at=datetime.now(UTC), actor=actor, action=action, target=target, detail=detail))

    return write


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only ``roles`` (401 without a valid token, 403 with the wrong role)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {principal.role} role may not use this")
        return principal

    return dependency
