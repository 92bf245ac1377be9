"""Digests of open alerts per recipient, by e-mail (SMTP) and JSON webhook, with a notification log.

Modelled on Alertmanager: every recipient is an aggregation group. The first digest waits ``group_wait``
after the first alert appears (so a burst becomes one message); a digest with new alerts waits
``group_interval`` after the previous one; an unchanged digest is repeated after ``repeat_interval``.
Only raised, unacknowledged alerts are sent: acknowledging silences an alert.

Each digest is first written to ``notification_log`` (the outbox, with a deterministic key: recipient and
sequence number) in the same transaction that advances the group's state; it is then sent and marked
sent. A restart therefore never plans a digest twice. The one remaining window, a crash after the
recipient accepted a message but before it was marked, is covered by the key travelling with the message
(``Message-ID`` / ``Idempotency-Key``) so receivers can drop the repeat.

Outages: a send is tried a few times within the tick (tenacity, for blips of a second); a digest that still
fails is retried on later ticks with exponential backoff capped at ``retry_max`` (so it goes within that long
of the channel coming back), and as soon as one send on a channel succeeds again every digest waiting on that
channel is sent. Once a send on a channel fails in a tick, that channel's other digests wait for the next
retry instead of each timing out. A digest is given up on (``failed``) only ``give_up_after`` it was planned
(days, not minutes); every failed attempt is counted in the log and so in the metrics.

Bodies carry no child id unless ``include_child_ids`` is set: each alert is its rule, severity, deadline and a
link to the page where a signed-in manager sees the child.

The notifier never reads the clock: :meth:`Notifier.tick` takes ``now``; the service loop supplies it.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from carewatch.db import session_factory
from carewatch.settings import AlertsProcess
from services.alerts.lifecycle import EscalationPolicy
from services.alerts.models import Alert, NotificationGroup, NotificationLog
from services.alerts.routing import Recipient, RouteTable
from services.alerts.store import escalate_due
from services.alerts.wording import describe_deadline, rule_title

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class DigestTiming:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    retry_base: timedelta
    retry_max: timedelta = timedelta(minutes=10)
    give_up_after: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: AlertsProcess) -> DigestTiming:
        return cls(
            group_wait=timedelta(seconds=settings.notify.group_wait_seconds),
            group_interval=timedelta(seconds=settings.notify.group_interval_seconds),
            repeat_interval=timedelta(seconds=settings.notify.repeat_interval_seconds),
            retry_base=timedelta(seconds=settings.notify.retry_base_seconds),
            retry_max=timedelta(seconds=settings.notify.retry_max_seconds),
            give_up_after=timedelta(hours=settings.notify.give_up_hours),
        )

    def backoff(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failure: doubling from ``retry_base``, at most ``retry_max``."""
        return min(self.retry_max, self.retry_base * 2 ** min(attempts - 1, 32))


def _transient(exc: BaseException) -> bool:
    """Worth a second try within the tick: the connection dropped or the server said "try later" (4xx)."""
    import httpx

    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, OSError | smtplib.SMTPServerDisconnected | httpx.TransportError)


def quick_retry(send: Callable[[], None], attempts: int = 2, sleep: Callable[[float], None] | None = None) -> None:
    """``send()``, tried up to ``attempts`` times a fraction of a second apart on transient errors."""
    import time

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.2, max=2),
        retry=retry_if_exception(_transient),
        reraise=True,
        sleep=sleep or time.sleep,
    )
    retrying(send)


class Sender(Protocol):
    def send(self, entry: NotificationLog) -> None:
        """Deliver one logged digest; raise on failure."""


class EmailSender:
    """SMTP with TLS: ``auto`` upgrades with STARTTLS whenever the server offers it, ``starttls`` refuses a
    server that does not, ``tls`` is implicit TLS (SMTPS, port 465), ``none`` never encrypts. A password is
    never sent over an unencrypted connection unless ``tls="none"`` says so."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        user: str | None = None,
        password: str | None = None,
        tls: str = "auto",
        context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("auto", "starttls", "tls", "none"):
            raise ValueError(f"unknown SMTP TLS mode {tls!r}")
        self._host, self._port, self._sender = host, port, sender
        self._user, self._password = user, password
        self._tls = tls
        self._context = context or ssl.create_default_context()

    def send(self, entry: NotificationLog) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = entry.target
        message["Subject"] = entry.subject
        message["Message-ID"] = f"<{entry.key}@carewatch>"
        message.set_content(entry.body)
        if self._tls == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self._host, self._port, timeout=10, context=self._context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=10)
        with smtp:
            encrypted = self._tls == "tls"
            if self._tls in ("auto", "starttls"):
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                    encrypted = True
                elif self._tls == "starttls":
                    raise smtplib.SMTPNotSupportedError("the SMTP server does not offer STARTTLS")
            if self._user:
                if not encrypted and self._tls != "none":
                    raise smtplib.SMTPNotSupportedError("refusing to send the SMTP password without TLS")
                smtp.login(self._user, self._password or "")
            smtp.send_message(message)


class WebhookSender:
    """POSTs ``{"text": ..., "alerts": [...]}``: Slack and Teams incoming webhooks show ``text``."""

    def __init__(self, timeout: float = 10.0) -> None:
        import httpx

        self._client = httpx.Client(timeout=timeout)

    def send(self, entry: NotificationLog) -> None:
        response = self._client.post(entry.target, json=entry.payload, headers={"Idempotency-Key": entry.key})
        response.raise_for_status()

    def close(self) -> None:
        self._client.close()


def senders_from_settings(settings: AlertsProcess) -> dict[str, Sender]:
    senders: dict[str, Sender] = {"webhook": WebhookSender()}
    if settings.smtp.host:
        password = settings.smtp.password.get_secret_value() if settings.smtp.password else None
        senders["email"] = EmailSender(
            settings.smtp.host,
            settings.smtp.port,
            settings.smtp.sender,
            settings.smtp.user,
            password,
            settings.smtp.tls,
        )
    return senders


@dataclass
class TickResult:
    escalated: int = 0
    planned: int = 0
    sent: int = 0
    failed: int = 0


class Notifier:
    def __init__(
        self,
        engine: Engine,
        timing: DigestTiming,
        escalation: EscalationPolicy,
        senders: Mapping[str, Sender],
        public_url: str | None = None,
        include_child_ids: bool = False,
        quick_attempts: int = 2,
    ) -> None:
        self._sessions = session_factory(engine)
        self._timing = timing
        self._escalation = escalation
        self._senders = senders
        self._public_url = (public_url or "").rstrip("/")
        self._include_child_ids = include_child_ids
        self._quick_attempts = quick_attempts

    def tick(self, now: datetime) -> TickResult:
        """Escalate, plan due digests, send what is pending. Call it every few seconds."""
        now = now.astimezone(UTC)  # SQLite keeps no offset: store and compare in UTC only
        result = TickResult()
        with self._sessions.begin() as session:
            result.escalated = len(escalate_due(session, self._escalation, now.astimezone(LONDON).date(), now))
        with self._sessions.begin() as session:
            result.planned = self._plan(session, now)
        result.sent, result.failed = self._deliver(now)
        return result

    def _plan(self, session: Session, now: datetime) -> int:
        routes = RouteTable.load(session)
        wanted: dict[Recipient, list[Alert]] = {}
        for alert in session.scalars(select(Alert).where(Alert.state == "raised").order_by(Alert.id)):
            for recipient in routes.recipients(alert.team, alert.escalated_at is not None, alert.scope):
                wanted.setdefault(recipient, []).append(alert)
        groups = {
            Recipient(g.channel, g.target): g  # type: ignore[arg-type]
            for g in session.scalars(select(NotificationGroup))
        }
        planned = 0
        for recipient in sorted(set(wanted) | set(groups)):
            alerts = wanted.get(recipient, [])
            group = groups.get(recipient)
            if group is None:
                group = NotificationGroup(
                    channel=recipient.channel, target=recipient.target, last_content=[], sequence=0
                )
                session.add(group)
            if self._due(group, [a.id for a in alerts], now):
                self._log_digest(session, group, recipient, alerts, now)
                planned += 1
        return planned

    def _due(self, group: NotificationGroup, content: list[int], now: datetime) -> bool:
        if not content:
            # Gone quiet: the next alert waits group_wait again.
            group.pending_since = None
            group.last_content = []
            return False
        if group.last_planned_at is None or not group.last_content:
            if group.pending_since is None:
                group.pending_since = now
            return now >= _aware(group.pending_since) + self._timing.group_wait
        last = _aware(group.last_planned_at)
        if set(content) - set(group.last_content):
            return now >= last + self._timing.group_interval
        return now >= last + self._timing.repeat_interval

    def _log_digest(
        self,
        session: Session,
        group: NotificationGroup,
        recipient: Recipient,
        alerts: list[Alert],
        now: datetime,
    ) -> None:
        group.sequence += 1
        group.last_planned_at = now
        group.last_content = [a.id for a in alerts]
        group.pending_since = None
        identity = f"{recipient.channel}\x1f{recipient.target}\x1f{group.sequence}"
        key = hashlib.sha256(identity.encode()).hexdigest()
        subject, body, payload = self.render(alerts, now)
        session.add(
            NotificationLog(
                key=key[:40],
                channel=recipient.channel,
                target=recipient.target,
                alert_ids=[a.id for a in alerts],
                subject=subject,
                body=body,
                payload=payload,
                status="pending",
                attempts=0,
                failures=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    def link(self, alert_id: int) -> str:
        return f"{self._public_url}/alerts/{alert_id}"

    def render(self, alerts: list[Alert], now: datetime) -> tuple[str, str, dict[str, Any]]:
        today = now.astimezone(LONDON).date()
        count = len(alerts)
        subject = f"carewatch: {count} open alert{'s' if count != 1 else ''} need attention"
        lines = [subject, ""]
        items = []
        for alert in alerts:
            deadline = describe_deadline(alert.rule, alert.dates, today)
            escalated = " (escalated)" if alert.escalated_at is not None else ""
            if alert.scope == "authority":  # about the authority's series: no child, the summary says what
                who = f" — {alert.summary}"
            else:
                who = f" — child {alert.child_id} — {alert.summary}" if self._include_child_ids else ""
            lines.append(
                f"- [{alert.severity.upper()}] {rule_title(alert.rule)}{escalated}{who}"
                + (f" — {deadline}" if deadline else "")
            )
            url = f"{self._public_url}/board" if alert.scope == "authority" else self.link(alert.id)
            lines.append(f"  {url}")
            item: dict[str, Any] = {
                "id": alert.id,
                "rule": alert.rule,
                "severity": alert.severity,
                "team": alert.team,
                "raised_at": alert.raised_at.isoformat() if alert.raised_at else None,
                "deadline": deadline,
                "escalated": alert.escalated_at is not None,
                "url": url,
            }
            if alert.scope == "authority":
                item |= {"scope": "authority", "subject": alert.subject, "summary": alert.summary}
            elif self._include_child_ids:  # summaries name the child too
                item |= {"child_id": alert.child_id, "summary": alert.summary}
            items.append(item)
        body = "\n".join(lines) + "\n"
        return subject, body, {"text": body, "alerts": items}

    def _deliver(self, now: datetime) -> tuple[int, int]:
        sent = failed = 0
        down: set[tuple[str, str]] = set()  # channels that failed in this tick: the rest of theirs wait
        back: set[tuple[str, str]] = set()  # channels that delivered: their digests in backoff go now
        with self._sessions() as session:
            pending = session.scalars(
                select(NotificationLog)
                .where(NotificationLog.status == "pending", NotificationLog.next_attempt_at <= now)
                .order_by(NotificationLog.id)
            ).all()
            for entry in pending:
                ok = self._attempt(session, entry, now, down)
                if ok is not None:
                    sent, failed = sent + ok, failed + (not ok)
                    if ok:
                        back.add(_channel(entry))
            if back:
                waiting = session.scalars(
                    select(NotificationLog)
                    .where(NotificationLog.status == "pending", NotificationLog.next_attempt_at > now)
                    .order_by(NotificationLog.id)
                ).all()
                for entry in waiting:
                    if _channel(entry) in back:
                        ok = self._attempt(session, entry, now, down)
                        if ok is not None:
                            sent, failed = sent + ok, failed + (not ok)
        return sent, failed

    def _attempt(
        self, session: Session, entry: NotificationLog, now: datetime, down: set[tuple[str, str]]
    ) -> bool | None:
        """Try one digest: True sent, False failed, None not tried (its channel is down in this tick)."""
        channel = _channel(entry)
        if channel in down:
            return None
        sender = self._senders.get(entry.channel)
        entry.attempts += 1
        try:
            if sender is None:
                raise RuntimeError(f"no {entry.channel} sender configured")
            quick_retry(lambda: sender.send(entry), self._quick_attempts)
        except Exception as exc:
            down.add(channel)
            entry.failures += 1
            # The type and the server's reply only: an error text can quote the message, so never the body.
            entry.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if now - _aware(entry.created_at) >= self._timing.give_up_after:
                entry.status = "failed"
                log.error(
                    "notification %s via %s given up after %d attempts (%s)",
                    entry.key[:12],
                    entry.channel,
                    entry.attempts,
                    type(exc).__name__,
                )
            else:
                entry.next_attempt_at = now + self._timing.backoff(entry.attempts)
                log.warning(
                    "notification %s via %s failed (attempt %d, %s); next try at %s",
                    entry.key[:12],
                    entry.channel,
                    entry.attempts,
                    type(exc).__name__,
                    entry.next_attempt_at.isoformat(timespec="seconds"),
                )
            session.commit()
            return False
        entry.status = "sent"
        entry.sent_at = now
        # One commit per message: a crash loses at most the mark of the message in flight.
        session.commit()
        return True


def _channel(entry: NotificationLog) -> tuple[str, str]:
    """What fails together: the one SMTP server for every e-mail; each webhook URL on its own."""
    return (entry.channel, "") if entry.channel == "email" else (entry.channel, entry.target)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
