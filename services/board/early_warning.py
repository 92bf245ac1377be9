"""The board pack's "Early warning: statistical process control" section.

Every children in need, child protection and entries-to-care series (``services.board.core.cin_indicators``)
is computed month by month from the events the pack was built from, and the workforce and timescale
indicators of the daily summary (:data:`KERNEL_CHARTED`) are taken at each month's end; each is read as an
XmR chart (``services.board.core.spc``) and shown as a chart (mean, process limits, special-cause points
marked) with its variation and assurance reading in words, its definition, a text alternative, and the
points, limits and signals as rows for the CSV and XLSX. The series watched for authority alerts
(``services.board.core.authority_alerts``, configured by the board settings) are charted with their own
direction, target and thresholds.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from schemas.alerts import AlertTransition
from schemas.deltas import Contribution
from schemas.events import CaseEvent
from services.board.core.authority_alerts import (
    DEFAULT_WATCHED,
    WatchedSeries,
    chart_config,
    series_transitions,
    watched_from_config,
)
from services.board.core.catalogue import ALL_INDICATORS, AUTHORITY_INDICATORS, Unit
from services.board.core.cin_indicators import DEFINITIONS, PERCENT_INDICATORS, month_ends, totals, value_of
from services.board.core.disclosure import Audience, series_point_reason
from services.board.core.spc import Better, Chart, SpcConfig, reading, xmr
from services.rules.core.calendar import add_months
from services.rules.core.cin.facts import fold_all

if TYPE_CHECKING:
    from carewatch.settings import BoardSettings

SPC_MONTHS: Final = 24
"""Months on each chart (the MDC tool needs at least 13 for limits)."""
CSV_COLUMNS: Final = (
    "indicator",
    "title",
    "better",
    "period",
    "value",
    "mean",
    "lower_process_limit",
    "upper_process_limit",
    "signals",
    "variation",
    "assurance",
    "unit",
    "watched",
)
_CONCERNING: Final = "#c0561b"
_IMPROVING: Final = "#1d4f91"
_NEUTRAL_SIGNAL: Final = "#6b3fa0"


@dataclass(frozen=True)
class SpcSettings:
    """The SPC configuration the board settings give (``CAREWATCH_BOARD_SPC_*``): the thresholds of every
    chart and the series watched for authority alerts. The defaults are the method's (MDC) and
    :data:`~services.board.core.authority_alerts.DEFAULT_WATCHED`."""

    config: SpcConfig = field(default_factory=SpcConfig)
    watched: tuple[WatchedSeries, ...] = DEFAULT_WATCHED

    @classmethod
    def of(cls, board: BoardSettings) -> SpcSettings:
        thresholds = board.spc_thresholds()
        return cls(chart_config(thresholds), watched_from_config(board.spc_watched, defaults=thresholds))


CIN_CHARTED: Final = tuple(AUTHORITY_INDICATORS)
"""The children in need, child protection and entries-to-care series: computed month by month from the events."""
KERNEL_CHARTED: Final = (
    "social-worker-changed-12m",
    "agency-sw-share",
    "visits-in-timescale",
    "reviews-in-timescale",
    "pathway-plans-in-date",
    "care-leavers-in-touch-17-18",
    "care-leavers-eet-17-18",
    "care-leavers-suitable-accommodation-17-18",
)
"""Board indicators of the daily summary charted too (workforce stability, statutory timescales, the youngest
care leavers): each month's point is the summary on the month's last day."""
_ROLLING_NOTE: Final = (
    "Each month's point covers the 12 months up to its end, so neighbouring points share most of their "
    "children and runs on one side of the mean come more easily than in a monthly count: read a shift with care."
)


@dataclass(frozen=True)
class SpcPanel:
    indicator_id: str
    title: str
    chart: Chart
    unit: Unit
    watched: bool = False
    """Watched for authority alerts."""
    note: str = ""

    @property
    def reading(self) -> str:
        return reading(self.chart)

    @property
    def definition(self) -> str:
        return ALL_INDICATORS[self.indicator_id].definition


def _better(indicator_id: str) -> Better:
    direction = ALL_INDICATORS[indicator_id].better
    return "neither" if direction == "neutral" else direction


def _panel(indicator_id: str, series: Sequence[tuple[date, float]], spc: SpcSettings) -> SpcPanel:
    """The chart of one series: a watched series' own direction, target and thresholds, otherwise the
    catalogue's direction and the common thresholds."""
    indicator = ALL_INDICATORS[indicator_id]
    watched = next((w for w in spc.watched if w.indicator_id == indicator_id), None)
    if watched is not None:
        chart = xmr(series, watched.better, target=watched.target, config=watched.config)
    else:
        chart = xmr(series, _better(indicator_id), config=spc.config)
    note = _ROLLING_NOTE if indicator_id.endswith("-12m") and indicator_id in KERNEL_CHARTED else ""
    return SpcPanel(indicator_id, indicator.title, chart, indicator.unit, watched is not None, note)


def spc_month_ends(as_of: date, months: int = 24) -> list[date]:
    """The last days of the ``months`` complete months up to ``as_of``, oldest first."""
    last = last_complete_month_end(as_of)
    return month_ends(add_months(date(last.year, last.month, 1), -(months - 1)), last)


def last_complete_month_end(as_of: date) -> date:
    """``as_of`` when it is a month's last day, otherwise the last day of the month before."""
    if (as_of + timedelta(days=1)).day == 1:
        return as_of
    return date(as_of.year, as_of.month, 1) - timedelta(days=1)


def panels(
    events: Iterable[CaseEvent],
    as_of: date,
    *,
    population: int | None,
    spc: SpcSettings | None = None,
    indicators: Sequence[str] = CIN_CHARTED,
    months: int = SPC_MONTHS,
    audience: Audience = "internal",
    threshold: int = 5,
) -> tuple[SpcPanel, ...]:
    """One chart per children in need, child protection and entries-to-care series (or per ``indicators``)
    over the ``months`` complete months up to ``as_of`` (each month read with what was known at its end;
    events after ``as_of`` are ignored), starting no earlier than the month of the first event (before it the
    figures are not known, not 0). Empty when no event bears on them; a rate has no chart without the
    population.

    For the ``public`` audience a series any of whose months is a small number (disclosure rules,
    :func:`~services.board.core.disclosure.series_point_reason`, with ``threshold``) has no chart: a
    published chart never shows a small number, nor limits worked out from one."""
    spc = spc or SpcSettings()
    series, hidden = _series(events, as_of, population, indicators, months, audience, threshold)
    return tuple(
        _panel(indicator_id, found, spc)
        for indicator_id, found in series.items()
        if found and indicator_id not in hidden
    )


def kernel_panels(
    summaries: Mapping[date, Mapping[str, Any]],
    as_of: date,
    *,
    spc: SpcSettings | None = None,
    indicators: Sequence[str] = KERNEL_CHARTED,
    months: int = SPC_MONTHS,
) -> tuple[SpcPanel, ...]:
    """One chart per daily board indicator of ``indicators`` from the board summaries (already disclosed,
    :func:`~services.board.core.summary.build_summary`) of the last days of the ``months`` complete months
    up to ``as_of``: the latest run of months in a row with a value (a gap would distort the moving range).
    A series with a hidden month in that run has no chart, so a chart never shows or implies a small number."""
    spc = spc or SpcSettings()
    out = []
    for indicator_id in indicators:
        run: list[tuple[date, float]] = []
        hidden = False
        for end in reversed(spc_month_ends(as_of, months)):
            summary = summaries.get(end)
            entry = None if summary is None else summary["indicators"].get(indicator_id)
            if entry is None or (entry["value"] is None and not entry["suppressed"]):
                break
            if entry["suppressed"]:
                hidden = True
                break
            run.append((date(end.year, end.month, 1), float(entry["value"])))
        if run and not hidden:
            out.append(_panel(indicator_id, run[::-1], spc))
    return tuple(out)


@dataclass(frozen=True)
class SeriesPart:
    """What one group of children gives the CIN/CP series (:func:`series_part`): the date of its first known
    event, how many of its children have CIN/CP or care facts, and each indicator's contributions summed
    over them at each month's end (a window of one month). Integer sums: the parts of separate groups of
    children add up to the whole history's (:func:`join_series`), so a history read in shards, child by
    child, gives the same series as read whole."""

    earliest: date | None
    children: int
    months: dict[date, dict[str, Contribution]]


def series_part(
    events: Iterable[CaseEvent], as_of: date, indicators: Sequence[str], months: int, *, whole: bool = False
) -> SeriesPart:
    """The part of ``events`` (every event of each of its children) in the CIN/CP series of ``indicators``
    over the ``months`` complete months up to ``as_of``. ``whole``: these are all the events, so the months
    before the first of them are left out (:func:`join_series` never reads them); otherwise every month of
    the window is summed, since another part may start earlier."""
    known = [e for e in events if e.type == "event.retracted" or e.occurred_on <= as_of]
    children = list(fold_all(known).values())
    earliest = min((e.occurred_on for e in known), default=None)
    if not children or earliest is None:
        return SeriesPart(earliest, 0, {})
    last = last_complete_month_end(as_of)
    first = add_months(date(last.year, last.month, 1), -(months - 1))
    if whole:
        first = max(first, date(earliest.year, earliest.month, 1))
    wanted = [i for i in dict.fromkeys(indicators) if i in DEFINITIONS]
    sums = {end: totals(children, end, window_months=1, indicators=wanted) for end in month_ends(first, last)}
    return SeriesPart(earliest, len(children), sums)


def join_series(
    parts: Iterable[SeriesPart],
    as_of: date,
    population: int | None,
    indicators: Sequence[str],
    months: int,
    audience: Audience,
    threshold: int,
) -> tuple[dict[str, list[tuple[date, float]]], set[str]]:
    """The CIN/CP series of ``indicators`` month by month from the parts of every child's events (each
    :func:`series_part` of the same ``as_of``, ``indicators`` and ``months``), and the ids of those with a
    point the audience may not see."""
    parts = list(parts)
    with_children = [part for part in parts if part.children]
    if not with_children:
        return {}, set()
    last = last_complete_month_end(as_of)
    earliest = min(part.earliest for part in parts if part.earliest is not None)
    first = max(add_months(date(last.year, last.month, 1), -(months - 1)), date(earliest.year, earliest.month, 1))
    wanted = [i for i in dict.fromkeys(indicators) if i in DEFINITIONS]
    series: dict[str, list[tuple[date, float]]] = {i: [] for i in wanted}
    hidden: set[str] = set()
    for end in month_ends(first, last):  # as monthly_series does, every series from one pass per month
        for indicator_id in wanted:
            summed = Contribution()
            for part in with_children:
                summed = summed + part.months[end][indicator_id]
            point = value_of(indicator_id, summed, population)
            if point.value is not None:
                series[indicator_id].append((date(end.year, end.month, 1), point.value))
                percent = indicator_id in PERCENT_INDICATORS
                if audience == "public" and series_point_reason(
                    point.numerator, point.denominator, percent=percent, threshold=threshold, audience=audience
                ):
                    hidden.add(indicator_id)
    return series, hidden


def _series(
    events: Iterable[CaseEvent],
    as_of: date,
    population: int | None,
    indicators: Sequence[str],
    months: int,
    audience: Audience,
    threshold: int,
) -> tuple[dict[str, list[tuple[date, float]]], set[str]]:
    """The CIN/CP series of ``indicators`` month by month over the whole of ``events``."""
    part = series_part(events, as_of, indicators, months, whole=True)
    return join_series([part], as_of, population, indicators, months, audience, threshold)


def watched_series(
    events: Iterable[CaseEvent],
    as_of: date,
    *,
    population: int | None,
    watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
    months: int = SPC_MONTHS,
) -> list[tuple[WatchedSeries, list[tuple[date, float]]]]:
    """Each watched CIN/CP series over the same months as the charts of :func:`panels` (internal audience)."""
    wanted = _defined(watched)
    series, _ = _series(events, as_of, population, [w.indicator_id for w in wanted], months, "internal", 0)
    return [(w, series.get(w.indicator_id, [])) for w in wanted]


def authority_alerts(
    events: Iterable[CaseEvent],
    as_of: date,
    *,
    population: int | None,
    watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
    months: int = SPC_MONTHS,
) -> list[AlertTransition]:
    """The authority alert transitions (CONTRACT §6) of the watched series over the same months as the
    charts of :func:`panels` (each month read with what was known at its end, as
    :func:`~services.board.core.authority_alerts.authority_transitions` reads them): what the alerts service
    applies through its lifecycle, sorted by (at, fingerprint)."""
    part = series_part(events, as_of, [w.indicator_id for w in _defined(watched)], months, whole=True)
    return authority_alerts_of([part], as_of, population=population, watched=watched, months=months)


def authority_part(
    events: Iterable[CaseEvent],
    as_of: date,
    *,
    watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
    months: int = SPC_MONTHS,
) -> SeriesPart:
    """What one shard of a history (every event of each of its children) gives the authority alerts: joined
    by :func:`authority_alerts_of`, the parts of all the shards give what :func:`authority_alerts` gives for
    the whole history."""
    return series_part(events, as_of, [w.indicator_id for w in _defined(watched)], months)


def authority_alerts_of(
    parts: Iterable[SeriesPart],
    as_of: date,
    *,
    population: int | None,
    watched: Sequence[WatchedSeries] = DEFAULT_WATCHED,
    months: int = SPC_MONTHS,
) -> list[AlertTransition]:
    """:func:`authority_alerts` from the parts of a history (:func:`authority_part`, or one
    :func:`series_part` of the whole)."""
    wanted = _defined(watched)
    series, _ = join_series(list(parts), as_of, population, [w.indicator_id for w in wanted], months, "internal", 0)
    found = [(w, series.get(w.indicator_id, [])) for w in wanted]  # no series: no child with CIN/CP or care facts
    out = [t for w, found_series in found for t in series_transitions(w, found_series)]
    out.sort(key=lambda t: (t.at, t.fingerprint))
    return out


def _defined(watched: Sequence[WatchedSeries]) -> list[WatchedSeries]:
    """The watched series of children in need and child protection indicators (a looked-after indicator's
    series comes from the kernel's summaries)."""
    return [w for w in watched if w.indicator_id in DEFINITIONS]


def _format(panel: SpcPanel, value: float) -> str:
    if panel.unit == "percent":
        return f"{value:.1f}%"
    if panel.unit == "count":
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:,.1f}"


def _signal_colour(panel: SpcPanel, sides: frozenset[str]) -> str:
    better = panel.chart.better
    if better == "neither":
        return _NEUTRAL_SIGNAL
    good = "high" if better == "higher" else "low"
    return _IMPROVING if good in sides else _CONCERNING


def text_alternative(panel: SpcPanel) -> str:
    """The chart in words: span, latest value, mean and limits, and the points marked as special causes."""
    points = panel.chart.points
    first, last = points[0], points[-1]
    text = (
        f"{len(points)} months, {first.period:%B %Y} to {last.period:%B %Y}; "
        f"latest {_format(panel, last.value)} ({last.period:%B %Y})."
    )
    limits = panel.chart.limits
    if limits is not None:
        text += (
            f" Mean {_format(panel, limits.mean)}; process limits {_format(panel, limits.lower)} "
            f"to {_format(panel, limits.upper)}."
        )
        marked = [p for p in points if p.signals]
        if marked:
            listed = ", ".join(f"{p.period:%b %Y} ({_format(panel, p.value)})" for p in marked)
            text += f" Special-cause points: {listed}."
        else:
            text += " No special-cause point."
    return text


def chart_svg(panel: SpcPanel) -> str:
    """An XmR chart: the series, the mean, the process limits, special-cause points marked (matplotlib SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    points = panel.chart.points
    days = mdates.date2num([p.period for p in points])  # type: ignore[no-untyped-call]
    figure, axes = plt.subplots(figsize=(5.2, 2.4), dpi=100)
    try:
        axes.plot(days, [p.value for p in points], color="#59636e", marker="o", markersize=3, linewidth=1.2)
        limits = panel.chart.limits
        if limits is not None:
            axes.axhline(limits.mean, color="#1d2329", linewidth=1)
            for bound in (limits.upper, limits.lower):
                axes.axhline(bound, color="#59636e", linestyle="--", linewidth=1)
            marked = [(d, p) for d, p in zip(days, points, strict=True) if p.signals]
            for day, point in marked:
                axes.plot(
                    [day],
                    [point.value],
                    marker="o",
                    markersize=7,
                    linestyle="none",
                    color=_signal_colour(panel, point.sides),
                )
        if panel.chart.target is not None:
            axes.axhline(panel.chart.target, color="#00703c", linestyle=":", linewidth=1.2)
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(labelsize=8)
        axes.grid(axis="y", color="#e5e9ed", linewidth=0.8)
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %y"))  # type: ignore[no-untyped-call]
        if panel.unit == "percent":
            axes.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}%"))
        elif panel.unit == "count":
            axes.yaxis.set_major_locator(mticker.MaxNLocator(nbins=5, integer=True))
        figure.autofmt_xdate(rotation=0, ha="center")
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :].replace("<svg", '<svg aria-hidden="true" focusable="false"', 1)


def html_items(spc: Sequence[SpcPanel]) -> list[dict[str, Any]]:
    return [
        {
            "id": panel.indicator_id,
            "title": panel.title,
            "svg": chart_svg(panel),
            "reading": panel.reading,
            "variation": panel.chart.variation,
            "text": text_alternative(panel),
            "definition": panel.definition,
            "note": panel.note,
            "watched": panel.watched,
        }
        for panel in spc
    ]


def rows(spc: Sequence[SpcPanel]) -> list[dict[str, Any]]:
    """One row per point: value, the chart's mean and limits (blank when too few months), its signals."""
    out = []
    for panel in spc:
        limits = panel.chart.limits
        for point in panel.chart.points:
            out.append(
                {
                    "indicator": panel.indicator_id,
                    "title": panel.title,
                    "better": panel.chart.better,
                    "period": point.period,
                    "value": point.value,
                    "mean": limits.mean if limits else None,
                    "lower_process_limit": limits.lower if limits else None,
                    "upper_process_limit": limits.upper if limits else None,
                    "signals": " ".join(sorted(f"{s.rule}:{s.side}" for s in point.signals)),
                    "variation": panel.chart.variation,
                    "assurance": panel.chart.assurance,
                    "unit": panel.unit,
                    "watched": panel.watched,
                }
            )
    return out
