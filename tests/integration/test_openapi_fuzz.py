"""schemathesis against both services' OpenAPI, served by uvicorn on the real PostgreSQL and broker.

Bounded (a seeded, few-thousand-case run; no shrinking) so it fits in CI; every check schemathesis has is on:
no 500, every status and body as documented, schema-valid requests accepted, invalid ones rejected.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr

from carewatch.broker import free_port
from carewatch.db import make_engine, migrate, session_factory
from carewatch.settings import Settings
from schemas.alerts import AlertTransition, fingerprint
from services.alerts.app import create_app
from services.alerts.auth import BOARD_DATA_ROLES, add_user, audit_writer, require_board_data, require_board_reader
from services.alerts.store import apply_transitions
from services.alerts.web import today
from services.board.web import DataAccess, build_router
from services.ingest.app import create_app as create_ingest_app
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MAX_EXAMPLES = 60
"""Per operation in the fuzzing phase. The coverage phase (every boundary of every parameter) runs for the
admin on the alerts service; with the manager and on ingest (whose event schema alone gives it some 2,400
coverage cases, a minute here) fuzzing only, so the three runs stay near two minutes and ~1,300 requests."""


@contextmanager
def served(app: object) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def fuzz(
    base: str,
    token: str,
    tmp_path: Path,
    name: str,
    *,
    phases: str = "examples,coverage,fuzzing",
    examples: int = MAX_EXAMPLES,
    excluded: tuple[str, ...] = (),
) -> tuple[int, str]:
    """Run schemathesis; returns (exit status, output)."""
    exclude = ["--exclude-checks", ",".join(excluded)] if excluded else []
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            *exclude,
            "--max-examples",
            str(examples),
            "--seed",
            "14",
            "--no-shrink",
            "--generation-database",
            "none",
            "--phases",
            phases,
            "--request-timeout",
            "30",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(tmp_path / f"{name}.ndjson"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    print("\n".join(line for line in output.splitlines() if re.search(r"generated|\(in [0-9.]+s\)", line)))
    return run.returncode, output


def cases_in(output: str) -> int:
    found = re.search(r"(\d+) generated", output) or re.search(r"(\d+) test cases", output)
    return int(found.group(1)) if found else 0


@pytest.fixture
def alerts_service(postgres_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    with session_factory(engine).begin() as session:
        tokens = {
            "admin": add_user(session, "admin", "admin", [], NOW),
            "manager": add_user(session, "mgr-north", "manager", ["north"], NOW),
        }
        transitions = [
            AlertTransition(
                fingerprint=fingerprint("pep-overdue", f"FZ{i}"),
                rule="pep-overdue",
                child_id=f"FZ{i}",
                state="raised",
                at=today() - timedelta(days=i),
                severity="high",
                summary="No PEP",
                dates={"deadline": today() - timedelta(days=i)},
                team="north",
            )
            for i in range(10)
        ]
        apply_transitions(session, transitions, NOW)
    settings = Settings(auth_max_failures=1_000_000)
    access = DataAccess(require_board_data, frozenset(BOARD_DATA_ROLES), audit_writer(engine))
    board = build_router(engine, settings, require_board_reader, access)
    with served(create_app(settings, engine, extra_routers=[board])) as base:
        yield base, tokens
    engine.dispose()


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_alerts_openapi_holds_under_schemathesis(
    alerts_service: tuple[str, dict[str, str]], who: str, tmp_path: Path
) -> None:
    base, tokens = alerts_service
    if who == "admin":
        status, output = fuzz(base, tokens[who], tmp_path, who)
    else:
        status, output = fuzz(base, tokens[who], tmp_path, who, phases="examples,fuzzing", examples=50)
    assert status == 0, output[-6000:]
    assert cases_in(output) >= 250, output[-3000:]


def test_ingest_openapi_holds_under_schemathesis(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, ingest_tokens=[SecretStr("fuzz")], auth_max_failures=1_000_000)
    producer = IngestProducer(kafka_bootstrap)
    try:
        with served(create_ingest_app(settings, producer)) as base:
            # By contract an invalid event is not a failed request: it is answered 200 with its reasons in
            # the item's result and kept on the dead-letter topic, so "invalid body → 4xx" does not apply.
            status, output = fuzz(
                base,
                "fuzz",
                tmp_path,
                "ingest",
                phases="examples,fuzzing",
                examples=150,
                excluded=("negative_data_rejection",),
            )
    finally:
        producer.close()
    assert status == 0, output[-6000:]
    assert cases_in(output) >= 100, output[-3000:]
