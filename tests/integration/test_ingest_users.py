"""Ingest accepts `carewatch users` tokens with the ingest role when a database is configured."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from services.alerts.auth import add_user, revoke_user
from services.ingest.cli import authorizer

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_user_store_tokens_with_the_ingest_role_are_accepted(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    with session_factory(engine).begin() as session:
        feeder = add_user(session, "lcs-feed", "ingest", [], NOW)
        manager = add_user(session, "sam", "manager", ["north"], NOW)
        retired = add_user(session, "old-feed", "ingest", [], NOW)
        revoke_user(session, "old-feed", NOW)
    try:
        authorize = authorizer(Settings(ingest_tokens=[SecretStr("from-settings")]), engine)
        assert authorize(feeder)
        assert authorize("from-settings")
        assert not authorize(manager)  # a manager may read alerts, not write events
        assert not authorize(retired)
        assert not authorize("cw_made_up")
    finally:
        engine.dispose()


def test_without_a_database_only_settings_tokens_count() -> None:
    authorize = authorizer(Settings(ingest_tokens=[SecretStr("from-settings")]), None)
    assert authorize("from-settings")
    assert not authorize("anything-else")
