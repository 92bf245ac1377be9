"""The board pack's own logic on hand-made summaries: direction of travel, exceptions (red first), y-axes
that show change, the UASC threshold line, examples marked, and the XLSX read back with openpyxl."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from services.board.core.catalogue import INDICATORS
from services.board.pack import (
    EXAMPLE_NEIGHBOURS,
    EXAMPLE_TARGETS,
    Pack,
    example_notes,
    exceptions,
    render_html,
    travel,
    trend_dates,
    write_xlsx,
    y_limits,
)

AS_OF = date(2026, 9, 30)


def entry(id_: str, value: float | None, **extra: Any) -> dict[str, Any]:
    indicator = INDICATORS[id_]
    base = {
        "title": indicator.title,
        "unit": indicator.unit,
        "better": indicator.better,
        "value": value,
        "numerator": None if value is None else 40,
        "denominator": None if value is None else 50,
        "suppressed": False,
        "suppression": None,
        "national": None,
        "neighbours": None,
        "target": None,
        "rag": None,
    }
    return {**base, **extra}


def summary(day: date, step: int) -> dict[str, Any]:
    indicators = {id_: entry(id_, 50.0 + step) for id_ in INDICATORS}
    indicators["rha-in-date"] = entry("rha-in-date", 80.0 + step, target=90.0, rag="red")
    indicators["pep-in-date"] = entry("pep-in-date", 95.0 - step, target=96.0, rag="amber")
    indicators["dental-in-date"] = entry("dental-in-date", 70.0 - step, target=90.0, rag="red")
    indicators["iha-within-20wd"] = entry("iha-within-20wd", 60.0, target=50.0, rag="green")
    indicators["uasc-share-of-child-population"] = entry("uasc-share-of-child-population", 0.05 + step / 1000)
    hidden = {"suppressed": True, "suppression": "small-count", "numerator": None}
    indicators["sdq-concern"] = entry("sdq-concern", None, **hidden)
    return {"as_of": day.isoformat(), "threshold": 5, "indicators": indicators}


def pack(examples: tuple[str, ...] = ()) -> Pack:
    trend = {day: summary(day, step) for step, day in enumerate(trend_dates(AS_OF))}
    return Pack("Exampleshire", trend[AS_OF], trend, "test summaries", examples)


def test_travel_says_better_or_worse_against_the_better_direction() -> None:
    now, before = entry("rha-in-date", 92.0), entry("rha-in-date", 80.0)
    assert travel(INDICATORS["rha-in-date"], now, before) == {"arrow": "↑", "text": "up, better", "verdict": "better"}
    assert travel(INDICATORS["sdq-concern"], entry("sdq-concern", 40.0), entry("sdq-concern", 30.0))["verdict"] == (
        "worse"
    )
    assert travel(INDICATORS["cla-count"], entry("cla-count", 10.0), entry("cla-count", 12.0))["text"] == "down"
    hidden = entry("rha-in-date", None, suppressed=True)
    assert travel(INDICATORS["rha-in-date"], hidden, before)["verdict"] == "none"


def test_exceptions_put_red_first_and_the_worsening_red_before_the_improving() -> None:
    from services.board.pack import _rows_and_notes

    rows, _ = _rows_and_notes(pack())
    found = [(row["id"], row["rag"]) for row in exceptions(rows)]
    assert found == [("dental-in-date", "red"), ("rha-in-date", "red"), ("pep-in-date", "amber")]


def test_y_axis_fits_the_series_not_zero() -> None:
    percent = INDICATORS["rha-in-date"]
    bottom, top = y_limits([81.0, 82.5, 84.0], [90.0], percent)
    assert 70 < bottom < 81 and 90 < top <= 100  # the near target is on the axis, zero is not
    bottom, top = y_limits([81.0, 82.5, 84.0], [20.0], percent)
    assert bottom > 70  # a far reference does not flatten the line
    uasc = INDICATORS["uasc-share-of-child-population"]
    assert y_limits([0.05, 0.06], [], uasc, always=(0.1,))[1] > 0.1  # the threshold is always on the axis
    assert y_limits([0.05, 0.06], [], uasc)[1] < 0.1


def test_html_marks_examples_draws_the_uasc_threshold_and_lists_exceptions() -> None:
    html = render_html(pack(example_notes(EXAMPLE_NEIGHBOURS, EXAMPLE_TARGETS)))
    assert "Examples, not real figures." in html and "statistical-neighbour figures are EXAMPLES" in html
    assert "National Transfer Scheme threshold 0.1%" in html  # drawn on the chart itself
    table = html.split('id="exceptions-table"')[1].split("</table>")[0]
    titles = [INDICATORS[i].title for i in ("dental-in-date", "rha-in-date", "pep-in-date")]
    assert table.index(titles[0]) < table.index(titles[1]) < table.index(titles[2])
    assert 'data-travel="worse"' in html and 'data-travel="better"' in html
    assert "Examples, not real figures." not in render_html(pack())
    assert example_notes(Path("/elsewhere/targets.csv"), None) == ()


def test_xlsx_has_real_dates_numbers_booleans_and_a_table(tmp_path: Path) -> None:
    path = tmp_path / "pack.xlsx"
    write_xlsx(path, pack())
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Headline", "Data", "Trend", "Definitions", "Notes"]
    data = workbook["Data"]
    assert list(data.tables) == ["BoardData"]
    assert data.tables["BoardData"].ref == f"A1:O{1 + 13 * len(INDICATORS)}"
    header = [cell.value for cell in data[1]]
    rows = [dict(zip(header, (cell.value for cell in row), strict=True)) for row in data.iter_rows(min_row=2)]
    first = rows[0]
    assert isinstance(first["as_of"], date) and first["as_of"].date() == trend_dates(AS_OF)[0]
    assert data.cell(2, 1).is_date
    assert isinstance(first["suppressed"], bool)
    rha = next(r for r in rows if r["indicator"] == "rha-in-date" and r["as_of"].date() == AS_OF)
    assert rha["value"] == 92.0 and rha["target"] == 90 and rha["rag"] == "red" and rha["suppressed"] is False
    sdq = next(r for r in rows if r["indicator"] == "sdq-concern")
    assert sdq["suppressed"] is True and sdq["value"] is None and sdq["suppression"] == "small-count"
    headline = workbook["Headline"]
    assert headline.cell(2, 1).is_date
    assert {type(c.value) for c in headline["I"][1:]} == {bool}
    assert workbook["Notes"].cell(1, 2).is_date
