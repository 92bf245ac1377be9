"""The board's data features through the alerts app, on SQLite and PostgreSQL: the Annex A download (roles,
audit, the workbook read back), the return-health panel and gauges, and the early-warning SPC charts from
the event archive."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from carewatch.testing.synthetic import authority
from schemas.events import parse_event
from services.alerts.app import create_app
from services.alerts.auth import BOARD_DATA_ROLES, add_user, audit_writer, require_board_data, require_board_reader
from services.alerts.models import AuditLog
from services.archive import store as archive
from services.board import store
from services.board.core.annex_a import annex_a
from services.board.metrics import ReturnHealthCollector
from services.board.replay import snapshots
from services.board.web import DataAccess, build_router
from tests.unit.test_annex_a import events as annex_events

pytestmark = pytest.mark.integration

AS_OF = date(2025, 9, 30)
NOW = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
ROLES = {"board": "board", "manager": "manager", "admin": "admin", "analyst": "board-data", "bot": "ingest"}


@dataclass
class World:
    engine: Engine
    client: TestClient
    tokens: dict[str, str]

    def get(self, who: str | None, path: str, **params: str) -> Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path, params=params, headers=headers)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    migrate(database_url)
    engine = make_engine(database_url)
    tokens = {}
    with session_factory(engine).begin() as session:
        for name, role in ROLES.items():
            tokens[name] = add_user(session, name, role, ["north"] if role == "manager" else [], NOW)
    history = [parse_event(raw, received_at=None) for raw in authority(120, 7, date(2021, 1, 1), AS_OF)]
    history += annex_events()
    archive.append(engine, history, NOW)
    store.save(engine, snapshots(history, [date(2025, 3, 31), AS_OF]))
    settings = Settings(board_population_0_17=30_000, board_authority_name="Testshire", auth_max_failures=1000)
    access = DataAccess(require_board_data, frozenset(BOARD_DATA_ROLES), audit_writer(engine))
    app = create_app(
        settings,
        engine,
        extra_routers=[build_router(engine, settings, require_board_reader, access)],
        extra_collectors=[ReturnHealthCollector(lambda: store.latest_return_health(engine))],
    )
    with TestClient(app) as client:
        yield World(engine, client, tokens)
    engine.dispose()


def downloads(engine: Engine) -> list[AuditLog]:
    with session_factory(engine)() as session:
        query = select(AuditLog).where(AuditLog.action == "download").order_by(AuditLog.id)
        return list(session.scalars(query))


def test_only_admin_and_board_data_download_annex_a_and_each_download_is_audited(world: World) -> None:
    path = "/board/annex-a.xlsx"
    expected = {None: 401, "board": 403, "manager": 403, "bot": 403, "admin": 200, "analyst": 200}
    got = {who: world.get(who, path, as_of="2025-09-30").status_code for who in expected}
    assert got == expected
    entries = downloads(world.engine)
    assert [(e.actor, e.target) for e in entries] == [("admin", "annex-a"), ("analyst", "annex-a")]
    assert entries[0].detail["as_of"] == "2025-09-30" and entries[0].detail["months"] == 6
    world.get("analyst", path, as_of="2025-09-30", months="3")
    assert downloads(world.engine)[-1].detail["months"] == 3
    assert world.get("analyst", path).status_code == 422
    assert world.get("analyst", path, as_of="2025-09-30", months="0").status_code == 422
    for bad in ("0001-01-01", "0", "2025-13-01", "9999-01-01"):
        assert world.get("analyst", path, as_of=bad).status_code == 422, bad
    assert world.get("analyst", path, as_of="2025-09-30", months="25").status_code == 422
    assert len(downloads(world.engine)) == 3  # refused and invalid requests download nothing


def test_the_annex_a_workbook_reads_back_as_the_lists_of_the_archive(world: World) -> None:
    response = world.get("analyst", "/board/annex-a.xlsx", as_of="2025-09-30")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="annex-a-2025-09-30.xlsx"' in response.headers["content-disposition"]
    workbook = load_workbook(BytesIO(response.content))
    lists = annex_a(archive.events_in_fold_order(world.engine), AS_OF, period_months=6)
    assert workbook.sheetnames == [annex_list.title[:31] for annex_list in lists]
    for annex_list in lists:
        sheet = workbook[annex_list.title[:31]]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(annex_list.columns)
        assert len(rows) - 1 == len(annex_list.rows)
    referrals = [row for row in workbook.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert "r-in" in {row[0] for row in referrals} and "r-out" not in {row[0] for row in referrals}
    assert downloads(world.engine)[-1].detail["rows"] == {a.title: len(a.rows) for a in lists}


def test_the_board_page_links_to_the_download_only_for_those_who_may_use_it(world: World) -> None:
    for who, linked in (("analyst", True), ("admin", True), ("board", False), ("manager", False)):
        page = world.get(who, "/board")
        assert page.status_code == 200, who
        assert ('href="/board/annex-a.xlsx?as_of=2025-09-30"' in page.text) is linked, who


def test_board_data_users_come_from_the_users_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.cli import app
    from carewatch.settings import get_settings

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        added = CliRunner().invoke(app, ["users", "add", "ana", "--role", "board-data"])
        assert added.exit_code == 0, added.output
        assert "ana\tboard-data\t" in CliRunner().invoke(app, ["users", "list"]).stdout
    finally:
        get_settings.cache_clear()


def scrape(world: World) -> str:
    text = world.client.get("/metrics").text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == check.stderr.strip() == "", check.stdout + check.stderr
    return text


def test_return_health_on_the_page_and_as_gauges(world: World) -> None:
    page = world.get("board", "/board").text
    assert "The return has not been checked yet" in page
    assert "\ncarewatch_board_return_health_validator_available " not in scrape(world)

    missing = store.ReturnHealth(NOW, AS_OF, 2026, False, ".venv-oracle/bin/python not found", ())
    store.save_return_health(world.engine, missing)
    page = world.get("board", "/board").text
    assert 'id="return-health-unavailable"' in page and ".venv-oracle/bin/python not found" in page
    assert "would fail the DfE checks today" not in page  # no count shown, not even 0
    text = scrape(world)
    assert "carewatch_board_return_health_validator_available 0.0" in text
    assert "\ncarewatch_board_return_health_failing_records{" not in text
    assert "\ncarewatch_board_return_health_failing_records_all_rules " not in text

    rules = (("440", 3, "Participation code PN0 is for children under 4."), ("101", 1, "Sex is not valid."))
    store.save_return_health(world.engine, store.ReturnHealth(NOW, AS_OF, 2026, True, "", rules))
    page = world.get("board", "/board").text
    assert "Records that would fail the DfE checks today: <strong>4</strong>" in page
    assert "2025/26 SSDA903 return as if made on 30 September 2025" in page
    assert page.index('<th scope="row">440</th>') < page.index('<th scope="row">101</th>')
    text = scrape(world)
    assert 'carewatch_board_return_health_failing_records{rule="440"} 3.0' in text
    assert 'carewatch_board_return_health_failing_records{rule="101"} 1.0' in text
    assert "carewatch_board_return_health_failing_records_all_rules 4.0" in text
    assert "carewatch_board_return_health_validator_available 1.0" in text
    assert "r-in" not in text and "child" not in text


def test_return_health_command_stores_a_missing_validator_as_unknown(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from carewatch.cli import app
    from carewatch.settings import get_settings

    migrate(database_url)
    engine = make_engine(database_url)
    archive.append(engine, annex_events(), NOW)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        args = ["return-health", "--as-of", "2025-09-30", "--store", "--validator-python", str(tmp_path / "python")]
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 2 and "make oracle" in done.output
        assert "events read from the event archive" in done.output
        stored = store.latest_return_health(engine)
        assert stored is not None and not stored.available and stored.total is None
        assert stored.as_of == AS_OF and stored.collection_year == 2026 and "make oracle" in stored.detail
    finally:
        get_settings.cache_clear()
        engine.dispose()


def test_the_board_page_shows_the_early_warning_charts_of_the_archive(world: World) -> None:
    page = world.get("board", "/board").text
    assert "Early warning: statistical process control" in page
    assert page.count('<figure class="spc"') >= 2
    assert 'data-indicator="entered-care-month"' in page
    assert page.count('class="spc-reading"') == page.count('<figure class="spc"')
    assert "<script" not in page


def test_collector_exports_nothing_before_a_check() -> None:
    registry = CollectorRegistry()
    registry.register(ReturnHealthCollector(lambda: None))
    text = generate_latest(registry).decode()
    assert "carewatch_board_return_health_validator_available" in text  # the family is declared
    assert "\ncarewatch_board_return_health_validator_available 0" not in text  # but no value claimed


def test_the_board_migrations_equal_the_models(database_url: str) -> None:
    from typing import Any

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from carewatch.db import Base

    board_tables = {"board_indicator_snapshot", "board_return_health_run", "board_return_health_rule"}
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:

            def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
                table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
                return table in board_tables

            context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert board_tables <= set(conn.dialect.get_table_names(conn))
    finally:
        engine.dispose()


def test_annex_a_command_reads_the_event_archive_when_no_file_is_given(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from carewatch.cli import app
    from carewatch.settings import get_settings

    migrate(database_url)
    engine = make_engine(database_url)
    archive.append(engine, annex_events(), NOW)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "annex.xlsx"
        done = CliRunner().invoke(app, ["annex-a", "--as-of", "2025-09-30", "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert f"{len(annex_events())} events read from the event archive" in done.output
        lists = annex_a(archive.events_in_fold_order(engine), AS_OF, period_months=6)
        workbook = load_workbook(out)
        for annex_list in lists:
            assert workbook[annex_list.title[:31]].max_row - 1 == len(annex_list.rows)
        assert sum(len(a.rows) for a in lists) > 5
    finally:
        get_settings.cache_clear()
        engine.dispose()
