"""HTTP hardening shared by the ingest and alerts services.

* :func:`install` adds the security headers, the refusal of NUL bytes in URLs and the error handlers that turn
  a database outage into ``503`` with ``Retry-After`` (never ``500``) and a value the database cannot hold
  into ``400``.
* :class:`SharedFailureLimiter` counts failed sign-ins and bearer tokens per client in the service's
  database (shared by all its processes) and locks a client out (``429`` with ``Retry-After``) after too
  many; :class:`FailureLimiter` does the same in memory for a service without a database.
* :data:`ERROR_RESPONSES` documents the error statuses every route may answer, for the OpenAPI.

Nothing here logs request parameters: an outage is logged by exception type only, since SQL errors carry
the statement's values (child ids among them).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Protocol

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Engine, Integer, String, delete, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carewatch.db import Base

log = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER_SECONDS: Final = 30

STRICT_CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Pages: no script at all, styles and images from the service only, forms posting back to it only."""

DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "img-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
"""The API documentation pages only (``/docs``, ``/redoc``): Swagger UI and ReDoc, served by carewatch
(:mod:`carewatch.apidocs`), set inline styles and ReDoc starts a worker. They show the OpenAPI, never case data."""

MAX_AGE_DAYS: Final = 36_600
"""A century: an age or "days past the deadline" filter beyond it cannot match an alert (and would overflow
date arithmetic)."""

FilterText = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""A free-text filter in a query string (team, rule, child id): short, no control characters."""

DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` says what was wrong (a list of problems for a rejected parameter)."""

    detail: str | list[Any] | dict[str, Any]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _doc("A parameter or the body is not acceptable (the reason is in detail)"),
    401: _doc("No valid bearer token (or not signed in)"),
    403: _doc("The token's role may not use this"),
    404: _doc("Not found (or not visible to this caller)"),
    409: _doc("The alert's state does not allow this action (e.g. acknowledging a closed alert)"),
    413: _doc("The body or the batch is too large"),
    422: _doc("A parameter or the body does not match the documented schema"),
    429: _doc("Too many failed sign-ins or bad tokens from this client: wait Retry-After seconds"),
    503: _doc("The database or the broker is unreachable: try again after Retry-After seconds"),
}
"""Error statuses documented on every route (a route answers the ones that apply to it)."""


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI, with every error answer documented as JSON (``ErrorOut``), HTML routes included
    (FastAPI would document an HTML route's errors as HTML, but they are JSON)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        json_errors(spec)
        app.openapi_schema = spec
    return app.openapi_schema


def json_errors(spec: dict[str, Any]) -> None:
    """Rewrite, in place, every 4xx/5xx answer whose content is not JSON to the JSON error model."""
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for code, answer in operation.get("responses", {}).items():
                content = answer.get("content")
                if code[0] in "45" and content is not None and "application/json" not in content:
                    answer["content"] = {"application/json": {"schema": error_ref}}
    spec.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    )


def unavailable(detail: str, retry_after: int = OUTAGE_RETRY_AFTER_SECONDS) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)})


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    if _is_outage(exc):
        log.warning("database unavailable (%s): answered 503", type(exc).__name__)
        return unavailable("the database is unavailable: try again later")
    if isinstance(exc, sa_exc.DataError):
        return JSONResponse({"detail": "a value is out of range or malformed for the database"}, status_code=400)
    log.error("database error %s (statement and values not logged)", type(exc).__name__)
    return JSONResponse({"detail": "the database refused the request"}, status_code=503, headers={"Retry-After": "5"})


async def _overflow(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"a value is out of range: {type(exc).__name__}"}, status_code=400)


async def _not_unicode(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "text must be valid Unicode (no lone surrogates)"}, status_code=400)


@dataclass(frozen=True)
class HeaderPolicy:
    """Security headers added to every response; ``no_store`` paths (prefixes) also get Cache-Control."""

    csp: str = STRICT_CSP
    docs_csp: str = DOCS_CSP
    cacheable_prefixes: tuple[str, ...] = ("/static/",)
    extra_csp: Mapping[str, str] = field(default_factory=dict)

    def csp_for(self, path: str) -> str:
        if path in DOCS_PATHS:
            return self.docs_csp
        return self.extra_csp.get(path, self.csp)


class _SecurityHeaders:
    """Pure ASGI middleware (streams and file responses pass untouched, only headers are added)."""

    def __init__(self, app: ASGIApp, policy: HeaderPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("root_path", ""):
            response = JSONResponse({"detail": "NUL bytes are not allowed in the URL"}, status_code=400)
            await response(scope, receive, self._with_headers(send, path))
            return
        with_headers = self._with_headers(send, path)
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await with_headers(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception:
            # An error no handler answered: the 500 goes out here, with the headers (Starlette's own 500,
            # outside this middleware, would carry none); the error still propagates to be logged.
            if not started:
                response = JSONResponse({"detail": "internal error"}, status_code=500)
                await response(scope, receive, with_headers)
            raise

    def _with_headers(self, send: Send, path: str) -> Send:
        policy = self.policy

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _SET]
                headers += [
                    (b"content-security-policy", policy.csp_for(path).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not path.startswith(policy.cacheable_prefixes):
                    headers.append((b"cache-control", b"no-store"))
                else:
                    headers += [(k, v) for k, v in message.get("headers", []) if k.lower() == b"cache-control"]
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


_SET: Final = frozenset(
    {
        b"content-security-policy",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"cross-origin-opener-policy",
        b"cache-control",
    }
)


def install(app: FastAPI, policy: HeaderPolicy | None = None) -> None:
    """Security headers, NUL-byte refusal and the outage/out-of-range error handlers on ``app``."""
    app.add_middleware(_SecurityHeaders, policy=policy or HeaderPolicy())
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OverflowError, _overflow)
    app.add_exception_handler(UnicodeEncodeError, _not_unicode)


# Failed authentication: per-client lockout --------------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 10
    window_seconds: float = 300.0
    lockout_seconds: float = 900.0


class AuthLimiter(Protocol):
    """Failed sign-ins and bad tokens per client (IP address): ``max_failures`` within ``window_seconds``
    locks the client out for ``lockout_seconds``; while locked out every attempt is refused, right or wrong."""

    policy: LockoutPolicy

    def retry_after(self, client: str) -> int | None:
        """Seconds the client must still wait, or None if it may try."""
        ...

    def failed(self, client: str) -> int | None:
        """Note a failure; returns the lockout in seconds if this failure started one."""
        ...


class FailureLimiter:
    """:class:`AuthLimiter` in memory, for one process (a service without a database): a restart forgets
    the counts, and each process of the service counts on its own. :class:`SharedFailureLimiter` is the
    one to use wherever the service has a database."""

    def __init__(self, policy: LockoutPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        now = self._clock()
        with self._lock:
            until = self._locked_until.get(client)
            if until is None:
                return None
            if until <= now:
                del self._locked_until[client]
                return None
            return max(1, math.ceil(until - now))

    def failed(self, client: str) -> int | None:
        now = self._clock()
        with self._lock:
            window = self._failures.setdefault(client, deque())
            window.append(now)
            while window and window[0] <= now - self.policy.window_seconds:
                window.popleft()
            if len(window) >= self.policy.max_failures:
                self._locked_until[client] = now + self.policy.lockout_seconds
                del self._failures[client]
                return math.ceil(self.policy.lockout_seconds)
            if len(self._failures) > 100_000:  # bound the memory a scan of many addresses can take
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - 60}
        return None


class AuthFailure(Base):
    """One failed sign-in or bad token (kept for the counting window only)."""

    __tablename__ = "auth_failure"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    client: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuthLockout(Base):
    """A client locked out until ``until`` (a row past its time is dead, replaced by the next lockout)."""

    __tablename__ = "auth_lockout"

    client: Mapped[str] = mapped_column(String(128), primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class SharedFailureLimiter:
    """:class:`AuthLimiter` kept in the service's SQL database (tables ``auth_failure`` and ``auth_lockout``),
    so every process and worker of the service, and a restarted one, sees the same counts and lockouts.

    Failures older than the window are deleted as new ones come; a lockout row past its time is replaced
    by the next one. Times are wall-clock UTC (shared between processes). A database outage raises the
    SQLAlchemy error, which :func:`install`'s handlers answer ``503``."""

    def __init__(self, engine: Engine, policy: LockoutPolicy, clock: Callable[[], datetime] = _wall_clock) -> None:
        self.policy = policy
        self._engine = engine
        self._clock = clock

    @staticmethod
    def _key(client: str) -> str:
        return client[:128]

    def retry_after(self, client: str) -> int | None:
        now = self._clock()
        with self._engine.connect() as conn:
            until = conn.scalar(select(AuthLockout.until).where(AuthLockout.client == self._key(client)))
        if until is None or _utc(until) <= now:
            return None
        return max(1, math.ceil((_utc(until) - now).total_seconds()))

    def failed(self, client: str) -> int | None:
        now = self._clock()
        key = self._key(client)
        window_start = now - timedelta(seconds=self.policy.window_seconds)
        with self._engine.begin() as conn:
            conn.execute(delete(AuthFailure).where(AuthFailure.at <= window_start))
            conn.execute(insert(AuthFailure).values(client=key, at=now))
            count = conn.scalar(
                select(func.count())
                .select_from(AuthFailure)
                .where(AuthFailure.client == key, AuthFailure.at > window_start)
            )
        if (count or 0) < self.policy.max_failures:
            return None
        return self._lock_out(key, now)

    def _lock_out(self, key: str, now: datetime) -> int | None:
        """Lock ``key`` out; returns the lockout's seconds if this call started it (a process that loses
        the race to another one locking the same client out returns None, so a lockout is audited once)."""
        until = now + timedelta(seconds=self.policy.lockout_seconds)
        with self._engine.begin() as conn:
            conn.execute(delete(AuthLockout).where(AuthLockout.client == key, AuthLockout.until <= now))
            dialect = conn.dialect.name
            values = {"client": key, "until": until}
            statement: Any
            if dialect == "postgresql":
                statement = pg_insert(AuthLockout).values(values).on_conflict_do_nothing()
            elif dialect == "sqlite":
                statement = sqlite_insert(AuthLockout).values(values).on_conflict_do_nothing()
            else:  # pragma: no cover - carewatch runs on PostgreSQL and SQLite only
                raise RuntimeError(f"no lockout upsert for {dialect}")
            started = conn.execute(statement.returning(AuthLockout.client)).first() is not None
            if started:
                conn.execute(delete(AuthFailure).where(AuthFailure.client == key))
        return math.ceil(self.policy.lockout_seconds) if started else None


def limiter(policy: LockoutPolicy, engine: Engine | None) -> AuthLimiter:
    """The shared limiter on ``engine`` (its tables migrated), or one in memory without a database."""
    return FailureLimiter(policy) if engine is None else SharedFailureLimiter(engine, policy)


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def too_many(retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"too many failed attempts from this client: try again in {retry_after} seconds"},
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


# Access logs ----------------------------------------------------------------------------------------------


class RedactAccessLog(logging.Filter):
    """uvicorn's access log without query strings (filters may name a child) and with the segment after
    ``/children/`` or ``/child/`` in a path replaced: no child id reaches a log line through a URL."""

    _CHILD = re.compile(r"(/child(?:ren)?/)[^/?#]+")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = self._CHILD.sub(r"\1…", args[2].split("?", 1)[0])
            record.args = (*args[:2], path, *args[3:])
        return True


def redact_access_log() -> None:
    """Install :class:`RedactAccessLog` on uvicorn's access logger (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessLog) for f in logger.filters):
        logger.addFilter(RedactAccessLog())
