"""Digests over a real SMTP server (aiosmtpd) and a local webhook receiver, driven by an explicit ``now``."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.lifecycle import EscalationPolicy
from services.alerts.metrics import build_registry
from services.alerts.models import Alert, NotificationLog
from services.alerts.notify import DigestTiming, EmailSender, Notifier, WebhookSender
from services.alerts.routing import RecipientSpec, RoutingConfig, seed_routes
from services.alerts.store import acknowledge, apply_transitions

pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
TIMING = DigestTiming(
    group_wait=timedelta(seconds=30),
    group_interval=timedelta(minutes=5),
    repeat_interval=timedelta(hours=4),
    retry_base=timedelta(seconds=10),
    retry_max=timedelta(minutes=5),
    give_up_after=timedelta(hours=6),
)
POLICY = EscalationPolicy({"high": 2, "medium": 5, "low": 10})


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
        )  # type: ignore[arg-type]
        return "250 OK"

    def text(self, address: str, index: int = -1) -> str:
        return str(self.to(address)[index].get_content())

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class Receiver:
    """A webhook endpoint that fails the first ``fail_first`` requests with 500."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.fail_first = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if receiver.requests <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                receiver.keys.append(self.headers["Idempotency-Key"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def raised(child: str, rule: str = "pep-overdue", team: str = "north", at: date = date(2025, 3, 10)) -> AlertTransition:
    return AlertTransition(
        fingerprint=fingerprint(rule, child),
        rule=rule,
        child_id=child,
        state="raised",
        at=at,
        severity="high",
        summary=f"No PEP for {child}",
        dates={"deadline": date(2025, 2, 26)},
        team=team,
    )


def setup(engine: Engine, receiver: Receiver, smtp_port: int) -> Notifier:
    config = RoutingConfig(
        default=[RecipientSpec(email="duty@example.org")],
        head_of_service=[RecipientSpec(email="hos@example.org")],
        teams={"north": [RecipientSpec(email="north@example.org"), RecipientSpec(webhook=receiver.url)]},
    )
    with session_factory(engine).begin() as session:
        seed_routes(session, config)
        seed_routes(session, config)  # idempotent
    return make_notifier(engine, smtp_port)


def make_notifier(engine: Engine, smtp_port: int) -> Notifier:
    senders = {
        "email": EmailSender("127.0.0.1", smtp_port, "carewatch@example.org"),
        "webhook": WebhookSender(),
    }
    return Notifier(
        engine,
        TIMING,
        POLICY,
        senders,
        public_url="https://carewatch.example.org",
        include_child_ids=True,
        quick_attempts=1,
    )


def add(engine: Engine, *transitions: AlertTransition, now: datetime = T0) -> None:
    with session_factory(engine).begin() as session:
        apply_transitions(session, list(transitions), now)


def test_burst_becomes_one_digest_then_interval_repeat_and_restart(
    engine: Engine, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    box, port = mailbox
    notifier = setup(engine, receiver, port)
    add(engine, *(raised(f"N{i}") for i in range(5)), raised("Z1", team="nowhere"))
    assert notifier.tick(T0).planned == 0  # group_wait starts
    add(engine, raised("N5"))
    assert notifier.tick(T0 + timedelta(seconds=29)).sent == 0
    result = notifier.tick(T0 + timedelta(seconds=30))
    assert (result.planned, result.sent, result.failed) == (3, 3, 0)  # north e-mail, north webhook, default
    north = box.to("north@example.org")
    assert len(north) == 1
    text = box.text("north@example.org")
    assert "6 open alerts" in str(north[0]["Subject"])
    assert "child N3" in text and "PEP due by 26 February 2025 — 12 days overdue" in text
    assert "https://carewatch.example.org/alerts/" in text
    assert len(box.to("duty@example.org")) == 1 and "child Z1" in box.text("duty@example.org")
    assert len(receiver.bodies) == 1
    assert {a["child_id"] for a in receiver.bodies[0]["alerts"]} == {f"N{i}" for i in range(6)}
    assert "text" in receiver.bodies[0]

    # Nothing new: quiet until the repeat interval.
    assert notifier.tick(T0 + timedelta(minutes=10)).planned == 0
    # A restart (a new notifier on the same database) re-sends nothing.
    restarted = make_notifier(engine, port)
    assert restarted.tick(T0 + timedelta(minutes=11)).sent == 0
    assert len(box.to("north@example.org")) == 1

    # A new alert waits for group_interval after the last digest.
    add(engine, raised("N9"))
    assert restarted.tick(T0 + timedelta(seconds=30 + 299)).planned == 0
    assert restarted.tick(T0 + timedelta(seconds=30 + 300)).planned == 2
    assert len(box.to("north@example.org")) == 2

    # Acknowledged alerts leave the digest; the repeat comes after repeat_interval.
    with session_factory(engine).begin() as session:
        for alert in session.scalars(select(Alert).where(Alert.child_id.in_(["N0", "N1"]))):
            acknowledge(session, alert, "mgr", "seen", T0)
    later = T0 + timedelta(seconds=330) + timedelta(hours=4)
    assert restarted.tick(T0 + timedelta(seconds=30, hours=4)).planned == 1  # the default route's repeat
    assert restarted.tick(later - timedelta(seconds=1)).planned == 0
    assert restarted.tick(later).planned == 2
    last = box.text("north@example.org")
    assert "child N0" not in last and "child N9" in last
    assert len(set(receiver.keys)) == len(receiver.keys) == 3


def test_escalation_reaches_the_head_of_service(
    engine: Engine, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    box, port = mailbox
    notifier = setup(engine, receiver, port)
    monday = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    add(engine, raised("E1", at=date(2025, 3, 3)), now=monday)  # high: 2 working days → due Wednesday 5 March
    # Replayed history: raised long ago but stored today, so the allowance starts today.
    add(engine, raised("E2", at=date(2025, 1, 6)), now=monday)
    notifier.tick(monday)
    notifier.tick(monday + timedelta(minutes=1))
    assert box.to("hos@example.org") == []
    wednesday = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)
    assert notifier.tick(wednesday).escalated == 2
    notifier.tick(wednesday + timedelta(minutes=1))
    assert len(box.to("hos@example.org")) == 1
    assert "(escalated)" in box.text("hos@example.org")


def test_failing_webhook_is_retried_with_backoff_and_counted(
    engine: Engine, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    _, port = mailbox
    receiver.fail_first = 2
    notifier = setup(engine, receiver, port)
    registry = build_registry(engine)

    def webhook_failures() -> float | None:
        return registry.get_sample_value("carewatch_alerts_notification_failures_total", {"channel": "webhook"})

    add(engine, raised("W1"))
    notifier.tick(T0)
    assert webhook_failures() == 0
    first = notifier.tick(T0 + timedelta(seconds=30))
    assert webhook_failures() == 1
    assert first.failed == 1 and first.sent == 1  # the e-mail went, the webhook failed
    assert notifier.tick(T0 + timedelta(seconds=39)).failed == 0  # backoff: 10 s
    assert notifier.tick(T0 + timedelta(seconds=40)).failed == 1
    assert notifier.tick(T0 + timedelta(seconds=59)).sent == 0  # backoff doubled: 20 s
    assert notifier.tick(T0 + timedelta(seconds=60)).sent == 1
    with session_factory(engine)() as session:
        hook = session.scalars(select(NotificationLog).where(NotificationLog.channel == "webhook")).one()
        assert (hook.status, hook.attempts, hook.failures) == ("sent", 3, 2)
    assert len(receiver.bodies) == 1
    assert webhook_failures() == 2
    sent = registry.get_sample_value("carewatch_alerts_notifications_sent_total", {"channel": "webhook"})
    assert sent == 1


def test_retries_for_hours_then_gives_up(engine: Engine, mailbox: tuple[Mailbox, int], receiver: Receiver) -> None:
    _, port = mailbox
    receiver.fail_first = 10_000
    notifier = setup(engine, receiver, port)
    registry = build_registry(engine)
    add(engine, raised("W2"))
    notifier.tick(T0)
    planned = T0 + timedelta(seconds=30)
    notifier.tick(planned)
    waits = []
    with session_factory(engine)() as session:
        for _ in range(8):
            hook = session.scalars(select(NotificationLog).where(NotificationLog.channel == "webhook")).one()
            waits.append(int((hook.next_attempt_at.replace(tzinfo=UTC) - planned).total_seconds()))
            notifier.tick(hook.next_attempt_at.replace(tzinfo=UTC))
            session.expire_all()
    # 10 s doubling, capped at retry_max (5 minutes): a channel back is used within 5 minutes.
    steps = [b - a for a, b in zip([0, *waits], waits, strict=False)]
    assert steps[:6] == [10, 20, 40, 80, 160, 300] and steps[6:] == [300, 300]
    assert registry.get_sample_value("carewatch_alerts_notifications_failed", {"channel": "webhook"}) == 0
    notifier.tick(planned + timedelta(hours=6))  # give_up_after: 6 hours after it was planned
    with session_factory(engine)() as session:
        hooks = session.scalars(
            select(NotificationLog).where(NotificationLog.channel == "webhook").order_by(NotificationLog.id)
        ).all()
        assert hooks[0].status == "failed" and hooks[0].failures == hooks[0].attempts == 10
        assert [h.status for h in hooks[1:]] == ["pending"]  # the 4-hour repeat, planned meanwhile
    assert registry.get_sample_value("carewatch_alerts_notifications_failed", {"channel": "webhook"}) == 1


def test_smtp_outage_then_every_digest_delivered_exactly_once(engine: Engine) -> None:
    """aiosmtpd down for two (simulated) hours while nine teams' digests fall due, then up again."""
    port = free_port()
    teams = [f"t{i}" for i in range(9)]
    config = RoutingConfig(
        default=[RecipientSpec(email="duty@example.org")],
        teams={team: [RecipientSpec(email=f"{team}@example.org")] for team in teams},
    )
    with session_factory(engine).begin() as session:
        seed_routes(session, config)
    sender = EmailSender("127.0.0.1", port, "carewatch@example.org")
    notifier = Notifier(engine, TIMING, POLICY, {"email": sender}, public_url="https://carewatch.example.org")
    add(engine, *(raised(f"OUT{i}", team=team) for i, team in enumerate(teams)))
    notifier.tick(T0)
    now = T0 + timedelta(seconds=30)
    failed_attempts = ticks = 0
    while now < T0 + timedelta(hours=2):  # nothing listens on the port
        result = notifier.tick(now)
        assert result.sent == 0
        failed_attempts += result.failed
        ticks += 1
        now += timedelta(minutes=5)
    with session_factory(engine)() as session:
        statuses = [e.status for e in session.scalars(select(NotificationLog))]
    assert statuses == ["pending"] * 9
    # At most one failure per tick (the channel is down: the other digests wait instead of timing out).
    assert 0 < failed_attempts <= ticks

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # Back within retry_max at most; the first success sends every digest waiting on the channel.
        for _ in range(6):
            notifier.tick(now)
            now += timedelta(minutes=1)
        for _ in range(3):  # and nothing is sent twice afterwards
            notifier.tick(now)
            now += timedelta(minutes=1)
    finally:
        controller.stop()
    recipients = sorted(r for rcpts, _ in box.messages for r in rcpts)
    assert recipients == sorted(f"{team}@example.org" for team in teams)
    ids = [m["Message-ID"] for _, m in box.messages]
    assert len(set(ids)) == len(ids) == 9
    with session_factory(engine)() as session:
        assert {e.status for e in session.scalars(select(NotificationLog))} == {"sent"}
    # The default bodies carry no child id.
    assert not any("OUT" in str(m.get_content()) for _, m in box.messages)
    assert all("https://carewatch.example.org/alerts/" in str(m.get_content()) for _, m in box.messages)


def test_starttls_is_used_when_the_server_offers_it(engine: Engine, tmp_path: Any) -> None:
    """auto: upgrade with STARTTLS when offered; starttls: refuse a server that does not offer it."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)),
            *("-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    class TlsMailbox(Mailbox):
        def __init__(self) -> None:
            super().__init__()
            self.tls: list[bool] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.tls.append(session.ssl is not None)
            return await super().handle_DATA(server, session, envelope)

    box = TlsMailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_context, require_starttls=True)
    controller.start()
    try:
        entry = NotificationLog(key="k" * 40, target="a@example.org", subject="s", body="b")
        EmailSender("127.0.0.1", port, "carewatch@example.org", tls="auto", context=client_context).send(entry)
        assert box.tls == [True]
    finally:
        controller.stop()
    plain_port = free_port()
    plain = Controller(Mailbox(), hostname="127.0.0.1", port=plain_port)
    plain.start()
    try:
        entry = NotificationLog(key="k" * 40, target="a@example.org", subject="s", body="b")
        with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
            EmailSender("127.0.0.1", plain_port, "x@example.org", tls="starttls").send(entry)
        with pytest.raises(smtplib.SMTPNotSupportedError, match="password"):
            EmailSender("127.0.0.1", plain_port, "x@example.org", user="u", password="p").send(entry)
    finally:
        plain.stop()
