"""Board endpoints: ``GET /v1/board/summary`` (JSON, CONTRACT §4), ``GET /v1/board/trend.csv`` (every stored
date, for scheduled refresh in Power BI or Excel) and ``GET /board`` (the pack as HTML).

Both read the daily snapshots in SQL; disclosure control is applied before anything leaves. Access is
decided by the dependency the host application passes in (the alerts service passes its role check for
the board and admin roles), so this module knows nothing of users or tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from carewatch.settings import Settings
from schemas.board import BoardSummary
from services.board import store
from services.board.core import comparators as comparator_files
from services.board.core.summary import build_summary
from services.board.pack import csv_text, example_notes, from_snapshots, render_html

AsOf = Annotated[
    date | None,
    Query(
        description="Date of the figures (YYYY-MM-DD, 1900-01-01 to 9998-12-31); the latest snapshot on or before it",
        json_schema_extra={"pattern": r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])-\d\d-\d\d$"},
    ),
]
TREND_MONTHS = 12
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)
"""The dates a board may ask for: the trend reaches a year back, and date arithmetic ends at year 9999."""


def build_router(engine: Engine, settings: Settings, auth_dependency: Callable[..., Any]) -> APIRouter:
    """The board routes, every one guarded by ``auth_dependency`` (a FastAPI dependency)."""
    comparators = comparator_files.load(
        neighbours=settings.board_neighbours_csv,
        targets=settings.board_targets_csv,
        amber_band=settings.board_amber_band,
    )
    router = APIRouter(tags=["board"], dependencies=[Depends(auth_dependency)])

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
            settings.suppression_threshold,
            settings.board_population_0_17,
            comparators,
            settings.board_audience,
        )
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no board snapshot on or before {day}")
        return found

    @router.get("/v1/board/trend.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def trend_csv(
        first: Annotated[date | None, Query(alias="from", description="First date (YYYY-MM-DD); default: all")] = None,
        last: Annotated[date | None, Query(alias="to", description="Last date (YYYY-MM-DD); default: all")] = None,
    ) -> Response:
        """One row per stored snapshot date and indicator, disclosure control applied: numbers stay numeric,
        a hidden figure is an empty cell with ``suppressed`` true and the rule in ``suppression``."""
        summaries = (
            build_summary(
                aggregate,
                day,
                settings.suppression_threshold,
                population=settings.board_population_0_17,
                comparators=comparators,
                audience=settings.board_audience,
            )
            for day, aggregate in store.load(engine, first, last).items()
        )
        return Response(
            csv_text(summaries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'inline; filename="board-trend.csv"'},
        )

    @router.get("/board", response_class=HTMLResponse)
    def board(as_of: AsOf = None) -> HTMLResponse:
        """The board pack for the date, with 12 months of trend."""
        day = resolve(as_of)
        pack = from_snapshots(
            engine,
            settings.board_authority_name,
            day,
            TREND_MONTHS,
            settings.suppression_threshold,
            settings.board_population_0_17,
            comparators,
            example_notes(settings.board_neighbours_csv, settings.board_targets_csv),
            settings.board_audience,
        )
        if pack is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no board snapshot on or before {day}")
        return HTMLResponse(render_html(pack))

    return router
