"""Statistical process control: an XmR chart read the way NHS England's "Making Data Count" reads it.

Pure: a series of (period, value) points in, the chart, its special causes and its readings out
(``shared/domain/cin-cp.md`` §4).

* **Limits.** Mean of the points; moving range ``|x_i - x_(i-1)|``; process limits = mean ± 2.66 × mean
  moving range (2.66 = 3 / 1.128, the constant the MDC Excel tool uses); two-sigma lines = mean ± (2/3) ×
  2.66 × mean moving range. No moving-range outlier screening (as the Excel tool). Limits can be fixed on a
  baseline (the first ``baseline_points`` points) and extended forward.
* **Special causes**, each configurable where MDC allows it:

  - ``outside-limits``: a point strictly above the upper or below the lower process limit;
  - ``shift``: ``shift_points`` (default 7) or more consecutive points all strictly on one side of the mean
    (a point on the mean breaks the run);
  - ``trend``: ``trend_points`` (default 6) or more consecutive points each strictly higher (or lower) than
    the one before (6 points = 5 rises; an equal value breaks the run; the only rule that may cross the mean);
  - ``two-of-three``: within 3 consecutive points all strictly on one side of the mean, 2 or 3 beyond the
    two-sigma line on that side but not beyond the process limit (those show as ``outside-limits``).

  Every point of a qualifying run is marked, with the side it signals (``high``/``low``; a rising trend
  is ``high``).
* **Variation reading** (from the last point): common cause, or special cause improving / concerning given
  the indicator's better direction (``higher``/``lower``), or ``neither`` when no direction is better. When
  the last point carries both a high and a low signal (a trend crossing the mean), it reads as improvement,
  as the MDC tool shows it.
* **Assurance reading** against a target (needs a direction and enough points): target within the process
  limits = "hit and miss"; outside = consistently passing or consistently failing.

With fewer than ``min_points`` points (default 13: the Single Chart Tool shows no limits or icons with 12
or fewer) the chart has no limits, no special causes and no readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

Better = Literal["higher", "lower", "neither"]
Side = Literal["high", "low"]
SpecialCauseRule = Literal["outside-limits", "shift", "trend", "two-of-three"]
Variation = Literal[
    "insufficient-data",
    "common-cause",
    "special-cause-improving",
    "special-cause-concerning",
    "special-cause-neither",
]
Assurance = Literal["none", "hit-and-miss", "consistently-passing", "consistently-failing"]

LIMIT_CONSTANT: Final = 2.66
SIDES: Final[tuple[Side, Side]] = ("high", "low")
RULE_ORDER: Final[tuple[SpecialCauseRule, ...]] = ("outside-limits", "shift", "trend", "two-of-three")


@dataclass(frozen=True)
class SpcConfig:
    """The MDC defaults; every number is a local choice the method allows."""

    shift_points: int = 7
    trend_points: int = 6
    min_points: int = 13
    baseline_points: int | None = None
    """Fix the limits on the first N points (None: on every point, the MDC default)."""

    def __post_init__(self) -> None:
        if self.shift_points < 2 or self.trend_points < 2:
            raise ValueError("shift and trend runs need at least 2 points")
        if self.min_points < 2:
            raise ValueError("a chart needs at least 2 points")
        if self.baseline_points is not None and self.baseline_points < 2:
            raise ValueError("a baseline needs at least 2 points")


@dataclass(frozen=True)
class Signal:
    rule: SpecialCauseRule
    side: Side


@dataclass(frozen=True)
class ChartPoint:
    period: date
    value: float
    moving_range: float | None
    signals: tuple[Signal, ...] = ()

    @property
    def sides(self) -> frozenset[Side]:
        return frozenset(signal.side for signal in self.signals)


@dataclass(frozen=True)
class Limits:
    mean: float
    mean_moving_range: float
    upper: float
    lower: float
    upper_two_sigma: float
    lower_two_sigma: float


@dataclass(frozen=True)
class Chart:
    points: tuple[ChartPoint, ...]
    limits: Limits | None
    """None when the series is shorter than ``min_points``."""
    better: Better
    variation: Variation
    assurance: Assurance
    target: float | None = None
    config: SpcConfig = field(default_factory=SpcConfig)

    @property
    def last(self) -> ChartPoint | None:
        return self.points[-1] if self.points else None


def limits_of(values: Sequence[float]) -> Limits:
    """Mean, mean moving range and the process and two-sigma limits of ``values`` (at least 2)."""
    if len(values) < 2:
        raise ValueError("limits need at least 2 values")
    mean = sum(values) / len(values)
    ranges = [abs(values[i] - values[i - 1]) for i in range(1, len(values))]
    mean_mr = sum(ranges) / len(ranges)
    spread = LIMIT_CONSTANT * mean_mr
    return Limits(
        mean=mean,
        mean_moving_range=mean_mr,
        upper=mean + spread,
        lower=mean - spread,
        upper_two_sigma=mean + 2 * spread / 3,
        lower_two_sigma=mean - 2 * spread / 3,
    )


def _mark(marks: list[set[Signal]], indexes: range | Sequence[int], signal: Signal) -> None:
    for index in indexes:
        marks[index].add(signal)


def _side_of(value: float, mean: float) -> Side | None:
    if value > mean:
        return "high"
    if value < mean:
        return "low"
    return None


def special_causes(values: Sequence[float], limits: Limits, config: SpcConfig) -> list[tuple[Signal, ...]]:
    """For each point, the special-cause signals it is part of (sorted by rule, then side)."""
    count = len(values)
    marks: list[set[Signal]] = [set() for _ in values]
    for index, value in enumerate(values):
        if value > limits.upper:
            marks[index].add(Signal("outside-limits", "high"))
        elif value < limits.lower:
            marks[index].add(Signal("outside-limits", "low"))

    # shift: maximal runs strictly on one side of the mean
    start = 0
    while start < count:
        side = _side_of(values[start], limits.mean)
        end = start + 1
        while side is not None and end < count and _side_of(values[end], limits.mean) == side:
            end += 1
        if side is not None and end - start >= config.shift_points:
            _mark(marks, range(start, end), Signal("shift", side))
        start = end

    # trend: maximal runs of strict rises (or falls); a run of n points holds n - 1 steps
    directions: tuple[tuple[bool, Side], ...] = ((True, "high"), (False, "low"))
    for rising, side in directions:
        start = 0
        while start < count:
            end = start + 1
            while end < count and (values[end] > values[end - 1] if rising else values[end] < values[end - 1]):
                end += 1
            if end - start >= config.trend_points:
                _mark(marks, range(start, end), Signal("trend", side))
            start = end

    # two of three beyond two sigma, all three on the same side of the mean
    for first in range(count - 2):
        window = range(first, first + 3)
        for near_side in SIDES:
            if any(_side_of(values[i], limits.mean) != near_side for i in window):
                continue
            if near_side == "high":
                near = [i for i in window if limits.upper_two_sigma < values[i] <= limits.upper]
            else:
                near = [i for i in window if limits.lower <= values[i] < limits.lower_two_sigma]
            if len(near) >= 2:
                _mark(marks, near, Signal("two-of-three", near_side))

    return [tuple(sorted(found, key=lambda s: (RULE_ORDER.index(s.rule), s.side))) for found in marks]


def _improving(side: Side, better: Better) -> bool:
    return (side == "high" and better == "higher") or (side == "low" and better == "lower")


def variation_of(last: ChartPoint, better: Better) -> Variation:
    sides = last.sides
    if not sides:
        return "common-cause"
    if better == "neither":
        return "special-cause-neither"
    if any(_improving(side, better) for side in sides):
        return "special-cause-improving"
    return "special-cause-concerning"


def assurance_of(limits: Limits, better: Better, target: float | None) -> Assurance:
    if target is None or better == "neither":
        return "none"
    if limits.lower <= target <= limits.upper:
        return "hit-and-miss"
    passing = target < limits.lower if better == "higher" else target > limits.upper
    return "consistently-passing" if passing else "consistently-failing"


def xmr(
    series: Sequence[tuple[date, float]],
    better: Better,
    *,
    target: float | None = None,
    config: SpcConfig | None = None,
) -> Chart:
    """The XmR chart of ``series`` (periods in order, no gaps: a missing period distorts the moving range)."""
    config = config or SpcConfig()
    periods = [period for period, _ in series]
    if periods != sorted(periods) or len(set(periods)) != len(periods):
        raise ValueError("series periods must be strictly increasing")
    values = [float(value) for _, value in series]
    ranges: list[float | None] = [None] + [abs(values[i] - values[i - 1]) for i in range(1, len(values))]
    if len(values) < config.min_points:
        points = tuple(ChartPoint(p, v, r) for p, v, r in zip(periods, values, ranges, strict=True))
        return Chart(points, None, better, "insufficient-data", "none", target, config)
    basis = values if config.baseline_points is None else values[: config.baseline_points]
    limits = limits_of(basis)
    signals = special_causes(values, limits, config)
    points = tuple(ChartPoint(p, v, r, s) for p, v, r, s in zip(periods, values, ranges, signals, strict=True))
    return Chart(
        points,
        limits,
        better,
        variation_of(points[-1], better),
        assurance_of(limits, better, target),
        target,
        config,
    )


_RULE_WORDS: Final = {
    "outside-limits": "a point beyond the process limit",
    "shift": "a run of points on one side of the mean",
    "trend": "a run of points rising or falling",
    "two-of-three": "two of three points near the process limit",
}


def describe_signal(signal: Signal, chart: Chart) -> str:
    """A plain-English phrase for one special cause at the last point, e.g. '7 months above the mean'."""
    points = chart.points
    run = 0
    for point in reversed(points):
        if signal not in point.signals:
            break
        run += 1
    if signal.rule == "shift":
        return f"{run} months {'above' if signal.side == 'high' else 'below'} the mean"
    if signal.rule == "trend":
        return f"{run} months {'rising' if signal.side == 'high' else 'falling'}"
    if signal.rule == "outside-limits":
        return f"{'above the upper' if signal.side == 'high' else 'below the lower'} process limit"
    return f"two of three months near the {'upper' if signal.side == 'high' else 'lower'} process limit"


def reading(chart: Chart) -> str:
    """The variation and assurance reading in words, as the board shows them beside a chart."""
    if chart.limits is None:
        return f"Not enough months to read the chart ({len(chart.points)} of {chart.config.min_points} needed)."
    last = chart.last
    assert last is not None
    if chart.variation == "common-cause":
        text = "Common cause variation: no signal of change."
    else:
        causes = "; ".join(describe_signal(s, chart) for s in last.signals)
        kind = {
            "special-cause-improving": "Special cause variation, improving",
            "special-cause-concerning": "Special cause variation, concerning",
            "special-cause-neither": "Special cause variation",
        }[chart.variation]
        text = f"{kind}: {causes}."
    if chart.assurance == "hit-and-miss":
        text += " The target lies within the process limits: it will be met and missed at random."
    elif chart.assurance == "consistently-passing":
        text += " The process limits are all on the right side of the target: it will consistently be met."
    elif chart.assurance == "consistently-failing":
        text += " The process limits are all on the wrong side of the target: it will not be met without change."
    return text


def concerning_at(point: ChartPoint, better: Better) -> tuple[Signal, ...]:
    """The special causes of ``point`` that signal a change in the concerning direction (none when the point
    reads as improving, a conflicting signal showing as improvement as in the MDC tool, or when no
    direction is better)."""
    if variation_of(point, better) != "special-cause-concerning":
        return ()
    return tuple(s for s in point.signals if not _improving(s.side, better))


def concerning_signals(chart: Chart) -> tuple[Signal, ...]:
    """The special causes at the last point that signal a change in the concerning direction."""
    last = chart.last
    if last is None or chart.limits is None:
        return ()
    return concerning_at(last, chart.better)


def months_without_concern(chart: Chart) -> int:
    """How many of the chart's latest points in a row carry no special cause in the concerning direction
    (each point marked as the chart reads now: a point of a run keeps its mark after the run ends)."""
    run = 0
    for point in reversed(chart.points):
        if concerning_at(point, chart.better):
            break
        run += 1
    return run


def concerning_run_continues(chart: Chart) -> bool:
    """Whether the latest point continues a run strictly on the concerning side of the mean that holds a
    concerning special cause: the change the signal showed has not ended while the points stay on its side,
    even when a point within it is too close to the mean, or too few, to fire a rule itself."""
    limits = chart.limits
    if limits is None or chart.better == "neither":
        return False
    concerning: Side = "high" if chart.better == "lower" else "low"
    for point in reversed(chart.points):
        if _side_of(point.value, limits.mean) != concerning:
            return False
        if concerning_at(point, chart.better):
            return True
    return False
