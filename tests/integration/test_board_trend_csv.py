"""``GET /v1/board/trend.csv``: every stored snapshot date as numeric CSV rows, for scheduled refresh."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from carewatch.db import make_engine, migrate
from carewatch.settings import Settings
from carewatch.testing.synthetic import authority
from schemas.events import parse_event
from services.board import store
from services.board.core.catalogue import INDICATORS
from services.board.pack import CSV_COLUMNS
from services.board.replay import snapshots
from services.board.web import build_router

pytestmark = pytest.mark.integration

DAYS = [date(2024, 3, 31), date(2024, 9, 30), date(2025, 3, 31)]
BOARD = {"Authorization": "Bearer board"}


def board_only(authorization: str = Header(default="")) -> None:
    """Stands in for the alerts service's role check."""
    if authorization != "Bearer board":
        raise HTTPException(401, "board role required")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    events = [parse_event(raw, received_at=None) for raw in authority(150, 5, date(2019, 1, 1), DAYS[-1])]
    store.save(engine, snapshots(events, DAYS))
    yield engine
    engine.dispose()


def _client(engine: Engine, audience: str) -> TestClient:
    app = FastAPI()
    settings = Settings(board_population_0_17=40_000, board_audience=audience)  # type: ignore[arg-type]
    app.include_router(build_router(engine, settings, board_only))
    return TestClient(app)


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_trend_csv_needs_the_role_and_has_one_numeric_row_per_date_and_indicator(engine: Engine) -> None:
    with _client(engine, "public") as client:
        assert client.get("/v1/board/trend.csv").status_code == 401
        response = client.get("/v1/board/trend.csv", headers=BOARD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = _rows(response.text)
    assert [(row["as_of"], row["indicator"]) for row in rows] == [
        (day.isoformat(), id_) for day in DAYS for id_ in INDICATORS
    ]
    hidden = [row for row in rows if row["suppressed"] == "true"]
    shown = [row for row in rows if row["suppressed"] == "false"]
    assert hidden, "the small synthetic authority has figures to hide"
    assert len(hidden) + len(shown) == len(rows)
    for row in hidden:
        assert row["value"] == "" and row["numerator"] == "" and row["suppression"]
    for row in shown:
        for column in ("value", "numerator", "denominator"):
            if row[column]:
                float(row[column])  # numbers stay numbers: no "c" in a numeric column
    assert any(row["value"] for row in shown)


def test_trend_csv_keeps_to_the_dates_asked_and_follows_the_audience(engine: Engine) -> None:
    with _client(engine, "public") as client:
        one = _rows(client.get("/v1/board/trend.csv?from=2024-09-01&to=2024-12-31", headers=BOARD).text)
        public = _rows(client.get("/v1/board/trend.csv", headers=BOARD).text)
    assert {row["as_of"] for row in one} == {"2024-09-30"}
    with _client(engine, "internal") as client:
        internal = _rows(client.get("/v1/board/trend.csv", headers=BOARD).text)
    assert "small-complement" not in {row["suppression"] for row in internal}
    key = ("as_of", "indicator")
    hidden_internal = {tuple(row[k] for k in key) for row in internal if row["suppressed"] == "true"}
    public_reason = {tuple(row[k] for k in key): row["suppression"] for row in public if row["suppressed"] == "true"}
    assert hidden_internal <= set(public_reason)
    assert {public_reason[k] for k in set(public_reason) - hidden_internal} <= {"small-complement", "secondary"}
