"""Board indicators as Prometheus gauges, through a custom collector read at scrape time.

Three gauge families, one series per indicator (the only label), for figures that are shown:
``carewatch_board_indicator_value``, ``..._numerator`` and ``..._denominator``. A suppressed figure is
not exported at all (its absence is visible through ``carewatch_board_indicator_suppressed``, 0/1), and
no series carries a child id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from carewatch.settings import AlertsProcess
    from services.board.store import ReturnHealth

SummaryProvider = Callable[[], dict[str, Any] | None]


class BoardCollector(Collector):
    """Exports the summary returned by ``provider`` (None = nothing to export yet)."""

    def __init__(self, provider: SummaryProvider) -> None:
        self._provider = provider

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = self._provider()
        value = GaugeMetricFamily(
            "carewatch_board_indicator_value",
            "Board indicator value (count, percent or rate per 10,000, see the indicator catalogue)",
            labels=["indicator"],
        )
        numerator = GaugeMetricFamily(
            "carewatch_board_indicator_numerator", "Board indicator numerator", labels=["indicator"]
        )
        denominator = GaugeMetricFamily(
            "carewatch_board_indicator_denominator", "Board indicator denominator", labels=["indicator"]
        )
        suppressed = GaugeMetricFamily(
            "carewatch_board_indicator_suppressed",
            "1 when the indicator is hidden by disclosure control (small numbers)",
            labels=["indicator"],
        )
        as_of = GaugeMetricFamily(
            "carewatch_board_as_of_timestamp_seconds",
            "Date of the exported board figures (Unix time, UTC midnight)",
        )
        if summary is not None:
            as_of.add_metric([], _epoch(date.fromisoformat(summary["as_of"])))
            for indicator, entry in sorted(summary["indicators"].items()):
                suppressed.add_metric([indicator], 1.0 if entry["suppressed"] else 0.0)
                if entry["suppressed"]:
                    continue
                if entry["value"] is not None:
                    value.add_metric([indicator], float(entry["value"]))
                if entry["numerator"] is not None:
                    numerator.add_metric([indicator], float(entry["numerator"]))
                if entry["denominator"] is not None:
                    denominator.add_metric([indicator], float(entry["denominator"]))
        yield from (value, numerator, denominator, suppressed, as_of)


class ReturnHealthCollector(Collector):
    """The last stored return-health check: records of the SSDA903 return failing each DfE rule (the rule
    number is the only label), whether the validator could be run, and when the check was made. While the
    validator cannot be run no failing-records series is exported: the count is unknown, not 0."""

    def __init__(self, provider: Callable[[], ReturnHealth | None]) -> None:
        self._provider = provider

    def collect(self) -> Iterator[GaugeMetricFamily]:
        health = self._provider()
        failing = GaugeMetricFamily(
            "carewatch_board_return_health_failing_records",
            "Records of the SSDA903 return that would fail a DfE validation rule if the return were made now",
            labels=["rule"],
        )
        total = GaugeMetricFamily(
            "carewatch_board_return_health_failing_records_all_rules",
            "Records failing any DfE validation rule (a record failing two rules counts twice)",
        )
        available = GaugeMetricFamily(
            "carewatch_board_return_health_validator_available",
            "1 when the last return-health check could run the DfE validator, 0 when it could not",
        )
        checked = GaugeMetricFamily(
            "carewatch_board_return_health_checked_timestamp_seconds",
            "When the last return-health check was made (Unix time)",
        )
        if health is not None:
            available.add_metric([], 1.0 if health.available else 0.0)
            checked.add_metric([], health.checked_at.timestamp())
            if health.available:
                total.add_metric([], float(health.total or 0))
                for rule, count, _ in health.rules:
                    failing.add_metric([rule], float(count))
        yield from (failing, total, available, checked)


def _epoch(day: date) -> float:
    return float((day - date(1970, 1, 1)).days * 86_400)


def latest_snapshot(engine: Engine, settings: AlertsProcess) -> SummaryProvider:
    """A provider reading the latest stored snapshot at each scrape (disclosure applied)."""
    from services.board import store

    def provide() -> dict[str, Any] | None:
        stored = store.dates(engine)
        if not stored:
            return None
        return store.summary_on(
            engine, stored[-1], settings.board.suppression_threshold, settings.board.population_0_17
        )

    return provide
