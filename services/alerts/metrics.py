"""Prometheus metrics of the alerts service.

Read from the database at scrape time (so every replica and a restarted process report the same numbers),
plus the consumer's in-process totals. No child id in any label.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from carewatch.db import session_factory
from carewatch.observability import add_process_collectors
from services.alerts.consumer import ConsumerStats
from services.alerts.lifecycle import OPEN_STATES
from services.alerts.models import Alert, NotificationLog


class AlertsCollector(Collector):
    def __init__(self, engine: Engine, consumer: ConsumerStats | None = None) -> None:
        self._sessions = session_factory(engine)
        self._consumer = consumer

    def collect(self) -> Iterator[Metric]:
        open_alerts = GaugeMetricFamily(
            "carewatch_alerts_open",
            "Open alerts (raised or acknowledged)",
            labels=["rule", "severity", "team"],
        )
        unacknowledged = GaugeMetricFamily(
            "carewatch_alerts_unacknowledged",
            "Raised alerts nobody has acknowledged yet",
            labels=["severity"],
        )
        sent = CounterMetricFamily("carewatch_alerts_notifications_sent", "Digests delivered", labels=["channel"])
        failed = CounterMetricFamily(
            "carewatch_alerts_notification_failures", "Failed delivery attempts", labels=["channel"]
        )
        pending = GaugeMetricFamily(
            "carewatch_alerts_notifications_pending",
            "Digests waiting to be sent or retried",
            labels=["channel"],
        )
        with self._sessions() as session:
            rows = session.execute(
                select(Alert.rule, Alert.severity, Alert.team, func.count(Alert.id))
                .where(Alert.state.in_(OPEN_STATES))
                .group_by(Alert.rule, Alert.severity, Alert.team)
            )
            for rule, severity, team, count in rows:
                open_alerts.add_metric([rule, severity, team or "none"], count)
            for severity, count in session.execute(
                select(Alert.severity, func.count(Alert.id)).where(Alert.state == "raised").group_by(Alert.severity)
            ):
                unacknowledged.add_metric([severity], count)
            log = session.execute(
                select(
                    NotificationLog.channel,
                    NotificationLog.status,
                    func.count(NotificationLog.id),
                    func.coalesce(func.sum(NotificationLog.failures), 0),
                ).group_by(NotificationLog.channel, NotificationLog.status)
            )
            by_channel: dict[str, dict[str, int]] = {}
            for channel, status, count, failures in log:
                counts = by_channel.setdefault(channel, {"sent": 0, "pending": 0, "failures": 0})
                counts["failures"] += int(failures)
                if status in ("sent", "pending"):
                    counts[status] += int(count)
        for channel in ("email", "webhook"):
            counts = by_channel.get(channel, {"sent": 0, "pending": 0, "failures": 0})
            sent.add_metric([channel], counts["sent"])
            failed.add_metric([channel], counts["failures"])
            pending.add_metric([channel], counts["pending"])
        yield from (open_alerts, unacknowledged, sent, failed, pending)
        if self._consumer is not None:
            yield CounterMetricFamily(
                "carewatch_alerts_transitions_consumed",
                "Alert transitions read from the alerts topic and written",
                value=self._consumer.consumed,
            )
            yield CounterMetricFamily(
                "carewatch_alerts_bad_records",
                "Undecodable records on the alerts topic",
                value=self._consumer.bad,
            )
            dead_letters = CounterMetricFamily(
                "carewatch_dead_letters",
                "Records a consumer could not process, sent to a dead-letter topic",
                labels=["stage"],
            )
            dead_letters.add_metric(["alerts"], self._consumer.dead_lettered)
            dead_letters.add_metric(["board"], self._consumer.board_dead_lettered)
            yield dead_letters
            lag = GaugeMetricFamily(
                "carewatch_consumer_lag_records",
                "Records on the input topic not yet processed (partition end minus position), by consumer",
                labels=["consumer", "partition"],
            )
            for partition, behind in sorted(self._consumer.lag.items()):
                lag.add_metric(["alerts", str(partition)], behind)
            yield lag


def build_registry(engine: Engine, consumer: ConsumerStats | None = None) -> CollectorRegistry:
    registry = add_process_collectors(CollectorRegistry(auto_describe=False))
    registry.register(AlertsCollector(engine, consumer))
    return registry
