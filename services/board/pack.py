"""The board pack: a printable HTML report, plus the same figures as CSV and XLSX.

Input is already-disclosed summaries (:func:`services.board.core.summary.build_summary`): the one of the
pack's date and one per trend date. Hidden figures appear as "c" (the DfE symbol) with a numbered note
(in the CSV and XLSX: an empty cell beside a ``suppressed`` flag);
nothing here can show a hidden number because it never receives one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from services.board.core.catalogue import ALL_INDICATORS, INDICATORS, UASC_NTS_THRESHOLD_PERCENT, Indicator
from services.board.core.comparators import RAG_TEXT
from services.board.core.disclosure import Audience, footnote
from services.rules.core.calendar import add_months

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.board.core.comparators import Comparators
    from services.board.early_warning import SpcPanel
    from services.board.store import ReturnHealth

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
DATA: Final = Path(__file__).resolve().parent / "data"
EXAMPLE_NEIGHBOURS: Final = DATA / "example-neighbours.csv"
EXAMPLE_TARGETS: Final = DATA / "example-targets.csv"
HIDDEN: Final = "c"
CSV_COLUMNS: Final = (
    "as_of",
    "indicator",
    "title",
    "unit",
    "better",
    "value",
    "numerator",
    "denominator",
    "suppressed",
    "suppression",
    "national",
    "national_year",
    "neighbours",
    "target",
    "rag",
)
_DIRECTION: Final = {"higher": "Higher is better.", "lower": "Lower is better.", "neutral": ""}
_CARDS: Final = ("cla-count", "cla-rate-per-10k", "entered-care-12m", "left-care-12m")


@dataclass(frozen=True)
class Pack:
    authority: str
    summary: dict[str, Any]
    trend: dict[date, dict[str, Any]]
    """Summaries of the trend dates (oldest first), the pack's date included."""
    origin: str
    """Where the figures come from, in words ("daily snapshots", "events file x.ndjson")."""
    examples: tuple[str, ...] = ()
    """Notes naming comparator files that are examples shipped with carewatch, not real figures."""
    spc: tuple[SpcPanel, ...] = ()
    """The early-warning SPC charts (from the events the pack was built from; none from snapshots alone)."""
    return_health: HealthPanel | None = None
    """The SSDA903 return's health as last checked (the board page shows it; None: not part of this pack)."""
    downloads: tuple[tuple[str, str], ...] = ()
    """(label, link) of the downloads the reader may use (the board page shows only those they may)."""
    authority_alerts: tuple[tuple[str, str, str], ...] = ()
    """Open authority alerts (indicator id, raised on, summary): special causes the alerts service holds."""

    @property
    def as_of(self) -> date:
        return date.fromisoformat(self.summary["as_of"])


@dataclass(frozen=True)
class HealthPanel:
    latest: ReturnHealth | None
    """None: the return has never been checked."""


def example_notes(neighbours: Path | None, targets: Path | None) -> tuple[str, ...]:
    """Say so when the statistical-neighbour or target file is one of the examples shipped with carewatch."""
    notes = []
    if neighbours is not None and neighbours.resolve() == EXAMPLE_NEIGHBOURS:
        notes.append("The statistical-neighbour figures are EXAMPLES shipped with the demo, not real data.")
    if targets is not None and targets.resolve() == EXAMPLE_TARGETS:
        notes.append("The local targets (and so every red, amber and green status) are EXAMPLES shipped with the demo.")
    return tuple(notes)


def trend_dates(as_of: date, months: int = 12) -> list[date]:
    """The pack's date and the same day of each of the ``months`` months before it, oldest first."""
    return [add_months(as_of, -back) for back in range(months, -1, -1)]


def from_snapshots(
    engine: Engine,
    authority: str,
    as_of: date,
    months: int,
    threshold: int,
    population: int | None,
    comparators: Comparators,
    examples: tuple[str, ...] = (),
    audience: Audience = "public",
) -> Pack | None:
    """The pack of the stored daily snapshots (each trend date: the latest snapshot on or before it);
    None when nothing is stored on or before ``as_of``."""
    from services.board import store

    trend: dict[date, dict[str, Any]] = {}
    for when in trend_dates(as_of, months):
        found = store.summary_on(engine, when, threshold, population, comparators, audience)
        if found is not None:
            trend[date.fromisoformat(found["as_of"])] = found
    if not trend:
        return None
    return Pack(authority, trend[max(trend)], trend, "daily indicator snapshots", examples)


def format_value(indicator: Indicator, value: float | None) -> str:
    if value is None:
        return "–"
    if indicator.unit == "count":
        return f"{value:,.0f}"
    if indicator.unit == "rate-per-10k":
        return f"{value:,.1f}"
    decimals = 3 if value and abs(value) < 1 else 1
    return f"{value:.{decimals}f}%"


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _comparator(indicator: Indicator, entry: dict[str, Any] | None) -> str:
    return "–" if entry is None else format_value(indicator, entry["value"])


def _fraction(entry: dict[str, Any]) -> str:
    if entry["unit"] == "percent" and entry["numerator"] is not None and entry["denominator"] is not None:
        return f"{entry['numerator']:,} of {entry['denominator']:,}"
    if entry["unit"] == "rate-per-10k" and entry["numerator"] is not None:
        return f"{entry['numerator']:,}"
    return ""


def _previous(pack: Pack) -> dict[str, Any] | None:
    dates = sorted(pack.trend)
    return pack.trend[dates[0]] if len(dates) > 1 else None


def travel(indicator: Indicator, now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, str]:
    """Direction of travel against 12 months ago: an arrow, a word for it, and better/worse when the
    indicator has a better direction. Nothing when either figure is hidden or missing."""
    if before is None or now["suppressed"] or before["suppressed"] or now["value"] is None or before["value"] is None:
        return {"arrow": "", "text": "no comparison", "verdict": "none"}
    change = now["value"] - before["value"]
    if abs(change) < 1e-9:
        return {"arrow": "→", "text": "no change", "verdict": "same"}
    arrow = "↑" if change > 0 else "↓"
    moved = "up" if change > 0 else "down"
    if indicator.better == "neutral":
        return {"arrow": arrow, "text": moved, "verdict": "neutral"}
    better = (change > 0) == (indicator.better == "higher")
    return {
        "arrow": arrow,
        "text": f"{moved}, {'better' if better else 'worse'}",
        "verdict": "better" if better else "worse",
    }


def _rows_and_notes(pack: Pack) -> tuple[list[dict[str, Any]], list[str]]:
    threshold = int(pack.summary["threshold"])
    previous = _previous(pack)
    notes: list[str] = []
    rows = []
    for id_, entry in pack.summary["indicators"].items():
        indicator = INDICATORS[id_]
        note = ""
        if entry["suppressed"]:
            text = footnote(entry["suppression"], threshold)
            if text not in notes:
                notes.append(text)
            note = str(notes.index(text) + 1)
        before = previous["indicators"][id_] if previous else None
        rows.append(
            {
                "id": id_,
                "title": indicator.title,
                "direction": _DIRECTION[indicator.better],
                "hidden": entry["suppressed"],
                "note": note,
                "value": format_value(indicator, entry["value"]),
                "fraction": _fraction(entry),
                "previous": (HIDDEN if before["suppressed"] else format_value(indicator, before["value"]))
                if before
                else "–",
                "national": _comparator(indicator, entry["national"]),
                "neighbours": _comparator(indicator, entry["neighbours"]),
                "target": "–" if entry["target"] is None else format_value(indicator, entry["target"]),
                "rag": entry["rag"],
                "rag_text": RAG_TEXT.get(entry["rag"] or "", ""),
                "travel": travel(indicator, entry, before),
                "unknown": unknown_text(entry, threshold),
            }
        )
    return rows, notes


def unknown_text(entry: dict[str, Any], threshold: int) -> str:
    """The children a figure leaves out as not known (their period of care began before the data), shown
    under its row: nothing when the indicator is always known or none are left out."""
    if entry.get("unknown_suppressed"):
        return f"fewer than {threshold} not known (care began before the data)"
    count = entry.get("unknown")
    if not count:
        return ""
    return f"{count:,} not known (care began before the data)"


def exceptions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Indicators off target (red) first, then near target (amber); within each, worse than a year ago first."""
    order = {"red": 0, "amber": 1}
    flagged = [row for row in rows if row["rag"] in order]
    return sorted(flagged, key=lambda row: (order[row["rag"]], row["travel"]["verdict"] != "worse"))


def chart_svg(pack: Pack, id_: str) -> str | None:
    """A small line chart of one indicator over the trend dates (None when nothing can be shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    indicator = INDICATORS[id_]
    days = sorted(pack.trend)
    values = [pack.trend[day]["indicators"][id_]["value"] for day in days]
    if all(value is None for value in values):
        return None
    entry = pack.summary["indicators"][id_]
    figure, axes = plt.subplots(figsize=(5.2, 2.2), dpi=100)
    try:
        axes.plot(
            mdates.date2num(days),  # type: ignore[no-untyped-call]
            [float("nan") if v is None else v for v in values],
            color="#1d4f91",
            marker="o",
            markersize=3,
        )
        if entry["national"] is not None:
            axes.axhline(entry["national"]["value"], color="#59636e", linestyle="--", linewidth=1)
        if entry["target"] is not None:
            axes.axhline(entry["target"], color="#00703c", linestyle=":", linewidth=1.2)
        threshold = UASC_NTS_THRESHOLD_PERCENT if id_ == "uasc-share-of-child-population" else None
        if threshold is not None:
            axes.axhline(threshold, color="#b1221a", linestyle="-.", linewidth=1.2)
            axes.annotate(
                f"National Transfer Scheme threshold {threshold:g}%",
                xy=(0.01, threshold),
                xycoords=("axes fraction", "data"),
                xytext=(0, 3),
                textcoords="offset points",
                fontsize=7,
                color="#b1221a",
            )
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(labelsize=8)
        axes.grid(axis="y", color="#e5e9ed", linewidth=0.8)
        references = [entry["target"], entry["national"]["value"] if entry["national"] else None]
        bottom, top = y_limits(
            [v for v in values if v is not None],
            [r for r in references if r is not None],
            indicator,
            always=() if threshold is None else (threshold,),
        )
        axes.set_ylim(bottom=bottom, top=top)
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %y"))  # type: ignore[no-untyped-call]
        if indicator.unit == "count":
            axes.yaxis.set_major_locator(mticker.MaxNLocator(nbins=5, integer=True))
        if indicator.unit == "percent":
            axes.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}%"))
        figure.autofmt_xdate(rotation=0, ha="center")
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :].replace("<svg", '<svg aria-hidden="true" focusable="false"', 1)


def y_limits(
    values: list[float], references: list[float], indicator: Indicator, always: tuple[float, ...] = ()
) -> tuple[float, float]:
    """An axis that shows change: fitted to the series and the reference lines near it, not pinned to zero.

    A reference line far from every value (more than the series' own spread away, at least a tenth of the
    value) is left off the axis rather than flattening the series against it."""
    low, high = min(values), max(values)
    floor = 2.0 if indicator.unit == "count" else min(0.5, abs(high) * 0.1 or 0.5)
    reach = max(high - low, abs(high) * 0.1, floor)
    near = [r for r in references if low - reach <= r <= high + reach] + list(always)
    low, high = min([low, *near]), max([high, *near])
    pad = max((high - low) * 0.15, reach * 0.25)
    bottom = max(0.0, low - pad)
    top = high + pad
    if indicator.unit == "percent":
        top = min(100.0, top) if high <= 100 else top
    return bottom, max(top, bottom + 1e-6)


def _chart_text(pack: Pack, id_: str) -> str:
    """The chart in words: the first and latest figures shown."""
    indicator = INDICATORS[id_]
    shown = [
        (day, pack.trend[day]["indicators"][id_])
        for day in sorted(pack.trend)
        if not pack.trend[day]["indicators"][id_]["suppressed"]
        and pack.trend[day]["indicators"][id_]["value"] is not None
    ]
    if not shown:
        return "No figure can be shown."
    (first_day, first), (last_day, last) = shown[0], shown[-1]
    text = (
        f"{format_value(indicator, first['value'])} on {_long_date(first_day)}; "
        f"{format_value(indicator, last['value'])} on {_long_date(last_day)}."
    )
    hidden = len(pack.trend) - len(shown)
    if hidden:
        text += f" {hidden} of {len(pack.trend)} dates hidden or not computed."
    return text


def render_html(pack: Pack) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    rows, notes = _rows_and_notes(pack)
    by_id = {row["id"]: row for row in rows}
    cards = [
        {"value": HIDDEN if by_id[i]["hidden"] else by_id[i]["value"], "label": INDICATORS[i].title} for i in _CARDS
    ]
    rags = [row["rag"] for row in rows if row["rag"]]
    rag_counts = (
        ", ".join(f"{rags.count(c)} {RAG_TEXT[c].lower()} ({c})" for c in ("red", "amber", "green"))
        if rags
        else "No local targets are set, so no indicator has a red, amber or green status."
    )
    charts = []
    for id_, indicator in INDICATORS.items():
        if indicator.is_count and id_ not in _CARDS:
            continue
        svg = chart_svg(pack, id_)
        if svg is not None:
            caption = _chart_caption(indicator)
            if id_ == "uasc-share-of-child-population":
                caption += (
                    f" Dash-dot red line: the National Transfer Scheme threshold of {UASC_NTS_THRESHOLD_PERCENT:g}%."
                )
            charts.append({"title": indicator.title, "svg": svg, "caption": caption, "text": _chart_text(pack, id_)})
    days = sorted(pack.trend)
    threshold = pack.summary["threshold"]
    definitions = [
        {
            "title": indicator.title,
            "definition": indicator.definition_in_full,
            "direction": _DIRECTION[indicator.better],
            "source": indicator.source,
            "comparator": _comparator_text((pack.summary["indicators"].get(id_) or {}).get("national")),
        }
        for id_, indicator in ALL_INDICATORS.items()
    ]
    from services.board.early_warning import html_items

    return environment.get_template("pack.html").render(
        spc=html_items(pack.spc),
        authority_alerts=pack.authority_alerts,
        health=_health_view(pack.return_health),
        downloads=pack.downloads,
        authority=pack.authority,
        as_of_text=_long_date(pack.as_of),
        origin=pack.origin,
        cards=cards,
        rag_counts=rag_counts,
        rows=rows,
        exceptions=exceptions(rows),
        examples=pack.examples,
        charts=charts,
        trend_span=f"{_long_date(days[0])} to {_long_date(days[-1])}" if days else "no dates",
        notes=notes,
        disclosure_rule=disclosure_rule(threshold, pack.summary.get("audience", "public")),
        definitions=definitions,
    )


def _health_view(panel: HealthPanel | None) -> dict[str, Any] | None:
    if panel is None:
        return None
    latest = panel.latest
    if latest is None:
        return {"state": "never", "text": "The return has not been checked yet (`carewatch return-health --store`)."}
    checked = f"{latest.checked_at:%Y-%m-%d %H:%M} UTC"
    year = f"{latest.collection_year - 1}/{latest.collection_year % 100:02d}"
    base = {"checked": checked, "as_of": _long_date(latest.as_of), "year": year}
    if not latest.available:
        return {
            **base,
            "state": "unavailable",
            "text": "The DfE validator could not be run, so the number of failing records is not known: "
            + latest.detail,
        }
    return {**base, "state": "checked", "total": latest.total, "rules": latest.rules}


def disclosure_rule(threshold: int, audience: str) -> str:
    """The disclosure rules of the pack in words, for its audience."""
    small = f"Counts from 1 to {threshold - 1} are never shown, nor percentages of groups that small"
    last = "one figure more is hidden where a hidden one could otherwise be worked out from a total."
    if audience == "public":
        return (
            f"{small}, nor percentages where all but fewer than {threshold} children share the outcome; {last} "
            "(Rules for public papers.)"
        )
    return (
        f"{small}; {last} Percentages where all but a few children share the outcome are shown: this pack is "
        "for the authority's own board. Use the public audience for papers published to anyone."
    )


def _chart_caption(indicator: Indicator) -> str:
    unit = {"count": "children", "percent": "per cent", "rate-per-10k": "per 10,000 children"}[indicator.unit]
    return f"{unit.capitalize()}. {_DIRECTION[indicator.better]}".strip()


def _comparator_text(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    return f"{entry['value']:g} ({entry['year']}; {entry['source']})"


def csv_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per indicator, numbers kept numeric: a hidden figure is an empty cell, and the ``suppressed``
    flag (true/false) and ``suppression`` reason say why, so a column loads as numbers in any tool."""
    rows = []
    for id_, entry in summary["indicators"].items():
        hidden = entry["suppressed"]
        national = entry["national"]
        rows.append(
            {
                "as_of": summary["as_of"],
                "indicator": id_,
                "title": entry["title"],
                "unit": entry["unit"],
                "better": entry["better"],
                "value": "" if hidden else _blank(entry["value"]),
                "numerator": "" if hidden else _blank(entry["numerator"]),
                "denominator": _blank(entry["denominator"]),
                "suppressed": "true" if hidden else "false",
                "suppression": entry["suppression"] or "",
                "national": "" if national is None else national["value"],
                "national_year": "" if national is None else national["year"],
                "neighbours": "" if entry["neighbours"] is None else entry["neighbours"]["value"],
                "target": _blank(entry["target"]),
                "rag": entry["rag"] or "",
            }
        )
    return rows


def csv_text(summaries: Iterable[dict[str, Any]]) -> str:
    """The CSV of the summaries given (one row per date and indicator), header first."""
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for summary in summaries:
        writer.writerows(csv_rows(summary))
    return handle.getvalue()


def typed_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per indicator for spreadsheets: a real date, numbers as numbers, the flag as a boolean, and a
    hidden figure as an empty cell (the ``suppressed`` flag and ``suppression`` reason say why)."""
    rows = []
    day = date.fromisoformat(summary["as_of"])
    for id_, entry in summary["indicators"].items():
        hidden = bool(entry["suppressed"])
        national = entry["national"]
        rows.append(
            {
                "as_of": day,
                "indicator": id_,
                "title": entry["title"],
                "unit": entry["unit"],
                "better": entry["better"],
                "value": None if hidden else entry["value"],
                "numerator": None if hidden else entry["numerator"],
                "denominator": entry["denominator"],
                "suppressed": hidden,
                "suppression": entry["suppression"] or None,
                "national": None if national is None else national["value"],
                "national_year": None if national is None else str(national["year"]),
                "neighbours": None if entry["neighbours"] is None else entry["neighbours"]["value"],
                "target": entry["target"],
                "rag": entry["rag"],
            }
        )
    return rows


def _blank(value: Any) -> Any:
    return "" if value is None else value


def write_csv(path: Path, pack: Pack) -> None:
    text = csv_text(pack.trend[day] for day in sorted(pack.trend))
    path.write_text(text, encoding="utf-8", newline="")


def write_spc_csv(path: Path, pack: Pack) -> None:
    """The SPC charts' points, limits and signals, one row per month of each series."""
    from services.board import early_warning

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=early_warning.CSV_COLUMNS)
        writer.writeheader()
        for row in early_warning.rows(pack.spc):
            writer.writerow({key: _blank(value) for key, value in row.items()})


def write_xlsx(path: Path, pack: Pack) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.table import Table, TableStyleInfo

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="F4F6F8")
    workbook = Workbook()
    headline = workbook.active
    assert headline is not None
    headline.title = "Headline"

    def sheet_header(sheet: Any, columns: tuple[str, ...] | list[str], widths: dict[int, int]) -> None:
        sheet.append(list(columns))
        for cell in sheet[1]:
            cell.font, cell.fill = bold, header_fill
        sheet.freeze_panes = "A2"
        for index in range(1, len(columns) + 1):
            sheet.column_dimensions[get_column_letter(index)].width = widths.get(index, 14)

    sheet_header(headline, CSV_COLUMNS, {2: 36, 3: 52})
    for row in typed_rows(pack.summary):
        hidden = row["suppressed"]
        cells = {**row, **({"value": HIDDEN, "numerator": HIDDEN} if hidden else {})}
        headline.append([cells[column] for column in CSV_COLUMNS])
        headline.cell(headline.max_row, 1).number_format = "yyyy-mm-dd"

    data = workbook.create_sheet("Data")
    sheet_header(data, CSV_COLUMNS, {2: 36, 3: 52})
    for day in sorted(pack.trend):
        for row in typed_rows(pack.trend[day]):
            data.append([row[column] for column in CSV_COLUMNS])
            data.cell(data.max_row, 1).number_format = "yyyy-mm-dd"
    table = Table(displayName="BoardData", ref=f"A1:{get_column_letter(len(CSV_COLUMNS))}{data.max_row}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    data.add_table(table)

    trend = workbook.create_sheet("Trend")
    days = sorted(pack.trend)
    sheet_header(trend, ["indicator", "title", *(d.isoformat() for d in days)], {1: 36, 2: 52})
    for id_, indicator in INDICATORS.items():
        values: list[Any] = []
        for day in days:
            entry = pack.trend[day]["indicators"][id_]
            values.append(HIDDEN if entry["suppressed"] else _blank(entry["value"]))
        trend.append([id_, indicator.title, *values])

    definitions = workbook.create_sheet("Definitions")
    sheet_header(definitions, ["indicator", "title", "definition", "better", "source"], {1: 36, 2: 40, 3: 90, 5: 60})
    for id_, indicator in ALL_INDICATORS.items():
        definitions.append([id_, indicator.title, indicator.definition_in_full, indicator.better, indicator.source])
        definitions.cell(definitions.max_row, 3).alignment = Alignment(wrap_text=True, vertical="top")

    if pack.spc:
        from services.board import early_warning

        spc = workbook.create_sheet("Early warning SPC")
        sheet_header(spc, early_warning.CSV_COLUMNS, {1: 30, 2: 44, 9: 40})
        for row in early_warning.rows(pack.spc):
            spc.append([row[column] for column in early_warning.CSV_COLUMNS])
            spc.cell(spc.max_row, 4).number_format = "yyyy-mm-dd"
        readings = workbook.create_sheet("Early warning readings")
        sheet_header(
            readings,
            ["indicator", "title", "reading", "chart in words", "definition", "note", "watched"],
            {1: 30, 2: 44, 3: 90, 4: 90, 5: 90, 6: 60},
        )
        for panel in pack.spc:
            readings.append(
                [
                    panel.indicator_id,
                    panel.title,
                    panel.reading,
                    early_warning.text_alternative(panel),
                    panel.definition,
                    panel.note,
                    panel.watched,
                ]
            )

    notes = workbook.create_sheet("Notes")
    threshold = int(pack.summary["threshold"])
    notes.append(["Figures as of", date.fromisoformat(pack.summary["as_of"])])
    notes.cell(notes.max_row, 2).number_format = "yyyy-mm-dd"
    notes.append(["Built from", pack.origin])
    notes.append(["Suppression threshold", threshold])
    notes.append(["c", "a figure hidden so that no child can be identified; reasons:"])
    for reason in ("small-count", "small-denominator", "small-complement", "linked", "secondary"):
        notes.append([reason, footnote(reason, threshold)])
    notes.column_dimensions["A"].width = 24
    notes.column_dimensions["B"].width = 90
    workbook.save(path)


def write_pack(out_dir: Path, pack: Pack) -> dict[str, Path]:
    """Write ``board-pack.html``, ``board-pack.csv`` (every trend date) and ``board-pack.xlsx``, and
    ``board-pack-spc.csv`` when the pack has early-warning charts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": out_dir / "board-pack.html",
        "csv": out_dir / "board-pack.csv",
        "xlsx": out_dir / "board-pack.xlsx",
    }
    paths["html"].write_text(render_html(pack), encoding="utf-8")
    write_csv(paths["csv"], pack)
    if pack.spc:
        paths["spc-csv"] = out_dir / "board-pack-spc.csv"
        write_spc_csv(paths["spc-csv"], pack)
    write_xlsx(paths["xlsx"], pack)
    return paths
