"""Every board indicator of the children in need, child protection and workforce work is in the catalogue
with its definition, and has an SPC chart with its variation and assurance reading in words in the HTML
pack, the SPC CSV and the XLSX (read back with openpyxl)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from schemas.events import parse_event
from services.board.core.catalogue import ALL_INDICATORS, AUTHORITY_INDICATORS, INDICATORS
from services.board.core.cin_indicators import INDICATOR_IDS
from services.board.core.summary import build_summary
from services.board.early_warning import (
    CIN_CHARTED,
    KERNEL_CHARTED,
    SpcPanel,
    SpcSettings,
    kernel_panels,
    panels,
    spc_month_ends,
)
from services.board.pack import Pack, render_html, write_pack
from services.board.replay import snapshots
from services.demo.generator import generate

AS_OF = date(2025, 2, 28)
POPULATION = 20_000
ASKED = (
    "referrals-rate-per-10k",
    "re-referrals-12m",
    "assessments-within-45wd",
    "cp-plans-rate-per-10k",
    "cp-plans-second-or-subsequent",
    "cp-plans-ended-2y-plus",
    "cin-rate-per-10k",
    "social-worker-changed-12m",
    "agency-sw-share",
    "visits-in-timescale",
    "reviews-in-timescale",
    "pathway-plans-in-date",
    "care-leavers-in-touch-17-18",
    "care-leavers-eet-17-18",
    "care-leavers-suitable-accommodation-17-18",
)
"""The new CIN/CP and workforce indicators the board asked to see as charts."""


def test_every_asked_indicator_is_in_the_catalogue_with_its_definition() -> None:
    for indicator_id in ASKED:
        indicator = ALL_INDICATORS[indicator_id]
        assert len(indicator.definition) > 60 and indicator.source, indicator_id
    assert set(AUTHORITY_INDICATORS) == set(INDICATOR_IDS)  # every CIN/CP series computed is described
    assert not set(AUTHORITY_INDICATORS) & set(INDICATORS)  # and none is also a daily summary figure


def test_every_asked_indicator_is_charted() -> None:
    assert set(ASKED) <= set(CIN_CHARTED) | set(KERNEL_CHARTED)


@pytest.fixture(scope="module")
def charts() -> tuple[SpcPanel, ...]:
    """A small synthetic authority with the children in need flow over 14 months (and its history): the
    CIN/CP series from the events, the daily indicators from the summaries of each month end (threshold 1,
    the internal board, so no small number hides a month)."""
    raw = generate(seed=3, children=40, months=14, start=date(2024, 1, 1), bad_share=0.0, cin=True)
    events = [parse_event(r, received_at=None) for r in raw]
    ends = spc_month_ends(AS_OF)
    summaries = {
        day: build_summary(aggregate, day, 1, population=POPULATION, audience="internal")
        for day, aggregate in snapshots(events, ends).items()
    }
    return panels(events, AS_OF, population=POPULATION) + kernel_panels(summaries, AS_OF)


@pytest.fixture(scope="module")
def pack(charts: tuple[SpcPanel, ...]) -> Pack:
    raw = generate(seed=3, children=40, months=2, start=date(2025, 1, 1), bad_share=0.0)
    events = [parse_event(r, received_at=None) for r in raw]
    trend = {d: build_summary(a, d, 5) for d, a in snapshots(events, [date(2025, 1, 31), AS_OF]).items()}
    return Pack("Testshire", trend[AS_OF], trend, "test events", spc=charts)


def test_each_asked_indicator_has_a_chart_with_limits_and_a_reading(charts: tuple[SpcPanel, ...]) -> None:
    by_id = {panel.indicator_id: panel for panel in charts}
    assert set(ASKED) <= set(by_id)
    for indicator_id in ASKED:
        panel = by_id[indicator_id]
        assert panel.chart.limits is not None, indicator_id  # at least 13 months: limits and readings
        assert panel.reading.split(":")[0].rstrip(".") in (
            "Common cause variation",
            "Special cause variation, improving",
            "Special cause variation, concerning",
            "Special cause variation",
        ), (indicator_id, panel.reading)
        assert panel.unit == ALL_INDICATORS[indicator_id].unit


def test_demand_measures_have_no_better_direction_and_watched_series_are_marked(
    charts: tuple[SpcPanel, ...],
) -> None:
    by_id = {panel.indicator_id: panel for panel in charts}
    for demand in ("referrals-rate-per-10k", "cp-plans-rate-per-10k", "cin-rate-per-10k"):
        assert by_id[demand].chart.better == "neither" and not by_id[demand].watched
        assert by_id[demand].chart.variation in ("common-cause", "special-cause-neither")
    assert by_id["re-referrals-12m"].watched and by_id["re-referrals-12m"].chart.better == "lower"
    assert by_id["visits-in-timescale"].chart.better == "higher" and not by_id["visits-in-timescale"].watched
    assert by_id["social-worker-changed-12m"].note.startswith("Each month's point covers the 12 months")


def test_the_html_pack_has_each_chart_with_its_reading_and_definition(pack: Pack) -> None:
    html = render_html(pack)
    for panel in pack.spc:
        start = html.index(f'<figure class="spc" data-indicator="{panel.indicator_id}"')
        figure = html[start : html.index("</figure>", start)]
        assert "<svg" in figure, panel.indicator_id
        assert panel.reading.replace("'", "&#39;") in figure, panel.indicator_id
        assert ALL_INDICATORS[panel.indicator_id].definition[:40] in figure, panel.indicator_id
    for indicator_id in ASKED:
        assert f'data-indicator="{indicator_id}"' in html
        assert ALL_INDICATORS[indicator_id].title in html  # the definitions section names it too


def test_the_csv_and_xlsx_carry_each_series_and_its_reading(pack: Pack, tmp_path: Path) -> None:
    paths = write_pack(tmp_path, pack)
    with paths["spc-csv"].open(newline="") as handle:
        read = list(csv.DictReader(handle))
    for indicator_id in ASKED:
        rows = [row for row in read if row["indicator"] == indicator_id]
        assert len(rows) >= 13, indicator_id
        assert rows[0]["mean"] and rows[0]["upper_process_limit"] and rows[0]["variation"]
    workbook = load_workbook(paths["xlsx"])
    sheet = workbook["Early warning SPC"]
    header = [cell.value for cell in sheet[1]]
    records: dict[str, list[dict[str, Any]]] = {}
    for values in sheet.iter_rows(min_row=2, values_only=True):
        record = dict(zip(header, values, strict=True))
        records.setdefault(str(record["indicator"]), []).append(record)
    by_id = {panel.indicator_id: panel for panel in pack.spc}
    for indicator_id in ASKED:
        panel = by_id[indicator_id]
        assert [r["value"] for r in records[indicator_id]] == pytest.approx([p.value for p in panel.chart.points])
        assert records[indicator_id][-1]["unit"] == panel.unit
        assert records[indicator_id][-1]["variation"] == panel.chart.variation
    readings_sheet = workbook["Early warning readings"]
    readings_header = [cell.value for cell in readings_sheet[1]]
    readings = {
        row[0]: dict(zip(readings_header, row, strict=True))
        for row in readings_sheet.iter_rows(min_row=2, values_only=True)
    }
    for indicator_id in ASKED:
        assert readings[indicator_id]["reading"] == by_id[indicator_id].reading
        assert readings[indicator_id]["definition"] == ALL_INDICATORS[indicator_id].definition
    definitions = {row[0] for row in workbook["Definitions"].iter_rows(min_row=2, values_only=True)}
    assert set(ASKED) <= definitions


def _summary(values: dict[str, float | None], suppressed: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        "indicators": {
            indicator_id: {
                "value": None if indicator_id in suppressed else value,
                "suppressed": indicator_id in suppressed,
            }
            for indicator_id, value in values.items()
        }
    }


def test_a_daily_indicator_is_charted_from_its_month_ends_latest_run_only() -> None:
    ends = spc_month_ends(AS_OF)
    summaries = {end: _summary({"visits-in-timescale": 80.0 + (i % 2)}) for i, end in enumerate(ends)}
    summaries[ends[5]] = _summary({"visits-in-timescale": None})  # a month with no figure: the run restarts
    (panel,) = kernel_panels(summaries, AS_OF, indicators=["visits-in-timescale"])
    assert [p.period for p in panel.chart.points] == [date(e.year, e.month, 1) for e in ends[6:]]
    assert panel.chart.limits is not None and panel.chart.better == "higher"


def test_a_daily_indicator_with_a_hidden_month_has_no_chart() -> None:
    ends = spc_month_ends(AS_OF)
    summaries = {end: _summary({"agency-sw-share": 20.0}) for end in ends}
    summaries[ends[-3]] = _summary({"agency-sw-share": 20.0}, frozenset({"agency-sw-share"}))
    assert kernel_panels(summaries, AS_OF, indicators=["agency-sw-share"]) == ()


def test_the_chart_thresholds_come_from_the_settings() -> None:
    ends = spc_month_ends(AS_OF)
    summaries = {end: _summary({"visits-in-timescale": 80.0 + (i % 2)}) for i, end in enumerate(ends[-12:])}
    assert kernel_panels(summaries, AS_OF, indicators=["visits-in-timescale"])[0].chart.limits is None
    from carewatch.settings import BoardSettings

    twelve = SpcSettings.of(BoardSettings(spc_min_points=12))
    assert kernel_panels(summaries, AS_OF, spc=twelve, indicators=["visits-in-timescale"])[0].chart.limits
