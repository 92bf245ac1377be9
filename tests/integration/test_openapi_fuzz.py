"""schemathesis against both services' OpenAPI, served by uvicorn on the real PostgreSQL and broker.

Bounded (seeded, some 7,300 cases over three runs; no shrinking) so it fits in CI; every check schemathesis has is on:
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
ALERTS_EXAMPLES = {"admin": 60, "manager": 50}
INGEST_EXAMPLES = 150
"""Per operation in the fuzzing phase; every run also has the coverage phase (every boundary of every
parameter and body field, valid and invalid). Seeded, one worker: about 1,100 cases as the admin and 1,000 as
a manager on the alerts service, and 5,200 on ingest (its event schema alone gives some 5,000 coverage cases):
some 7,300 in all, under four minutes for the three runs on a loaded two-core machine."""
MIN_CASES = {"admin": 950, "manager": 850, "ingest": 4_500}
"""What each run must at least generate (a run that stops generating is a failure, not a pass)."""


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
            "--workers",
            "1",
            "--continue-on-failure",
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
    status, output = fuzz(base, tokens[who], tmp_path, who, examples=ALERTS_EXAMPLES[who])
    assert status == 0, output[-6000:]
    assert cases_in(output) >= MIN_CASES[who], output[-3000:]


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
                examples=INGEST_EXAMPLES,
                excluded=("negative_data_rejection",),
            )
    finally:
        producer.close()
    assert status == 0, output[-6000:]
    assert cases_in(output) >= MIN_CASES["ingest"], output[-3000:]
