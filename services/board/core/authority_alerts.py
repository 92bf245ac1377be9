"""Authority-level alerts from statistical process control (CONTRACT §6).

A watched indicator's monthly series is read as an XmR chart (:mod:`services.board.core.spc`) as of each
month. When the latest point carries a special cause in the concerning direction, the authority alert
``spc-<indicator id>`` is raised (scope ``authority``, no child, subject = the indicator id, the chart's
points and the rules that fired as evidence); it resolves the first month the reading no longer shows one.
Level-triggered, like case alerts: the same series always gives the same transitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from schemas.alerts import AlertTransition, ChartPoint, Severity, fingerprint

from .spc import Better, Chart, Signal, SpcConfig, concerning_signals, describe_signal, xmr

AUTHORITY_SCOPE_KEY = ""
"""The child part of an authority alert's fingerprint (no child)."""


@dataclass(frozen=True)
class WatchedSeries:
    """Configuration: one indicator watched for authority alerts."""

    indicator_id: str
    title: str
    better: Better
    severity: Severity = "medium"
    target: float | None = None
    config: SpcConfig = field(default_factory=SpcConfig)

    @property
    def rule(self) -> str:
        return f"spc-{self.indicator_id}"


def rule_id(indicator_id: str) -> str:
    return f"spc-{indicator_id}"


def _summary(watched: WatchedSeries, chart: Chart, signals: tuple[Signal, ...]) -> str:
    causes = ", ".join(describe_signal(signal, chart) for signal in signals)
    return f"{watched.title}: {causes}."


def _evidence(chart: Chart) -> tuple[tuple[ChartPoint, ...], dict[str, float]]:
    points = tuple(
        ChartPoint(period=p.period, value=p.value, signals=tuple(f"{s.rule}:{s.side}" for s in p.signals))
        for p in chart.points
    )
    limits = chart.limits
    assert limits is not None
    bounds = {
        "mean": limits.mean,
        "upper_process_limit": limits.upper,
        "lower_process_limit": limits.lower,
        "upper_two_sigma": limits.upper_two_sigma,
        "lower_two_sigma": limits.lower_two_sigma,
    }
    return points, bounds


def transition(
    watched: WatchedSeries,
    chart: Chart,
    *,
    was_raised: bool,
    at: date,
) -> AlertTransition | None:
    """The transition (if any) when ``chart`` is read at ``at`` and the alert was (not) raised before."""
    signals = concerning_signals(chart)
    if bool(signals) == was_raised:
        return None
    if chart.limits is None:
        return None  # cannot happen when raised is wanted (no limits, no signals); resolving needs limits too
    points, bounds = _evidence(chart)
    if signals:
        summary = _summary(watched, chart, signals)
        state = "raised"
    else:
        summary = f"{watched.title}: the special cause has ended ({chart.variation.replace('-', ' ')})."
        state = "resolved"
    return AlertTransition(
        fingerprint=fingerprint(watched.rule, AUTHORITY_SCOPE_KEY, watched.indicator_id),
        rule=watched.rule,
        child_id=None,
        scope="authority",
        subject=watched.indicator_id,
        state=state,
        at=at,
        severity=watched.severity,
        summary=summary,
        points=points,
        limits=bounds,
        dates={"period": chart.points[-1].period},
    )


def series_transitions(
    watched: WatchedSeries,
    series: Sequence[tuple[date, float]],
    *,
    was_raised: bool = False,
) -> list[AlertTransition]:
    """Every transition as the series grows month by month: the chart is read on each prefix of the series
    (what was known at each month's end), and each transition is dated at its month's period."""
    out: list[AlertTransition] = []
    raised = was_raised
    for end in range(1, len(series) + 1):
        chart = xmr(series[:end], watched.better, target=watched.target, config=watched.config)
        found = transition(watched, chart, was_raised=raised, at=series[end - 1][0])
        if found is not None:
            out.append(found)
            raised = found.state == "raised"
    return out
