"""The ingest HTTP service: ``POST /v1/events``, ``GET /healthz``, ``GET /metrics``.

Hardened like the alerts service (``carewatch.httpguard``): security headers, every error status in the
OpenAPI, a user-store outage answered 503 with ``Retry-After`` (and reported by ``/healthz``), and a client
sending too many bad tokens locked out (429).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carewatch import apidocs, httpguard
from carewatch.settings import IngestProcess
from services.ingest.metrics import IngestMetrics
from services.ingest.payload import EmptyBody, MalformedBody, split_body
from services.ingest.producer import ArchiveError, Archiver, IngestProducer, PublishError, write_outcomes
from services.ingest.records import Origin
from services.ingest.validation import Accepted, BatchValidator, Outcome

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/events"
Authorizer = Callable[[str], bool]
"""Given a bearer token, does it carry the ingest role?"""
HealthCheck = Callable[[], tuple[bool, str]]
"""Another dependency /healthz must see answering (e.g. the user store): ``(ok, detail)``."""


class _TooLarge(Exception):
    pass


def token_authorizer(tokens: Sequence[SecretStr]) -> Authorizer:
    """Tokens from settings. Digests are compared so every comparison takes the same time whatever the
    token's length, and every configured token is compared (no early exit on a match)."""
    expected = [hashlib.sha256(token.get_secret_value().encode()).digest() for token in tokens]

    def authorize(token: str) -> bool:
        given = hashlib.sha256(token.encode()).digest()
        matched = False
        for digest in expected:
            matched |= hmac.compare_digest(given, digest)
        return matched

    return authorize


_bearer = HTTPBearer(auto_error=False, description="A token with the ingest role")


def require_ingest_role(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The one place ingest checks who is calling (swap ``app.state.authorize`` for a user store)."""
    limiter: httpguard.AuthLimiter = request.app.state.auth_limiter
    client = httpguard.client_of(request)
    retry = limiter.retry_after(client)
    if retry is not None:
        raise HTTPException(
            status_code=429,
            detail=f"too many failed attempts from this client: try again in {retry} seconds",
            headers={"Retry-After": str(retry)},
        )
    authorize: Authorizer = request.app.state.authorize
    if credentials is None or credentials.scheme.lower() != "bearer" or not authorize(credentials.credentials):
        if credentials is not None:
            started = limiter.failed(client)
            if started is not None:
                log.warning("ingest: client locked out for %d s after repeated bad tokens", started)
        raise HTTPException(
            status_code=401,
            detail="a valid bearer token with the ingest role is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


class _RequestMetrics:
    """Times every events request and counts it by status code, 401 and 413 included."""

    def __init__(self, app: ASGIApp, metrics: IngestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != EVENTS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.request_seconds.observe(time.perf_counter() - started)
            self.metrics.requests.labels(code=str(status)).inc()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and abandoned as soon as it passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def _result(index: int, outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {"index": index, "status": "accepted", "event_id": outcome.event.event_id}
    return {"index": index, "status": "rejected", "errors": [error.to_json() for error in outcome.errors]}


def _summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    accepted = sum(isinstance(outcome, Accepted) for outcome in outcomes)
    return {
        "received": len(outcomes),
        "accepted": accepted,
        "rejected": len(outcomes) - accepted,
        "results": [_result(index, outcome) for index, outcome in enumerate(outcomes)],
    }


def _json(content: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json", headers=headers)


class HealthOut(BaseModel):
    status: str
    detail: str


class ItemResult(BaseModel):
    index: int
    status: str = Field(description="accepted or rejected")
    event_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class BatchOut(BaseModel):
    received: int
    accepted: int
    rejected: int
    results: list[ItemResult]
    detail: str | None = None


class BadBodyOut(BaseModel):
    """400: an empty body (detail only), or one that is not JSON or NDJSON (kept on the dead-letter topic)."""

    detail: str
    received: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    results: list[ItemResult] | None = None


def _events_body() -> dict[str, Any]:
    return {
        "required": True,
        "description": "One event, an array of events, or NDJSON (one event per line); CONTRACT §1",
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"$ref": "#/components/schemas/CaseEvent"}, _EVENT_ARRAY]},
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One JSON event per line"},
            },
        },
    }


_EVENT_ARRAY: dict[str, Any] = {"type": "array", "items": {"$ref": "#/components/schemas/CaseEvent"}}
EVENTS_BODY = _events_body()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the event schemas (from the contract's models) under components."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        from schemas.events import EVENT_ADAPTER

        spec = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes, description=app.description
        )
        event = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.update(event.pop("$defs", {}))
        components["CaseEvent"] = event
        httpguard.json_errors(spec)
        app.openapi_schema = spec
    return app.openapi_schema


def create_app(
    settings: IngestProcess,
    producer: IngestProducer | None = None,
    *,
    authorize: Authorizer | None = None,
    metrics: IngestMetrics | None = None,
    archive: Archiver | None = None,
    health_checks: Sequence[HealthCheck] = (),
    lockout_store: Engine | None = None,
) -> FastAPI:
    """The ingest app. Without ``producer`` one is built from ``settings.broker.kafka_bootstrap`` at start-up and
    closed at shutdown; a producer passed in stays the caller's to close. With ``archive``, accepted
    events are appended to the durable event archive before they are published and acknowledged. With
    ``lockout_store`` (a migrated database), bad-token counts and lockouts are kept there, shared by every
    process of the service; without it each process counts in memory."""
    metrics = metrics if metrics is not None else IngestMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.producer is not None:
            yield
            return
        if not settings.broker.kafka_bootstrap:
            raise RuntimeError("ingest needs a broker: set CAREWATCH_KAFKA_BOOTSTRAP=host:port")
        app.state.producer = IngestProducer(settings.broker.kafka_bootstrap)
        try:
            yield
        finally:
            app.state.producer.close()
            app.state.producer = None

    app = FastAPI(
        title="carewatch ingest",
        summary="Case events in (CONTRACT §1): validated, then written to the events or dead-letter topic",
        lifespan=lifespan,
        responses=httpguard.ERROR_RESPONSES,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    httpguard.install(app)
    apidocs.install(app)
    app.state.auth_limiter = httpguard.limiter(
        httpguard.LockoutPolicy(
            settings.auth.max_failures, settings.auth.failure_window_seconds, settings.auth.lockout_seconds
        ),
        lockout_store,
    )
    app.state.producer = producer
    app.state.metrics = metrics
    app.state.authorize = authorize if authorize is not None else token_authorizer(settings.ingest.tokens)
    if authorize is None and not settings.ingest.tokens:
        log.warning("no ingest tokens configured (CAREWATCH_INGEST_TOKENS): every ingest request will get 401")
    app.add_middleware(_RequestMetrics, metrics=metrics)

    def _item_limit() -> str:
        return (
            f"An event item may be at most {settings.ingest.max_item_bytes} bytes "
            "(CAREWATCH_INGEST_MAX_ITEM_BYTES). Nothing of this request was written."
        )

    def ingest_batch(body: bytes, content_type: str | None) -> Response:
        received_at = datetime.now(UTC)
        request_id = uuid.uuid4().hex
        validator = BatchValidator(received_at)
        malformed: MalformedBody | None = None
        try:
            items = split_body(body, content_type).items
        except EmptyBody as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except MalformedBody as exc:
            if len(body) > settings.ingest.max_item_bytes:
                raise HTTPException(
                    status_code=413, detail=f"{exc}; and at {len(body)} bytes it is too large to keep. {_item_limit()}"
                ) from exc
            malformed = exc
            outcomes = [validator.check_bytes(body)]  # kept whole on the DLQ: nothing rejected is lost
        else:
            oversized = [
                (index, len(item.original))
                for index, item in enumerate(items)
                if len(item.original) > settings.ingest.max_item_bytes
            ]
            if oversized:
                index, size = oversized[0]
                raise HTTPException(
                    status_code=413,
                    detail=f"item {index} is {size} bytes ({len(oversized)} item(s) too large). {_item_limit()}",
                )
            if len(items) > settings.ingest.max_batch_items:
                raise HTTPException(
                    status_code=413,
                    detail=(
                        f"{len(items)} items in one request; at most {settings.ingest.max_batch_items} "
                        "(CAREWATCH_INGEST_MAX_BATCH_ITEMS) are accepted: split the batch. "
                        "Nothing was written."
                    ),
                )
            outcomes = [validator.check(item) for item in items]
        metrics.count_received(outcomes)
        try:
            write_outcomes(
                app.state.producer,
                [(outcome, Origin.http(request_id, index)) for index, outcome in enumerate(outcomes)],
                received_at=received_at,
                archive=archive,
            )
        except PublishError as exc:
            metrics.publish_failures.inc()
            log.warning("ingest request %s not acknowledged: %s", request_id, exc)
            where = (
                "the event archive did not store" if isinstance(exc, ArchiveError) else "the broker did not acknowledge"
            )
            return _json(
                {
                    "detail": (
                        f"{where} this batch, so none of it can be taken as received: "
                        "resend the whole batch later (a repeated event_id is ignored, so resending is safe)"
                    )
                },
                status_code=503,
                headers={"Retry-After": str(httpguard.OUTAGE_RETRY_AFTER_SECONDS)},
            )
        metrics.count_written(outcomes)
        summary = _summary(outcomes)
        log.info(
            "ingest request %s: received %d = accepted %d + rejected %d",
            request_id,
            summary["received"],
            summary["accepted"],
            summary["rejected"],
        )
        if malformed is not None:
            return _json({"detail": f"{malformed} (kept on the dead-letter topic)", **summary}, status_code=400)
        return _json(summary)

    @app.post(
        EVENTS_PATH,
        dependencies=[Depends(require_ingest_role)],
        summary="Send events: one JSON object, a JSON array, or NDJSON (application/x-ndjson)",
        response_model=BatchOut,
        responses={400: {"model": BadBodyOut, "description": "Empty, or not JSON or NDJSON (kept as a dead letter)"}},
        openapi_extra={"requestBody": EVENTS_BODY},
    )
    async def post_events(request: Request) -> Response:
        """Validate every item; write valid ones to the case-events topic and rejected ones, with their
        reasons, to the dead-letter topic. Answers 200 with a result per item only once the broker has
        acknowledged all of them. On 503 the client must resend the whole batch: events are deduplicated on
        ``event_id``, so items that did get through are not applied twice."""
        try:
            body = await _read_body(request, settings.ingest.max_body_bytes)
        except _TooLarge:
            raise HTTPException(
                status_code=413,
                detail=(
                    f"the body is larger than {settings.ingest.max_body_bytes} bytes "
                    "(CAREWATCH_INGEST_MAX_BODY_BYTES): split the batch. Nothing was written."
                ),
            ) from None
        return await run_in_threadpool(ingest_batch, body, request.headers.get("content-type"))

    @app.get(
        "/healthz",
        summary="Is the broker reachable, are the topics there, does the user store answer?",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "The broker or the user store is unavailable"}},
    )
    async def healthz() -> Response:
        checks = [app.state.producer.reachable, *health_checks]
        results = [await run_in_threadpool(check) for check in checks]
        ok = all(result for result, _ in results)
        detail = "; ".join(text for _, text in results if text)
        if ok:
            return _json({"status": "ok", "detail": detail})
        headers = {"Retry-After": str(httpguard.OUTAGE_RETRY_AFTER_SECONDS)}
        return _json({"status": "unavailable", "detail": detail}, status_code=503, headers=headers)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
