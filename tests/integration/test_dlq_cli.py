"""``carewatch dlq list|replay`` on a real broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from carewatch.broker import read_to_end
from carewatch.cli import app as cli
from carewatch.db import make_engine, migrate
from carewatch.settings import Settings, get_settings
from carewatch.testing.samples import good_event, good_line
from schemas import topics
from schemas.alerts import AlertTransition
from schemas.dead_letters import from_record, to_bytes
from services.archive import store as archive
from services.ingest.app import create_app
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration

TOKEN = "dlq-test-token"
BAD_SCORE = {**good_event(2), "event_id": "bad-score", "score": 99}
TRANSITION = AlertTransition.model_validate(
    {
        "fingerprint": "f" * 64,
        "rule": "visit-overdue",
        "child_id": "child-0042",
        "state": "raised",
        "at": "2025-02-03",
        "severity": "medium",
        "summary": "Visit overdue",
        "team": "north",
    }
)


@pytest.fixture
def database(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    migrate(postgres_url)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    yield postgres_url
    get_settings.cache_clear()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["dlq", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def letter_ids(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines() if line.startswith(("events:", "alerts:", "board:"))]


def test_list_hides_child_ids_and_replay_resubmits_after_a_fix(fresh_broker: str, database: str) -> None:
    engine = make_engine(database)
    producer = IngestProducer(fresh_broker)
    settings = Settings(kafka_bootstrap=fresh_broker, ingest_tokens=[SecretStr(TOKEN)])
    app = create_app(
        settings, producer, archive=lambda events, at, payloads: archive.append(engine, events, at, payloads)
    )
    with TestClient(app) as client:
        response = client.post(
            "/v1/events", json=[good_event(1), BAD_SCORE], headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.json()["rejected"] == 1
    # A case event the rules worker could not take (published with the wrong key by a faulty producer),
    # and an alert transition the alerts service could not store: as those stages dead-letter them.
    now = datetime.now(UTC)
    wrong_key = from_record(
        stage="rules",
        topic=topics.CASE_EVENTS,
        partition=2,
        offset=17,
        key=b"someone-else",
        value=good_line(7),
        reason="key",
        message="key is not the child id",
        received_at=now,
        event_type="review.held",
    )
    refused = from_record(
        stage="alerts",
        topic=topics.ALERTS,
        partition=1,
        offset=4,
        key=b"child-0042",
        value=TRANSITION.model_dump_json().encode(),
        reason="store",
        message="the database refused it: DataError",
        received_at=now,
    )
    producer.publish_raw(topics.CASE_EVENTS_DLQ, [(wrong_key.key(), to_bytes(wrong_key))])
    producer.publish_raw(topics.ALERTS_DLQ, [(refused.key(), to_bytes(refused))])
    producer.close()

    listed = run("list", "--bootstrap", fresh_broker)
    assert len(letter_ids(listed)) == 3
    assert "3 dead letters" in listed
    assert "child-" not in listed and "someone-else" not in listed  # no child id unless asked
    assert "validation" in listed and "$.score" in listed
    assert f"rules {topics.CASE_EVENTS}[2]@17" in listed and f"alerts {topics.ALERTS}[1]@4" in listed
    shown = run("list", "--bootstrap", fresh_broker, "--show-child-ids", "--stage", "ingest")
    assert f"child={BAD_SCORE['child_id']}" in shown and "1 dead letters" in shown

    dry = run("replay", "--bootstrap", fresh_broker, "--topic", "events", "--all", "--dry-run")
    assert "would replay 1 of 2: 1 case events accepted, 1 still rejected" in dry
    assert "still rejected: $.score" in dry
    replayed = run("replay", "--bootstrap", fresh_broker, "--topic", "events", "--all")
    assert "replayed 1 of 2" in replayed
    [alert_id] = letter_ids(run("list", "--bootstrap", fresh_broker, "--topic", "alerts"))
    assert "1 records re-published" in run("replay", "--bootstrap", fresh_broker, alert_id)

    events = [orjson.loads(r.value) | {"key": r.key} for r in read_to_end(fresh_broker, topics.CASE_EVENTS)]
    assert sorted(e["event_id"] for e in events) == ["ev-00000001", "ev-00000007"]
    fixed = next(e for e in events if e["event_id"] == "ev-00000007")
    assert fixed["key"] == fixed["child_id"].encode()  # keyed by the child again
    assert {a.event.event_id for a in archive.read_since(engine)} == {"ev-00000001", "ev-00000007"}
    [alert] = read_to_end(fresh_broker, topics.ALERTS)
    assert AlertTransition.model_validate_json(alert.value) == TRANSITION and alert.key == b"child-0042"
    # Nothing was dead-lettered again by the replay.
    assert len(letter_ids(run("list", "--bootstrap", fresh_broker))) == 3
    engine.dispose()
