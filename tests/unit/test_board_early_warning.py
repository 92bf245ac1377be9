"""The pack's early-warning section: SPC charts of the watched series from events, in HTML, CSV and XLSX."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from schemas.events import CaseEvent, parse_event
from services.board.core.summary import build_summary
from services.board.early_warning import SpcPanel, last_complete_month_end, panels, rows, text_alternative
from services.board.pack import Pack, render_html, write_pack
from services.board.replay import snapshots

# Care starts per month from January 2024: 2, 3, 2, 3 … for 13 months, then 6 in February 2025. Mean
# 38/14, mean moving range 16/13, upper process limit 38/14 + 2.66 × 16/13 = 5.988: the 6 is beyond it.
COUNTS = [2, 3] * 6 + [2, 6]
AS_OF = date(2025, 3, 10)


def care_starts(counts: list[int] = COUNTS) -> list[CaseEvent]:
    events = []
    for month, starts in enumerate(counts):
        for n in range(starts):
            day = date(2024 + month // 12, month % 12 + 1, 10)
            raw = {
                "event_id": f"e{month}-{n}",
                "type": "care.started",
                "child_id": f"c{month}-{n}",
                "occurred_at": day.isoformat(),
                "date_of_birth": "2015-01-01",
                "sex": "F",
                "legal_status": "C2",
            }
            events.append(parse_event(raw, received_at=None))
    return events


def entered_care(events: list[CaseEvent], as_of: date = AS_OF) -> SpcPanel:
    found = {p.indicator_id: p for p in panels(events, as_of, population=None)}
    return found["entered-care-month"]


def test_last_complete_month() -> None:
    assert last_complete_month_end(date(2025, 3, 10)) == date(2025, 2, 28)
    assert last_complete_month_end(date(2025, 2, 28)) == date(2025, 2, 28)
    assert last_complete_month_end(date(2025, 3, 1)) == date(2025, 2, 28)
    assert last_complete_month_end(date(2024, 12, 31)) == date(2024, 12, 31)


def test_a_rise_beyond_the_upper_limit_is_read_as_concerning() -> None:
    panel = entered_care(care_starts())
    points = panel.chart.points
    assert [p.value for p in points] == COUNTS  # from the month of the first event: before it, not known
    assert panel.chart.variation == "special-cause-concerning"
    assert "above the upper process limit" in panel.reading
    words = text_alternative(panel)
    assert "14 months, January 2024 to February 2025" in words and "Feb 2025 (6)" in words
    assert "Special-cause points" in words


def test_common_cause_when_the_last_month_is_ordinary() -> None:
    panel = entered_care(care_starts([2, 3] * 7))
    assert panel.chart.variation == "common-cause"
    assert panel.reading.startswith("Common cause variation")
    assert "No special-cause point" in text_alternative(panel)


def test_events_after_the_date_are_not_used() -> None:
    late = care_starts([2, 3] * 6 + [2, 3, 9])  # the 9 is in March 2025, after the last complete month
    assert [p.value for p in entered_care(late).chart.points] == [2, 3] * 7
    assert entered_care(late, date(2025, 2, 10)).chart.points[-1].value == 2  # January 2025 is the last


def test_no_chart_without_events() -> None:
    assert panels([], AS_OF, population=None) == ()


def test_rows_carry_points_limits_and_signals() -> None:
    panel = entered_care(care_starts())
    found = [row for row in rows([panel])]
    assert len(found) == 14
    limits = panel.chart.limits
    assert limits is not None
    assert {row["upper_process_limit"] for row in found} == {limits.upper}
    assert limits.upper == pytest.approx(38 / 14 + 2.66 * 16 / 13)
    assert "outside-limits:high" in found[-1]["signals"].split()
    assert found[-2]["signals"] == ""


@pytest.fixture
def pack() -> Pack:
    events = care_starts()
    day = date(2025, 2, 28)
    trend = {d: build_summary(a, d, 5) for d, a in snapshots(events, [date(2025, 1, 31), day]).items()}
    return Pack("Testshire", trend[day], trend, "test events", spc=panels(events, day, population=None))


def test_html_has_each_chart_with_its_reading_and_no_script(pack: Pack) -> None:
    html = render_html(pack)
    assert "Early warning: statistical process control" in html
    assert html.count('<figure class="spc"') == len(pack.spc) >= 1
    assert 'data-variation="special-cause-concerning"' in html
    assert "Special cause variation, concerning: above the upper process limit." in html
    assert "<script" not in html
    assert "#c0561b" in html  # the special-cause point is marked in the concerning colour


def test_a_pack_without_events_has_no_early_warning_section(pack: Pack) -> None:
    from dataclasses import replace

    assert "Early warning" not in render_html(replace(pack, spc=()))


def test_csv_and_xlsx_carry_the_series(pack: Pack, tmp_path: Path) -> None:
    paths = write_pack(tmp_path, pack)
    with paths["spc-csv"].open(newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == sum(len(panel.chart.points) for panel in pack.spc)
    entered = [row for row in read if row["indicator"] == "entered-care-month"]
    assert [float(row["value"]) for row in entered] == COUNTS
    assert entered[-1]["signals"] == "outside-limits:high" and entered[-1]["variation"] == "special-cause-concerning"
    workbook = load_workbook(paths["xlsx"])
    sheet = workbook["Early warning SPC"]
    header = [cell.value for cell in sheet[1]]
    last = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == "entered-care-month"][-1]
    record = dict(zip(header, last, strict=True))
    assert record["value"] == 6 and record["signals"] == "outside-limits:high"
    assert record["upper_process_limit"] == pytest.approx(float(entered[-1]["upper_process_limit"]))
    readings = {row[0]: row[2] for row in workbook["Early warning readings"].iter_rows(min_row=2, values_only=True)}
    assert readings["entered-care-month"].startswith("Special cause variation, concerning")
