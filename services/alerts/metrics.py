"""Prometheus metrics of the alerts service.

Read from the database at scrape time (so every replica and a restarted process report the same numbers),
plus the consumer's in-process totals. No child id in any label.

``/metrics`` needs no token, so it follows the board's disclosure control: open alerts are exported by rule
and severity across all teams, and per team only as a total, for teams with at least ``suppression_threshold``
open alerts. When the hidden teams would be just one (its count derivable from the overall total), the
smallest shown team is hidden with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from carewatch.db import session_factory
from carewatch.observability import add_process_collectors
from services.alerts.consumer import ConsumerStats
from services.alerts.lifecycle import OPEN_STATES
from services.alerts.models import Alert, NotificationLog


def shown_teams(counts: dict[str, int], threshold: int) -> dict[str, int]:
    """Per-team counts safe to publish: none below ``threshold``, and never exactly one team hidden."""
    shown = {team: n for team, n in counts.items() if n >= threshold}
    hidden = [team for team, n in counts.items() if team not in shown and n > 0]
    if len(hidden) == 1 and shown:
        del shown[min(shown, key=lambda team: (shown[team], team))]
    return shown


class AlertsCollector(Collector):
    def __init__(self, engine: Engine, consumer: ConsumerStats | None = None, suppression_threshold: int = 5) -> None:
        self._sessions = session_factory(engine)
        self._consumer = consumer
        self._threshold = suppression_threshold

    def collect(self) -> Iterator[Metric]:
        open_alerts = GaugeMetricFamily(
            "carewatch_alerts_open",
            "Open alerts (raised or acknowledged), all teams",
            labels=["rule", "severity"],
        )
        open_by_team = GaugeMetricFamily(
            "carewatch_alerts_open_by_team",
            "Open alerts per team; teams with fewer than the suppression threshold are not shown",
            labels=["team"],
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
        given_up = GaugeMetricFamily(
            "carewatch_alerts_notifications_failed",
            "Digests given up on after retrying for CAREWATCH_NOTIFY_GIVE_UP_HOURS",
            labels=["channel"],
        )
        with self._sessions() as session:
            rows = session.execute(
                select(Alert.rule, Alert.severity, func.count(Alert.id))
                .where(Alert.state.in_(OPEN_STATES))
                .group_by(Alert.rule, Alert.severity)
            )
            for rule, severity, count in rows:
                open_alerts.add_metric([rule, severity], count)
            per_team = session.execute(
                select(Alert.team, func.count(Alert.id)).where(Alert.state.in_(OPEN_STATES)).group_by(Alert.team)
            )
            counts = {team or "none": int(count) for team, count in per_team}
            for team, count in sorted(shown_teams(counts, self._threshold).items()):
                open_by_team.add_metric([team], count)
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
                tally = by_channel.setdefault(channel, {"sent": 0, "pending": 0, "failed": 0, "failures": 0})
                tally["failures"] += int(failures)
                if status in ("sent", "pending", "failed"):
                    tally[status] += int(count)
        for channel in ("email", "webhook"):
            tally = by_channel.get(channel, {"sent": 0, "pending": 0, "failed": 0, "failures": 0})
            sent.add_metric([channel], tally["sent"])
            failed.add_metric([channel], tally["failures"])
            pending.add_metric([channel], tally["pending"])
            given_up.add_metric([channel], tally["failed"])
        yield from (open_alerts, open_by_team, unacknowledged, sent, failed, pending, given_up)
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
            yield CounterMetricFamily(
                "carewatch_board_authority_transitions_published",
                "Authority alert transitions the board feed published on the alerts topic",
                value=self._consumer.authority_published,
            )
            through = self._consumer.authority_read_through
            if through is not None:
                yield GaugeMetricFamily(
                    "carewatch_board_authority_read_through_timestamp_seconds",
                    "The last month end (midnight UTC) at which the board feed read its watched series",
                    value=datetime(through.year, through.month, through.day, tzinfo=UTC).timestamp(),
                )
            lag = GaugeMetricFamily(
                "carewatch_consumer_lag_records",
                "Records on the input topic not yet processed (partition end minus position), by consumer",
                labels=["consumer", "partition"],
            )
            for partition, behind in sorted(self._consumer.lag.items()):
                lag.add_metric(["alerts", str(partition)], behind)
            yield lag


def build_registry(
    engine: Engine, consumer: ConsumerStats | None = None, suppression_threshold: int = 5
) -> CollectorRegistry:
    registry = add_process_collectors(CollectorRegistry(auto_describe=False))
    registry.register(AlertsCollector(engine, consumer, suppression_threshold))
    return registry
