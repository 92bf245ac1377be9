"""Board endpoints: ``GET /v1/board/summary`` (JSON, CONTRACT §4), ``GET /v1/board/trend.csv`` (every stored
date, for scheduled refresh in Power BI or Excel), ``GET /board`` (the pack as HTML) and
``GET /board/annex-a.xlsx`` (the Ofsted Annex A lists, child-level).

The summary and page read the daily snapshots in SQL; disclosure control is applied before anything leaves.
The page adds the early-warning SPC charts computed from the event archive and the last stored return-health
check. Access is decided by the dependencies the host application passes in (the alerts service passes its
role checks: board readers for the aggregates, the admin and board-data roles for the Annex A download,
which it also audits), so this module knows nothing of users or tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from carewatch.settings import AlertsProcess
from schemas.board import BoardSummary
from services.board import store
from services.board.core import comparators as comparator_files
from services.board.core.disclosure import Audience
from services.board.core.summary import build_summary
from services.board.early_warning import SpcSettings
from services.board.pack import HealthPanel, csv_text, example_notes, from_snapshots, render_html

DATE_PATTERN = r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])-\d\d-\d\d$"
AsOf = Annotated[
    date | None,
    Query(
        description="Date of the figures (YYYY-MM-DD, 1900-01-01 to 9998-12-31); the latest snapshot on or before it",
        json_schema_extra={"pattern": DATE_PATTERN},
    ),
]
TREND_MONTHS = 12
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)
"""The dates a board may ask for: the trend reaches a year back, and date arithmetic ends at year 9999."""


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ANNEX_A_PATH = "/board/annex-a.xlsx"


@dataclass(frozen=True)
class DataAccess:
    """Who may download the board's child-level lists, and how each download is audited."""

    dependency: Callable[..., Any]
    """A FastAPI dependency admitting only those who may (returns the person, with a ``name``)."""
    roles: frozenset[str]
    """Their roles: the board page links to the download for these (its reader has a ``role``)."""
    audit: Callable[[str, str, str, dict[str, Any]], None]
    """``(actor, action, target, detail)``: record one download."""


def build_router(
    engine: Engine,
    settings: AlertsProcess,
    auth_dependency: Callable[..., Any],
    data_access: DataAccess | None = None,
) -> APIRouter:
    """The board routes, guarded by ``auth_dependency`` (a FastAPI dependency); the Annex A download only
    when ``data_access`` is given, guarded by its own dependency."""
    comparators = comparator_files.load(
        neighbours=settings.board.neighbours_csv,
        targets=settings.board.targets_csv,
        amber_band=settings.board.amber_band,
    )
    spc_settings = SpcSettings.of(settings.board)
    outer = APIRouter(tags=["board"])
    router = APIRouter(dependencies=[Depends(auth_dependency)])

    def resolve(as_of: date | None) -> date:
        if as_of is not None:
            if not EARLIEST <= as_of <= LATEST:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, f"as_of must be between {EARLIEST} and {LATEST}")
            return as_of
        stored = store.dates(engine)
        if not stored:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no board snapshot has been written yet")
        return stored[-1]

    @router.get("/v1/board/summary", response_model=BoardSummary)
    def summary(as_of: AsOf = None) -> dict[str, Any]:
        """Indicator values with numerator, denominator, suppression flag and comparators."""
        day = resolve(as_of)
        found = store.summary_on(
            engine,
            day,
            settings.board.suppression_threshold,
            settings.board.population_0_17,
            comparators,
            settings.board.audience,
        )
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no board snapshot on or before {day}")
        return found

    @router.get("/v1/board/trend.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def trend_csv(
        request: Request,
        first: Annotated[
            date | None,
            Query(
                alias="from",
                description="First date (YYYY-MM-DD); default: all",
                json_schema_extra={"pattern": DATE_PATTERN},
            ),
        ] = None,
        last: Annotated[
            date | None,
            Query(
                alias="to",
                description="Last date (YYYY-MM-DD); default: all",
                json_schema_extra={"pattern": DATE_PATTERN},
            ),
        ] = None,
    ) -> Response:
        """One row per stored snapshot date and indicator, disclosure control applied: numbers stay numeric,
        a hidden figure is an empty cell with ``suppressed`` true and the rule in ``suppression``."""
        for name in ("from", "to"):
            given = request.query_params.get(name)
            if given is not None and not re.fullmatch(DATE_PATTERN, given):  # not "0", read as 1970-01-01
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must be a date YYYY-MM-DD")
        summaries = (
            build_summary(
                aggregate,
                day,
                settings.board.suppression_threshold,
                population=settings.board.population_0_17,
                comparators=comparators,
                audience=settings.board.audience,
            )
            for day, aggregate in store.load(engine, first, last).items()
        )
        return Response(
            csv_text(summaries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="board-trend.csv"'},
        )

    @router.get("/board", response_class=HTMLResponse)
    def board(as_of: AsOf = None, reader: Any = Depends(auth_dependency)) -> HTMLResponse:
        """The board pack for the date, with 12 months of trend, the early-warning SPC charts from the event
        archive and the last return-health check."""
        day = resolve(as_of)
        pack = from_snapshots(
            engine,
            settings.board.authority_name,
            day,
            TREND_MONTHS,
            settings.board.suppression_threshold,
            settings.board.population_0_17,
            comparators,
            example_notes(settings.board.neighbours_csv, settings.board.targets_csv),
            settings.board.audience,
        )
        if pack is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no board snapshot on or before {day}")
        downloads: tuple[tuple[str, str], ...] = ()
        if data_access is not None and getattr(reader, "role", None) in data_access.roles:
            downloads = (("Ofsted Annex A lists (XLSX, child-level, audited)", f"{ANNEX_A_PATH}?as_of={day}"),)
        pack = replace(
            pack,
            spc=early_warning_panels(
                engine,
                day,
                settings.board.population_0_17,
                settings.board.audience,
                settings.board.suppression_threshold,
                spc_settings,
            ),
            return_health=HealthPanel(store.latest_return_health(engine)),
            downloads=downloads,
            authority_alerts=open_authority_alerts(engine),
        )
        return HTMLResponse(render_html(pack))

    outer.include_router(router)
    if data_access is not None:
        _annex_a_route(outer, engine, data_access)
    return outer


_SPC_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_SPC_CACHE_SIZE = 8


def open_authority_alerts(engine: Engine) -> tuple[tuple[str, str, str], ...]:
    """The open authority alerts the alerts service holds in this database (aggregates only: no child),
    oldest first; none when its tables are not here. Read through the table's contract (CONTRACT §6
    columns), not the alerts service's models: the services stay independent."""
    from sqlalchemy import column, inspect, select, table

    if not inspect(engine).has_table("alert"):
        return ()
    alert = table("alert", column("id"), column("scope"), column("state"), column("subject"),
                  column("raised_at"), column("summary"))  # fmt: skip
    query = (
        select(alert.c.subject, alert.c.raised_at, alert.c.summary)
        .where(alert.c.scope == "authority", alert.c.state.in_(("raised", "acknowledged")))
        .order_by(alert.c.raised_at, alert.c.id)
    )
    with engine.connect() as connection:
        return tuple(
            (str(subject), str(raised)[:10] if raised else "", str(summary))
            for subject, raised, summary in connection.execute(query)
        )


def early_warning_panels(
    engine: Engine,
    day: date,
    population: int | None,
    audience: str = "internal",
    threshold: int = 5,
    spc: SpcSettings | None = None,
) -> tuple[Any, ...]:
    """The SPC charts: the children in need, child protection and entries-to-care series from the event
    archive (none while it is empty), then the daily indicators charted month by month from the stored
    snapshots of each month's last day. Computed again only when the archive has changed (its last sequence
    number or, after an erasure, its size), the snapshots have reached a new month end, or for another day."""
    from services.archive.store import count, events_in_fold_order, high_water
    from services.board.early_warning import kernel_panels, last_complete_month_end, panels

    spc = spc or SpcSettings()
    chosen: Audience = "public" if audience == "public" else "internal"
    month_end = store.latest_on_or_before(engine, last_complete_month_end(day))
    key = (str(engine.url), high_water(engine), count(engine), month_end, day, population, audience, threshold, spc)
    found = _SPC_CACHE.get(key)
    if found is None:
        found = panels(
            events_in_fold_order(engine),
            day,
            population=population,
            audience=chosen,
            threshold=threshold,
            spc=spc,
        ) + kernel_panels(month_end_summaries(engine, day, threshold, population, chosen), day, spc=spc)
        if len(_SPC_CACHE) >= _SPC_CACHE_SIZE:
            _SPC_CACHE.pop(next(iter(_SPC_CACHE)))
        _SPC_CACHE[key] = found
    return found


def month_end_summaries(
    engine: Engine, day: date, threshold: int, population: int | None, audience: Audience
) -> dict[date, dict[str, Any]]:
    """The board summaries of the stored snapshots of the last days of the charts' months up to ``day``
    (a month end with no snapshot of its own is left out)."""
    from services.board.early_warning import spc_month_ends

    out: dict[date, dict[str, Any]] = {}
    for end in spc_month_ends(day):
        found = store.summary_on(engine, end, threshold, population, None, audience)
        if found is not None and found["as_of"] == end.isoformat():
            out[end] = found
    return out


def _annex_a_route(router: APIRouter, engine: Engine, access: DataAccess) -> None:
    @router.get(
        ANNEX_A_PATH,
        response_class=Response,
        responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The Annex A workbook"}},
    )
    def annex_a_workbook(
        request: Request,
        as_of: Annotated[
            date,
            Query(
                description="The inspection date (YYYY-MM-DD, 1900-01-01 to 9998-12-31).",
                json_schema_extra={"pattern": DATE_PATTERN},
            ),
        ],
        months: Annotated[int, Query(ge=1, le=24, description="The period before as_of (Ofsted: 6 months).")] = 6,
        person: Any = Depends(access.dependency),
    ) -> Response:
        """The Ofsted Annex A lists (child-level) from the event archive, one sheet per list. Only the admin
        and board-data roles may download it; every download is audited."""
        from services.archive.store import events_in_fold_order
        from services.board.annex_a import workbook_bytes

        if not re.fullmatch(DATE_PATTERN, request.query_params.get("as_of", "")):  # not "0", read as 1970-01-01
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "as_of must be a date YYYY-MM-DD")
        day = as_of
        content, counts = workbook_bytes(events_in_fold_order(engine), day, months)
        access.audit(
            str(person.name), "download", "annex-a", {"as_of": day.isoformat(), "months": months, "rows": counts}
        )
        name = f"annex-a-{day.isoformat()}.xlsx"
        return Response(
            content,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )
