"""Fixtures shared by every test: the real broker (Tansu) and real databases (PostgreSQL, SQLite)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from carewatch.broker import EmbeddedBroker, ensure_topics

POSTGRES_ADMIN_URL = os.environ.get(
    "CAREWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DIR = Path(__file__).resolve().parent.parent / "shared"

# The same commit gets the same verdict: property tests draw the same examples on every run (CI included).
# `CAREWATCH_HYPOTHESIS_PROFILE=explore make test` draws new ones, to look for counterexamples before a change
# lands; a counterexample found that way becomes an explicit `@example` beside its test.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("CAREWATCH_HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A running Kafka-API broker with the carewatch topics: CAREWATCH_KAFKA_BOOTSTRAP, else embedded Tansu."""
    external = os.environ.get("CAREWATCH_KAFKA_BOOTSTRAP")
    if external:
        ensure_topics(external, partitions=8)
        yield external
        return
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=8)
        yield broker.bootstrap


@pytest.fixture
def fresh_broker() -> Iterator[str]:
    """A broker of the test's own, for tests that must see empty topics."""
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=4)
        yield broker.bootstrap


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"carewatch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'carewatch.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
def ssda903_fixtures() -> Path:
    path = SHARED_DIR / "fixtures" / "ssda903"
    if not path.is_dir():
        pytest.fail(f"SSDA903 fixtures not found at {path}: ../shared must sit beside the repository")
    return path
