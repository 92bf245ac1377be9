"""Board HTTP routes and Prometheus export, on PostgreSQL snapshots."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine

from carewatch.db import make_engine, migrate
from carewatch.settings import Settings
from carewatch.testing.synthetic import authority
from schemas.board import BoardSummary
from schemas.events import parse_event
from services.board import store
from services.board.metrics import BoardCollector, latest_snapshot
from services.board.replay import snapshots
from services.board.web import build_router

pytestmark = pytest.mark.integration

AS_OF = date(2025, 3, 31)


def board_only(authorization: str = Header(default="")) -> None:
    """Stands in for the alerts service's role check."""
    if authorization != "Bearer board":
        raise HTTPException(401, "board role required")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    events = [parse_event(raw, received_at=None) for raw in authority(150, 5, date(2019, 1, 1), AS_OF)]
    store.save(engine, snapshots(events, [date(2024, 3, 31), date(2024, 9, 30), AS_OF]))
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = FastAPI()
    settings = Settings(board_population_0_17=40_000, board_authority_name="Testshire")
    app.include_router(build_router(engine, settings, board_only))
    with TestClient(app) as client:
        yield client


def test_summary_json_needs_the_role_and_hides_small_numbers(client: TestClient) -> None:
    assert client.get("/v1/board/summary").status_code == 401
    response = client.get("/v1/board/summary", headers={"Authorization": "Bearer board"})
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2025-03-31"
    assert BoardSummary.model_validate(body).to_json() == body  # the contract, nothing more, nothing less
    cla = body["indicators"]["cla-count"]
    assert cla["value"] == cla["numerator"] > 5
    assert body["indicators"]["cla-rate-per-10k"]["denominator"] == 40_000
    hidden = [entry for entry in body["indicators"].values() if entry["suppressed"]]
    for entry in hidden:
        assert entry["value"] is None and entry["numerator"] is None
    for entry in body["indicators"].values():
        if entry["numerator"] is not None and not entry["suppressed"]:
            assert entry["numerator"] == 0 or entry["numerator"] >= 5


def test_summary_of_an_earlier_date_and_of_no_date(client: TestClient) -> None:
    headers = {"Authorization": "Bearer board"}
    earlier = client.get("/v1/board/summary", params={"as_of": "2024-10-15"}, headers=headers)
    assert earlier.json()["as_of"] == "2024-09-30"
    assert client.get("/v1/board/summary", params={"as_of": "2020-01-01"}, headers=headers).status_code == 404
    assert client.get("/v1/board/summary", params={"as_of": "31/03/2025"}, headers=headers).status_code == 422


def test_board_page_is_the_pack(client: TestClient) -> None:
    response = client.get("/board", headers={"Authorization": "Bearer board"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Testshire: children in care" in response.text
    assert "<svg" in response.text
    assert client.get("/board").status_code == 401


def test_metrics_pass_promtool_and_carry_no_hidden_figure(engine: Engine) -> None:
    registry = CollectorRegistry()
    settings = Settings(board_population_0_17=40_000)
    registry.register(BoardCollector(latest_snapshot(engine, settings)))
    text = generate_latest(registry).decode()
    checked = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    summary = store.summary_on(engine, AS_OF, 5, 40_000)
    assert summary is not None
    for indicator, entry in summary["indicators"].items():
        line = f'carewatch_board_indicator_value{{indicator="{indicator}"}}'
        assert (line in text) == (not entry["suppressed"] and entry["value"] is not None), indicator
        assert f'carewatch_board_indicator_suppressed{{indicator="{indicator}"}} {float(entry["suppressed"])}' in text
    assert 'carewatch_board_indicator_value{indicator="cla-count"}' in text
    assert "c000" not in text  # no child id anywhere


def test_metrics_before_any_snapshot_export_no_values(postgres_url: str) -> None:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    registry = CollectorRegistry()
    registry.register(BoardCollector(latest_snapshot(engine, Settings())))
    text = generate_latest(registry).decode()
    engine.dispose()
    assert "carewatch_board_indicator_value{" not in text


def test_a_browser_not_signed_in_is_sent_to_sign_in_and_an_api_client_gets_json(engine: Engine) -> None:
    """The board pack's address in a bookmark or an e-mail: a browser that is not (or no longer) signed in
    lands on the sign-in page; a client without a token, or with a bad one, still gets the JSON refusal."""
    from services.alerts.app import create_app
    from services.alerts.auth import require_board_reader

    settings = Settings(board_population_0_17=40_000, auth_max_failures=1000)
    app = create_app(settings, engine, extra_routers=[build_router(engine, settings, require_board_reader)])
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    with TestClient(app) as client:
        page = client.get("/board", headers=browser, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        gone = {**browser, "Cookie": "carewatch_session=cws_gone"}
        expired = client.get("/board", headers=gone, follow_redirects=False)
        assert expired.status_code == 303 and expired.headers["location"] == "/login"
        api = client.get("/board", follow_redirects=False)
        assert api.status_code == 401 and api.json() == {"detail": "sign in or send a valid bearer token"}
        bad = client.get("/board", headers={**browser, "Authorization": "Bearer cw_wrong"}, follow_redirects=False)
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        summary = client.get("/v1/board/summary", headers=browser, follow_redirects=False)
        assert summary.status_code == 401  # the API stays an API
