"""Authority alerts live, on a real broker and PostgreSQL: the board feed reads the watched series when a month's
last day is stored and publishes the transitions on the alerts topic; the alerts consumer stores them through the
lifecycle. The demo generator's deliberate turn (entries to care rising for 8 months from October 2024) raises the
alert, which resolves when the special cause ends; a restarted feed publishes nothing again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, select

from carewatch.broker import read_to_end
from carewatch.db import make_engine, migrate, session_factory
from schemas import topics
from schemas.alerts import is_authority_key
from schemas.events import parse_event
from services.alerts.consumer import AlertConsumer
from services.alerts.models import Alert, AlertHistory
from services.archive import store as archive
from services.board.authority_feed import AuthorityPublisher
from services.board.core.aggregate import DeltaBatch
from services.board.core.authority_alerts import DEFAULT_WATCHED
from services.board.feed import DeltaFeed
from services.demo.generator import TURN_FROM_MONTH, generate
from services.rules.core.calendar import add_months

pytestmark = pytest.mark.integration

PARTITIONS = 4  # the fresh_broker fixture's topics
START = date(2024, 7, 1)
MONTHS = 18
UNTIL = date(2025, 12, 31)
WATCHED = tuple(w for w in DEFAULT_WATCHED if w.indicator_id == "entered-care-month")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def archive_history(engine: Engine) -> None:
    """The synthetic authority's events, with the turn, as ingest archives them."""
    raw = generate(seed=1, months=MONTHS, start=START, bad_share=0.0, turn=True)
    archive.append(engine, [parse_event(r, received_at=None) for r in raw], datetime.now(UTC))


def send_ticks(bootstrap: str, first: date, last: date) -> None:
    """Every partition's (empty) indicator-delta batch for each day: the days the rules worker has passed."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    day = first
    while day <= last:
        for partition in range(PARTITIONS):
            value = DeltaBatch.of(day, []).model_dump_json().encode()
            producer.send(topics.INDICATOR_DELTAS, value=value, partition=partition)
        day += timedelta(days=1)
    producer.flush()
    producer.close()


def run_until(step: Callable[[], object], done: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step()
        if done():
            return
    raise AssertionError("not there within the deadline")


def new_feed(bootstrap: str, engine: Engine) -> DeltaFeed:
    publisher = AuthorityPublisher(bootstrap, engine, population=None, watched=WATCHED)
    return DeltaFeed(bootstrap, engine, authority=publisher)


def authority_records(bootstrap: str) -> list[bytes]:
    return [
        r.value for r in read_to_end(bootstrap, topics.ALERTS) if r.key is not None and is_authority_key(r.key.decode())
    ]


def authority_rows(engine: Engine) -> list[Alert]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(Alert).where(Alert.scope == "authority").order_by(Alert.id)))


def engine_history(engine: Engine) -> list[tuple[str, date | None]]:
    with session_factory(engine)() as session:
        query = (
            select(AlertHistory.action, AlertHistory.event_date)
            .join(Alert, Alert.id == AlertHistory.alert_id)
            .where(Alert.scope == "authority", AlertHistory.actor == "engine")
            .order_by(AlertHistory.event_date, AlertHistory.id)
        )
        return [(action, on) for action, on in session.execute(query)]


def test_the_turn_is_published_live_stored_and_resolved_and_a_restart_publishes_nothing_again(
    fresh_broker: str, engine: Engine
) -> None:
    archive_history(engine)
    turn_from = add_months(START, TURN_FROM_MONTH)
    consumer = AlertConsumer(fresh_broker, engine, group_id=f"authority-{uuid.uuid4().hex[:6]}")
    try:
        # Up to the turn's sixth month (March 2025): the alert is open, raised by a month of the turn.
        raised_by = date(2025, 3, 31)
        send_ticks(fresh_broker, START, raised_by)
        feed = new_feed(fresh_broker, engine)
        assert feed.authority is not None
        try:
            run_until(lambda: feed.run_once(timeout_ms=300), lambda: feed.authority.evaluated_through == raised_by)
            sent = feed.authority.sent
            assert feed.authority.evaluations == 9  # each month end July 2024 … March 2025, once
        finally:
            feed.close()
        published = authority_records(fresh_broker)
        assert len(published) == sent >= 1
        run_until(lambda: consumer.run_once(timeout_ms=300), lambda: len(engine_history(engine)) == sent)
        rows = authority_rows(engine)
        assert {(r.scope, r.subject, r.rule) for r in rows} == {
            ("authority", "entered-care-month", "spc-entered-care-month")
        }
        assert all(r.child_id is None and r.team is None for r in rows)
        # One occurrence per raised (a signal that ends resolves its occurrence; a new one opens the next).
        assert len(rows) == sum(1 for action, _ in engine_history(engine) if action == "raised")
        assert [r.state for r in rows[:-1]] == ["resolved"] * (len(rows) - 1)
        alert = rows[-1]
        assert alert.state == "raised" and alert.raised_at is not None
        assert turn_from <= alert.raised_at <= raised_by
        assert alert.summary.startswith("Children starting to be looked after:")
        assert alert.chart is not None and alert.chart["points"][-1]["signals"]
        assert alert.chart["points"][-1]["period"] == alert.raised_at.isoformat()

        # A restart reads its last stored month end again: nothing new is published.
        again = new_feed(fresh_broker, engine)
        assert again.authority is not None
        try:
            run_until(lambda: again.run_once(timeout_ms=300), lambda: again.authority.evaluated_through == raised_by)
            assert (again.authority.evaluations, again.authority.sent) == (1, 0)
            assert len(authority_records(fresh_broker)) == sent

            # The rest of the history: the special cause ends, the alert resolves.
            send_ticks(fresh_broker, raised_by + timedelta(days=1), UNTIL)
            run_until(lambda: again.run_once(timeout_ms=300), lambda: again.authority.evaluated_through == UNTIL)
            assert again.authority.evaluations == 1 + 9  # and April … December 2025
            more = again.authority.sent
        finally:
            again.close()
        assert more >= 1
        assert len(authority_records(fresh_broker)) == sent + more
        run_until(lambda: consumer.run_once(timeout_ms=300), lambda: len(engine_history(engine)) == sent + more)
        final = authority_rows(engine)
        assert final[len(rows) - 1].id == alert.id
        assert all(r.state == "resolved" for r in final)
        assert final[len(rows) - 1].resolved_at is not None and final[len(rows) - 1].resolved_at > alert.raised_at
    finally:
        consumer.close()
