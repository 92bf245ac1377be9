"""`carewatch users rotate`: a new token, the old one and the user's page sessions revoked, the change audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from carewatch.db import make_engine, session_factory
from carewatch.settings import Settings
from services.alerts.app import create_app
from services.alerts.models import AuditLog

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_database(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from carewatch.settings import get_settings

    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    yield postgres_url
    get_settings.cache_clear()


def test_rotate_issues_a_new_token_and_revokes_the_old(cli_database: str) -> None:
    from carewatch.cli import app

    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "svc-feed", "--role", "admin"])
    assert added.exit_code == 0, added.output
    old = added.stdout.strip().splitlines()[0]
    engine = make_engine(cli_database)
    try:
        with TestClient(create_app(Settings(), engine)) as client:
            signed = client.post("/login", data={"token": old}, follow_redirects=False)
            assert signed.status_code == 303
            page_cookie = {"Cookie": f"carewatch_session={signed.cookies['carewatch_session']}"}
            client.cookies.clear()
            assert client.get("/alerts", headers=page_cookie, follow_redirects=False).status_code == 200

            rotated = runner.invoke(app, ["users", "rotate", "svc-feed"])
            assert rotated.exit_code == 0, rotated.output
            new = rotated.stdout.strip().splitlines()[0]
            assert new.startswith("cw_") and new != old

            assert client.get("/v1/alerts", headers={"Authorization": f"Bearer {old}"}).status_code == 401
            assert client.get("/v1/alerts", headers={"Authorization": f"Bearer {new}"}).status_code == 200
            # The page session begun with the old token has ended too.
            assert client.get("/alerts", headers=page_cookie, follow_redirects=False).status_code == 303
        with session_factory(engine)() as session:
            [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "rotate-token"))
        assert entry.target == "user:svc-feed" and entry.actor.startswith("cli")
        assert entry.detail == {"tokens_revoked": 1, "sessions_ended": 1}
        assert entry.at <= datetime.now(UTC)
        assert old not in str(entry.detail) and new not in str(entry.detail)
    finally:
        engine.dispose()


def test_rotate_refuses_unknown_and_revoked_users(cli_database: str) -> None:
    from carewatch.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["users", "rotate", "nobody"])
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output
    assert runner.invoke(app, ["users", "add", "gone", "--role", "board"]).exit_code == 0
    assert runner.invoke(app, ["users", "revoke", "gone"]).exit_code == 0
    revoked = runner.invoke(app, ["users", "rotate", "gone"])
    assert revoked.exit_code == 2 and "revoked" in revoked.output
