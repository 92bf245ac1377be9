"""Prometheus metrics of the ingest service, on a registry of its own (one per app, fresh per test).

Labels are low-cardinality by construction: ``type`` is a known event type or ``unknown``, ``reason`` a
:data:`~services.ingest.validation.RejectReason`. Never a child id, an event id or free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from carewatch.observability import add_process_collectors
from schemas.events import EVENT_TYPES
from services.ingest.validation import REJECT_REASONS, UNKNOWN_TYPE, Accepted, Outcome

TYPE_LABELS = (*EVENT_TYPES, UNKNOWN_TYPE)
FILE_LOAD_OUTCOMES: Final = ("done", "interrupted")


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else add_process_collectors(CollectorRegistry())
        self.received = Counter(
            "carewatch_ingest_events_received",
            "Items received (HTTP and files), by event type",
            ["type"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "carewatch_ingest_events_accepted",
            "Valid events acknowledged by the broker on the case-events topic",
            ["type"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "carewatch_ingest_events_rejected",
            "Rejected items acknowledged by the broker on the dead-letter topic, by reason class",
            ["type", "reason"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "carewatch_ingest_publish_failures",
            "Batches the broker did not acknowledge (the client was told to resend)",
            registry=self.registry,
        )
        self.requests = Counter(
            "carewatch_ingest_http_requests",
            "HTTP ingest requests by response status code",
            ["code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "carewatch_ingest_request_seconds",
            "Time to answer an ingest request, broker acknowledgement included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.file_loads = Counter(
            "carewatch_ingest_file_loads",
            "Files loaded by `carewatch ingest`: done (every line acknowledged) or interrupted (broker failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.last_file_load = Gauge(
            "carewatch_ingest_last_file_load_timestamp_seconds",
            "When `carewatch ingest` last finished loading a file (Unix time)",
            registry=self.registry,
        )
        for outcome in FILE_LOAD_OUTCOMES:
            self.file_loads.labels(outcome=outcome)
        # Every series exists from the start, so rates and dashboards work before the first rejection.
        for label in TYPE_LABELS:
            self.received.labels(type=label)
            for reason in REJECT_REASONS:
                self.rejected.labels(type=label, reason=reason)
        for label in EVENT_TYPES:
            self.accepted.labels(type=label)

    def count_received(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.received.labels(type=outcome.event_type).inc()

    def count_written(self, outcomes: Iterable[Outcome]) -> None:
        """After the broker acknowledged: each outcome landed on its topic."""
        for outcome in outcomes:
            if isinstance(outcome, Accepted):
                self.accepted.labels(type=outcome.event_type).inc()
            else:
                self.rejected.labels(type=outcome.event_type, reason=outcome.reason).inc()
