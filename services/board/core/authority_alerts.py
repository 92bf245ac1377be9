"""Authority-level alerts from statistical process control (CONTRACT §6).

A watched indicator's monthly series is read as an XmR chart (:mod:`services.board.core.spc`) as of each
month. When the latest point carries a special cause in the concerning direction, the authority alert
``spc-<indicator id>`` is raised (scope ``authority``, no child, subject = the indicator id, the chart's
points and the rules that fired as evidence).

It resolves deliberately: only when none of the chart's latest ``resolve_after_months`` points (default 2)
carries a special cause in the concerning direction. NHS England's "Making Data Count" reads a chart as a
whole, not its last point alone: a single point beyond a process limit followed by an ordinary month is
not the end of a signal, and an alert that resolves on that month and is raised again the month after
(flapping) teaches its audience to ignore it. Raising stays immediate (the month the latest point shows
the cause), so the early warning is not delayed. ``resolve_after_months = 1`` resolves on the first
ordinary month.

Nor does it resolve while the latest point continues a run strictly on the concerning side of the mean that
holds a concerning special cause (:func:`~services.board.core.spc.concerning_run_continues`): the change has
not ended while the points stay on its side. Read live, the chart's limits move with its window: a sustained
rise entering the window pulls the mean and limits up, so months within it stop firing a rule although the
rise goes on; without this the alert resolved and was raised again within one rise (the demo's deliberate
turn raised and resolved its alert several times). MDC reads a shift as lasting while the run does.

Level-triggered, like case alerts: the transition depends only on the series and the state last
published, so the same series always gives the same transitions, and a restarted feed decides as the
running one would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from schemas.alerts import AlertTransition, ChartPoint, Severity, TransitionState, fingerprint
from services.rules.core.cin.facts import CinFacts

from .cin_indicators import DEFINITIONS, monthly_series
from .spc import (
    Better,
    Chart,
    Signal,
    SpcConfig,
    concerning_run_continues,
    concerning_signals,
    describe_signal,
    months_without_concern,
    xmr,
)

AUTHORITY_SCOPE_KEY = ""
"""The child part of an authority alert's fingerprint (no child)."""
DEFAULT_RESOLVE_AFTER_MONTHS = 2
"""Ordinary months in a row before a raised authority alert resolves (see the module docstring)."""


@dataclass(frozen=True)
class WatchedSeries:
    """Configuration: one indicator watched for authority alerts."""

    indicator_id: str
    title: str
    better: Better
    severity: Severity = "medium"
    target: float | None = None
    config: SpcConfig = field(default_factory=SpcConfig)
    resolve_after_months: int = DEFAULT_RESOLVE_AFTER_MONTHS
    """A raised alert resolves only when this many latest months in a row show no concerning special cause."""

    def __post_init__(self) -> None:
        if self.resolve_after_months < 1:
            raise ValueError("resolve_after_months must be at least 1")

    @property
    def rule(self) -> str:
        return f"spc-{self.indicator_id}"

    @property
    def fingerprint(self) -> str:
        """The fingerprint of this series' authority alert."""
        return fingerprint(self.rule, AUTHORITY_SCOPE_KEY, self.indicator_id)


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
    """The transition (if any) when ``chart`` is read at ``at`` and the alert was (not) raised before: raised
    when the latest point shows a concerning special cause; resolved only when the latest
    ``watched.resolve_after_months`` points show none and the latest point does not continue a concerning
    run on the concerning side of the mean."""
    if chart.limits is None:
        return None  # no limits, no signals: nothing to raise, and nothing to resolve on
    signals = concerning_signals(chart)
    clear = months_without_concern(chart)
    if was_raised and (clear < watched.resolve_after_months or concerning_run_continues(chart)):
        return None
    if not was_raised and not signals:
        return None
    points, bounds = _evidence(chart)
    if signals:
        summary = _summary(watched, chart, signals)
        state = "raised"
    else:
        months = "month" if clear == 1 else f"{clear} months"
        summary = (
            f"{watched.title}: the special cause has ended, no concerning signal for the last {months} "
            f"({chart.variation.replace('-', ' ')})."
        )
        state = "resolved"
    return AlertTransition(
        fingerprint=watched.fingerprint,
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


def live_transitions(
    watched: WatchedSeries,
    series: Sequence[tuple[date, float]],
    last: TransitionState | None,
) -> list[AlertTransition]:
    """What to publish when ``series`` has just gained its latest month, given the last state published for
    the series' alert (``None``: nothing yet). Nothing published yet: the transitions of the whole series
    (:func:`series_transitions`, the alert's recent history). Otherwise level-triggered on the latest reading:
    raised when it shows a concerning special cause and the alert was last resolved, resolved when its latest
    ``resolve_after_months`` points show none and the alert was last raised, dated at the latest month;
    nothing otherwise.

    The reading of a month is the chart of the series as it stands then (its window moves on), so a live
    alert follows the latest reading rather than re-deriving the earlier months' transitions."""
    if not series:
        return []
    if last is None:
        return series_transitions(watched, series)
    chart = xmr(series, watched.better, target=watched.target, config=watched.config)
    found = transition(watched, chart, was_raised=last == "raised", at=series[-1][0])
    return [] if found is None else [found]


DEFAULT_WATCHED: tuple[WatchedSeries, ...] = (
    WatchedSeries("entered-care-month", "Children starting to be looked after", "lower"),
    WatchedSeries("re-entered-care-12m", "Re-entries to care within 12 months", "lower"),
    WatchedSeries("re-referrals-12m", "Re-referrals within 12 months", "lower"),
    WatchedSeries("assessments-within-45wd", "Assessments within 45 working days", "higher"),
    WatchedSeries("cp-plans-second-or-subsequent", "Child protection plans for a second or later time", "lower"),
    WatchedSeries("cp-plans-ended-2y-plus", "Child protection plans lasting 2 years or more", "lower"),
)
"""The series watched by default (demand measures such as referral rates have no better direction and
raise no alert)."""

THRESHOLD_KEYS = frozenset({"shift_points", "trend_points", "min_points", "baseline_points", "resolve_after_months"})
"""The SPC thresholds that may be set for every series at once (and per series)."""
_CONFIG_KEYS = THRESHOLD_KEYS | {"title", "better", "severity", "target", "enabled"}


def chart_config(settings: Mapping[str, Any], spc: SpcConfig | None = None) -> SpcConfig:
    """``spc`` (default: the MDC defaults) with the chart thresholds ``settings`` sets."""
    spc = spc or SpcConfig()
    return SpcConfig(
        shift_points=int(settings.get("shift_points", spc.shift_points)),
        trend_points=int(settings.get("trend_points", spc.trend_points)),
        min_points=int(settings.get("min_points", spc.min_points)),
        baseline_points=settings.get("baseline_points", spc.baseline_points),
    )


def watched_from_config(
    table: Mapping[str, Mapping[str, Any]],
    base: Sequence[WatchedSeries] = DEFAULT_WATCHED,
    defaults: Mapping[str, Any] | None = None,
) -> tuple[WatchedSeries, ...]:
    """The watched series from configuration: ``defaults`` (thresholds for every series: shift_points,
    trend_points, min_points, baseline_points, resolve_after_months), then per series ``{indicator id:
    {better, severity, target, title, enabled, and the same thresholds}}`` over ``base``; ``enabled = false``
    drops a series; an id not in ``base`` is added (it then needs ``title`` and ``better``)."""
    common = dict(defaults or {})
    unknown = set(common) - THRESHOLD_KEYS
    if unknown:
        raise ValueError(f"unknown SPC threshold(s) {', '.join(sorted(unknown))}")
    by_id = {watched.indicator_id: watched for watched in base}
    for indicator_id, settings in table.items():
        unknown = set(settings) - _CONFIG_KEYS
        if unknown:
            raise ValueError(f"{indicator_id}: unknown setting(s) {', '.join(sorted(unknown))}")
        if settings.get("enabled", True) is False:
            by_id.pop(indicator_id, None)
        elif indicator_id not in by_id:
            if "title" not in settings or "better" not in settings:
                raise ValueError(f"{indicator_id}: a new watched series needs a title and a better direction")
            by_id[indicator_id] = WatchedSeries(indicator_id, str(settings["title"]), settings["better"])
    out = []
    for indicator_id, current in by_id.items():
        settings = {**common, **table.get(indicator_id, {})}
        if settings.get("better", current.better) not in ("higher", "lower", "neither"):
            raise ValueError(f"{indicator_id}: better must be higher, lower or neither")
        if settings.get("severity", current.severity) not in ("low", "medium", "high"):
            raise ValueError(f"{indicator_id}: severity must be low, medium or high")
        out.append(
            replace(
                current,
                title=str(settings.get("title", current.title)),
                better=settings.get("better", current.better),
                severity=settings.get("severity", current.severity),
                target=settings.get("target", current.target),
                config=chart_config(settings, current.config),
                resolve_after_months=int(settings.get("resolve_after_months", current.resolve_after_months)),
            )
        )
    return tuple(out)


def authority_transitions(
    children: Iterable[CinFacts],
    first: date,
    last: date,
    *,
    population: int | None,
    watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
) -> list[AlertTransition]:
    """Every authority alert transition from the monthly series of each watched CIN/CP indicator between
    the months of ``first`` and ``last`` (each month read with what was known at its end), sorted by
    (at, fingerprint)."""
    everyone = list(children)
    out: list[AlertTransition] = []
    for series_def in watched:
        if series_def.indicator_id not in DEFINITIONS:
            continue  # a looked-after indicator: its series comes from the kernel's summaries
        series = monthly_series(everyone, series_def.indicator_id, first, last, population=population)
        out.extend(series_transitions(series_def, series))
    out.sort(key=lambda t: (t.at, t.fingerprint))
    return out
