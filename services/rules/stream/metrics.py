"""Prometheus metrics of the rules stream. Labels are types, rules and reasons: never a child id."""

from __future__ import annotations

import contextlib
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from services.rules.stream.processor import Step

# Handling a record takes tens of microseconds to a few milliseconds; a tick over many due children longer.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The engine's own part (no broker round trip) is mostly well under a millisecond: finer buckets there.
_ENGINE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.1, 1.0)


class RulesMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events = Counter(
            "carewatch_rules_events_processed",
            "Case events processed by the rules stream, by event type",
            ["type"],
            registry=registry,
        )
        self.ticks = Counter("carewatch_rules_ticks", "Clock ticks processed", registry=registry)
        self.last_tick = Gauge(
            "carewatch_rules_last_tick_timestamp_seconds",
            "When this worker last processed a clock tick (Unix time; 0 = none since it started)",
            registry=registry,
        )
        self.lag = Gauge(
            "carewatch_consumer_lag_records",
            "Records on the input topic not yet processed (partition end minus position), by consumer",
            ["consumer", "partition"],
            registry=registry,
        )
        self.children_evaluated = Counter(
            "carewatch_rules_tick_children_evaluated",
            "Children re-evaluated because a tick reached their next due date",
            registry=registry,
        )
        self.transitions = Counter(
            "carewatch_rules_transitions",
            "Alert transitions published, by rule and state",
            ["rule", "state"],
            registry=registry,
        )
        self.indicator_deltas = Counter(
            "carewatch_rules_indicator_deltas",
            "Changes of a child's contribution to a board indicator, published",
            registry=registry,
        )
        self.bad_records = Counter(
            "carewatch_rules_bad_records",
            "Records skipped: json (not JSON), invalid (not an event or tick), "
            "key (key is not the child id), engine (evaluation failed)",
            ["reason"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "carewatch_dead_letters",
            "Records a consumer could not process, sent to a dead-letter topic",
            ["stage"],
            registry=registry,
        )
        self.rebuilds = Counter(
            "carewatch_rules_rebuilds",
            "Children rebuilt from the event archive, by cause: deep (a correction older than the re-fold "
            "log), stale (the restored-state check), incomplete (flagged, but the archive lacks events)",
            ["cause"],
            registry=registry,
        )
        self.processing = Histogram(
            "carewatch_rules_processing_seconds",
            "Time to handle one record: decode, evaluate, publish, write",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.engine = Histogram(
            "carewatch_rules_engine_seconds",
            "Time from taking a record to handing its transitions and indicator deltas to the producer: "
            "decode, evaluate, send (the broker's acknowledgement and the table write not included)",
            buckets=_ENGINE_BUCKETS,
            registry=registry,
        )

        self._lags: dict[int, Gauge] = {}

    def observe(self, step: Step, seconds: float) -> None:
        self.processing.observe(seconds)
        if step.kind == "bad":
            self.bad_records.labels(step.bad_reason or "invalid").inc()
            self.dead_letters.labels("rules").inc()
            return
        if step.rebuilt:
            self.rebuilds.labels("stale" if step.kind == "check" else "deep").inc(step.rebuilt)
        if step.unrebuilt:
            self.rebuilds.labels("incomplete").inc(step.unrebuilt)
        if step.kind == "tick":
            self.ticks.inc()
            self.last_tick.set(time.time())
            self.children_evaluated.inc(len(step.writes))
        elif step.kind == "event":
            self.events.labels(step.event_type or "unknown").inc()
        if step.errors:
            self.bad_records.labels("engine").inc(step.errors)
        self.indicator_deltas.inc(len(step.deltas))
        for transition in step.transitions:
            self.transitions.labels(transition.rule, transition.state).inc()

    def observe_lag(self, partition: int, highwater: int | None, offset: int) -> None:
        """After the record at ``offset``: how many records of its partition are still to be read."""
        if highwater is not None:
            gauge = self._lags.get(partition)
            if gauge is None:  # looking the labels up costs more than the update: once per partition
                gauge = self._lags[partition] = self.lag.labels(consumer="rules", partition=str(partition))
            gauge.set(max(highwater - offset - 1, 0))

    def forget_lag(self, partitions: set[int]) -> None:
        """Partitions this worker no longer owns (another worker reports them now)."""
        for partition in partitions:
            self._lags.pop(partition, None)
            with contextlib.suppress(KeyError):
                self.lag.remove("rules", str(partition))
