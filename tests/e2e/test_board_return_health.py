"""Return health stored from the event archive with the DfE validator, shown on the board and exported as
gauges (PostgreSQL and SQLite)."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carewatch.cli import app
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings, get_settings
from schemas.events import parse_event
from services.alerts.app import create_app
from services.alerts.auth import add_user, require_board_reader
from services.archive import store as archive
from services.board import store
from services.board.metrics import ReturnHealthCollector
from services.board.replay import snapshots
from services.board.web import build_router
from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.health import return_health
from services.ingest.ssda903.source import read_return
from services.ingest.ssda903.validator import run_validator
from tests.e2e.test_ssda903_dfe_validator import oracle_python  # noqa: F401  (the validator, created once)
from tests.unit import ssda903_support as support

pytestmark = pytest.mark.e2e
AS_OF = date(2020, 1, 15)
NOW = datetime(2020, 1, 16, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    returns = support.generate(60, 2019, 2020, seed=5)
    base = tmp_path_factory.mktemp("returns")
    directories = {year: support.write_return(tables, base / str(year)) for year, tables in returns.items()}
    result = convert_returns([(y, [r for f in read_return(d) for r in f.rows]) for y, d in directories.items()])
    defect = {"event_id": "t-review", "type": "review.held", "child_id": result.events[0]["child_id"],
              "occurred_at": "2020-01-10", "source": "test", "participation": "PN0"}  # fmt: skip
    return [*result.events, defect]


def test_the_stored_check_is_the_validators_and_reaches_the_board(
    oracle_python: Path,  # noqa: F811
    history: list[dict[str, Any]],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    events = [parse_event(raw, received_at=None) for raw in history]
    archive.append(engine, events, NOW)
    store.save(engine, snapshots(events, [AS_OF]))
    with session_factory(engine).begin() as session:
        token = add_user(session, "member", "board", [], NOW)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        args = ["return-health", "--as-of", AS_OF.isoformat(), "--store", "--validator-python", str(oracle_python)]
        done = CliRunner().invoke(app, args)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    expected = return_health(history, AS_OF, lambda d, y: run_validator(oracle_python, d, y))
    stored = store.latest_return_health(engine)
    assert stored is not None and stored.available
    assert list(stored.rules) == expected
    assert ("440" in {rule for rule, _, _ in expected}) and stored.total == sum(n for _, n, _ in expected) > 0

    settings = Settings(board_authority_name="Testshire")
    web = create_app(
        settings,
        engine,
        extra_routers=[build_router(engine, settings, require_board_reader)],
        extra_collectors=[ReturnHealthCollector(lambda: store.latest_return_health(engine))],
    )
    with TestClient(web) as client:
        page = client.get("/board", headers={"Authorization": f"Bearer {token}"}).text
        metrics = client.get("/metrics").text
    engine.dispose()
    assert f"Records that would fail the DfE checks today: <strong>{stored.total}</strong>" in page
    for rule, count, _ in expected:
        assert f'<tr><th scope="row">{rule}</th><td class="num">{count}</td>' in page
        assert f'carewatch_board_return_health_failing_records{{rule="{rule}"}} {float(count)}' in metrics
    check = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == check.stderr.strip() == "", check.stdout + check.stderr
