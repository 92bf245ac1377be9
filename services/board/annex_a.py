"""``carewatch annex-a``: the Ofsted Annex A lists as an XLSX workbook, one sheet per list."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from services.board.core.annex_a import AnnexList

if TYPE_CHECKING:
    from schemas.events import CaseEvent

DATE_FORMAT = "DD/MM/YYYY"
SHEET_NAME_MAX = 31


def write_workbook(lists: list[AnnexList], path: Path | IO[bytes], *, as_of: date) -> None:
    """One sheet per list: a header row in the Annex A layout, then the rows with dates as date cells."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for annex_list in lists:
        sheet = workbook.create_sheet(annex_list.title[:SHEET_NAME_MAX])
        sheet.append(list(annex_list.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in annex_list.rows:
            sheet.append(list(row))
        for column in sheet.iter_cols(min_row=2):
            for cell in column:
                if isinstance(cell.value, date):
                    cell.number_format = DATE_FORMAT
        sheet.freeze_panes = "A2"
    workbook.properties.title = f"Annex A lists as of {as_of.isoformat()}"
    workbook.save(path)


def archived_events() -> list[CaseEvent]:
    """Every event of the event archive in the configured database, in fold order."""
    from carewatch.db import make_engine, migrate
    from carewatch.settings import get_settings
    from services.archive.store import events_in_fold_order

    url = get_settings().database.sqlalchemy_url()
    migrate(url)
    engine = make_engine(url)
    try:
        return events_in_fold_order(engine)
    finally:
        engine.dispose()


def workbook_bytes(events: list[CaseEvent], as_of: date, months: int) -> tuple[bytes, dict[str, int]]:
    """The Annex A workbook of ``events`` as bytes, and the rows of each list (for the audit log)."""
    import io

    from services.board.core.annex_a import annex_a as build

    lists = build(events, as_of, period_months=months)
    buffer = io.BytesIO()
    write_workbook(lists, buffer, as_of=as_of)
    return buffer.getvalue(), {annex_list.title: len(annex_list.rows) for annex_list in lists}


def annex_a(
    events: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="NDJSON case events (default: the event archive)."),
    ] = None,
    as_of: Annotated[str, typer.Option("--as-of", help="The inspection date, YYYY-MM-DD.")] = "",
    out: Annotated[Path, typer.Option("--out", help="The workbook to write (.xlsx).")] = Path("annex-a.xlsx"),
    months: Annotated[int, typer.Option(min=1, max=24, help="Period before --as-of (Ofsted: 6 months).")] = 6,
) -> None:
    """Write the Ofsted Annex A lists (referrals, assessments, section 47, children in need, child
    protection, children in care, care leavers) for a date, one sheet per list."""
    from services.board.core.annex_a import annex_a as build
    from services.rules.replay import read_events

    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        typer.echo(f"error: --as-of must be a date YYYY-MM-DD, not {as_of!r}", err=True)
        raise typer.Exit(2) from None
    if events is None:
        read = archived_events()
        typer.echo(f"{len(read)} events read from the event archive", err=True)
    else:
        read, rejected = read_events(events)
        if rejected:
            typer.echo(f"{len(rejected)} line(s) of {events} rejected, {len(read)} events used", err=True)
    lists = build(read, day, period_months=months)
    write_workbook(lists, out, as_of=day)
    for annex_list in lists:
        typer.echo(f"{annex_list.title}: {len(annex_list.rows)} rows", err=True)
