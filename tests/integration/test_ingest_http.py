"""POST /v1/events against a real broker: topics, dead letters, limits, auth, broker failure, metrics."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import SecretStr

from carewatch.broker import EmbeddedBroker, ensure_topics, free_port, read_topic
from carewatch.httpguard import OUTAGE_RETRY_AFTER_SECONDS
from carewatch.settings import Settings
from carewatch.testing.samples import good_event, good_line
from schemas import topics
from schemas.dead_letters import parse_dead_letter
from schemas.events import event_to_json, parse_event
from services.ingest.app import create_app
from services.ingest.cli import serve
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration

TOKEN = "s3cret-ingest-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAD_SCORE = {**good_event(2), "event_id": "bad-score", "score": 99}
NOT_AN_EVENT = [1, 2]
UNKNOWN_TYPE = {**good_event(3), "event_id": "bad-type", "type": "tea.drunk"}


def make_client(bootstrap: str, *, ack_timeout_s: float = 30.0, **overrides: Any) -> tuple[TestClient, IngestProducer]:
    settings = Settings(kafka_bootstrap=bootstrap, ingest_tokens=[SecretStr(TOKEN)], **overrides)
    producer = IngestProducer(bootstrap, ack_timeout_s=ack_timeout_s)
    return TestClient(create_app(settings, producer)), producer


@pytest.fixture
def fresh_client(fresh_broker: str) -> Iterator[TestClient]:
    client, producer = make_client(fresh_broker)
    with client:
        yield client
    producer.close()


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(record.value) for record in records]


def test_mixed_array_batch_lands_on_topic_and_dead_letter_topic(fresh_client: TestClient, fresh_broker: str) -> None:
    good = [good_event(n) for n in range(6)]
    batch = [good[0], BAD_SCORE, good[1], good[2], NOT_AN_EVENT, good[3], good[4], good[1], UNKNOWN_TYPE, good[5]]
    response = fresh_client.post("/v1/events", json=batch, headers=AUTH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (10, 6, 4)
    statuses = [(result["index"], result["status"]) for result in body["results"]]
    assert [index for index, status in statuses if status == "rejected"] == [1, 4, 7, 8]
    assert body["results"][0] == {"index": 0, "status": "accepted", "event_id": "ev-00000000"}
    assert body["results"][1]["errors"] == [{"path": "$.score", "message": "Input should be less than or equal to 40"}]
    assert body["results"][7]["errors"][0]["path"] == "$.event_id"

    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 6)
    assert len(events) == 6
    by_id = {orjson.loads(record.value)["event_id"]: record for record in events}
    assert set(by_id) == {event["event_id"] for event in good}
    for event in good:
        record = by_id[event["event_id"]]
        assert record.key == event["child_id"].encode()
        written = orjson.loads(record.value)
        assert written.pop("recorded_at")  # filled with the receive time when the sender left it out
        expected = event_to_json(parse_event(event, received_at=None))
        expected.pop("recorded_at", None)
        assert written == expected

    dead_records = read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 4)
    letters = [parse_dead_letter(record.value) for record in dead_records]  # every record keeps the contract
    assert {letter.source.kind for letter in letters} == {"http"}
    dead = values(dead_records)
    assert sorted(letter["source"]["index"] for letter in dead) == [1, 4, 7, 8]
    by_index = {letter["source"]["index"]: letter for letter in dead}
    assert orjson.loads(base64.b64decode(by_index[1]["original_base64"])) == BAD_SCORE
    assert by_index[1]["reason"] == "validation"
    assert by_index[4]["reason"] == "json"
    assert by_index[7]["reason"] == "duplicate"
    assert by_index[8]["errors"][0]["path"] == "$.type"
    assert len({letter["source"]["request_id"] for letter in dead}) == 1


def test_ndjson_and_single_object_forms(fresh_client: TestClient, fresh_broker: str) -> None:
    lines = [good_line(10), b'{"event_id": "half', good_line(11)]
    ndjson = fresh_client.post(
        "/v1/events", content=b"\n".join(lines) + b"\n", headers={**AUTH, "Content-Type": "application/x-ndjson"}
    )
    assert ndjson.status_code == 200, ndjson.text
    assert [r["status"] for r in ndjson.json()["results"]] == ["accepted", "rejected", "accepted"]

    single = fresh_client.post("/v1/events", json=good_event(12), headers=AUTH)
    assert single.json() == {
        "received": 1,
        "accepted": 1,
        "rejected": 0,
        "results": [{"index": 0, "status": "accepted", "event_id": "ev-00000012"}],
    }
    single_bad = fresh_client.post("/v1/events", json=BAD_SCORE, headers=AUTH)
    assert single_bad.status_code == 200
    assert single_bad.json()["rejected"] == 1

    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 3)
    assert sorted(v["event_id"] for v in values(events)) == ["ev-00000010", "ev-00000011", "ev-00000012"]
    dead = values(read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 2))
    assert sorted(letter["original_text"] for letter in dead) == sorted(
        ['{"event_id": "half', orjson.dumps(BAD_SCORE).decode()]
    )


def test_a_body_that_is_not_json_is_kept_whole_and_answered_400(fresh_client: TestClient, fresh_broker: str) -> None:
    response = fresh_client.post("/v1/events", content=b"<xml/>", headers={**AUTH, "Content-Type": "text/xml"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert response.json()["rejected"] == 1
    [letter] = values(read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 1))
    assert letter["original_text"] == "<xml/>"
    empty = fresh_client.post("/v1/events", content=b"", headers=AUTH)
    assert empty.status_code == 400
    assert "empty" in empty.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)
def test_requests_without_a_valid_token_get_401(kafka_bootstrap: str, headers: dict[str, str]) -> None:
    client, producer = make_client(kafka_bootstrap)
    with client:
        response = client.post("/v1/events", json=good_event(1), headers=headers)
    producer.close()
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "bearer token" in response.json()["detail"]


def test_no_configured_tokens_means_no_access(kafka_bootstrap: str) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    producer = IngestProducer(kafka_bootstrap)
    with TestClient(create_app(settings, producer)) as client:
        assert client.post("/v1/events", json=good_event(1), headers={"Authorization": "Bearer "}).status_code == 401
    producer.close()


def test_oversized_requests_get_413_and_write_nothing(fresh_broker: str) -> None:
    client, producer = make_client(fresh_broker, ingest_max_body_bytes=2048, ingest_max_batch_items=3)
    big_array = [good_event(n) for n in range(30)]
    with client:
        too_big = client.post("/v1/events", json=big_array, headers=AUTH)
        assert too_big.status_code == 413
        assert "larger than 2048 bytes" in too_big.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
            for n in range(30):
                yield good_line(n) + b"\n"

        streamed = client.post("/v1/events", content=chunks(), headers={**AUTH, "Content-Type": "application/x-ndjson"})
        assert streamed.status_code == 413
        assert "content-length" not in streamed.request.headers

        too_many = client.post("/v1/events", json=[good_event(n) for n in range(4)], headers=AUTH)
        assert too_many.status_code == 413
        assert "4 items in one request; at most 3" in too_many.json()["detail"]
        too_many_lines = client.post(
            "/v1/events", content=b"\n".join([good_line(1), b"junk", b"junk", b"junk"]), headers=AUTH
        )
        assert too_many_lines.status_code == 413

        # a sentinel batch afterwards: once it is read back, nothing else can be on either topic
        sentinel = client.post("/v1/events", json=[good_event(99), BAD_SCORE], headers=AUTH)
        assert sentinel.json()["accepted"] == 1
    producer.close()
    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 1)
    assert [v["event_id"] for v in values(events)] == ["ev-00000099"]
    dead = read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 1)
    assert [v["source"]["index"] for v in values(dead)] == [1]


def test_a_broker_that_stops_answering_gives_503_and_unhealthy() -> None:
    # The broker is frozen (SIGSTOP), not killed: a hung broker is the harder case (nothing is refused,
    # acknowledgements just never come), and kafka-python 3 leaks the socket of every refused connect.
    broker = EmbeddedBroker().start()
    assert broker.process is not None
    try:
        ensure_topics(broker.bootstrap, partitions=2)
        client, producer = make_client(broker.bootstrap, ack_timeout_s=3.0)
        with client:
            assert client.get("/healthz").json() == {"status": "ok", "detail": "ok"}
            assert client.post("/v1/events", json=good_event(1), headers=AUTH).status_code == 200
            broker.process.send_signal(signal.SIGSTOP)
            try:
                response = client.post("/v1/events", json=[good_event(2), BAD_SCORE], headers=AUTH)
                health = client.get("/healthz")
            finally:
                broker.process.send_signal(signal.SIGCONT)
            assert response.status_code == 503
            assert "resend the whole batch" in response.json()["detail"]
            assert response.headers["Retry-After"]
            assert health.status_code == 503
            assert health.json()["status"] == "unavailable"
            registry = client.app.state.metrics.registry  # type: ignore[attr-defined]
            assert registry.get_sample_value("carewatch_ingest_publish_failures_total") == 1
            assert registry.get_sample_value("carewatch_ingest_events_accepted_total", {"type": "sdq.recorded"}) == 0
            assert registry.get_sample_value("carewatch_ingest_http_requests_total", {"code": "503"}) == 1
        producer.close()
    finally:
        broker.stop()


def test_metrics_count_items_and_pass_promtool(fresh_client: TestClient) -> None:
    fresh_client.post("/v1/events", json=[good_event(2), BAD_SCORE, NOT_AN_EVENT, good_event(2)], headers=AUTH)
    fresh_client.post("/v1/events", json=good_event(1))  # 401
    scrape = fresh_client.get("/metrics")
    assert scrape.status_code == 200
    registry = fresh_client.app.state.metrics.registry  # type: ignore[attr-defined]

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("carewatch_ingest_events_received_total", type="sdq.recorded") == 3
    assert sample("carewatch_ingest_events_received_total", type="unknown") == 1
    assert sample("carewatch_ingest_events_accepted_total", type="sdq.recorded") == 1
    assert sample("carewatch_ingest_events_rejected_total", type="sdq.recorded", reason="validation") == 1
    assert sample("carewatch_ingest_events_rejected_total", type="sdq.recorded", reason="duplicate") == 1
    assert sample("carewatch_ingest_events_rejected_total", type="unknown", reason="json") == 1
    assert sample("carewatch_ingest_http_requests_total", code="200") == 1
    assert sample("carewatch_ingest_http_requests_total", code="401") == 1
    assert sample("carewatch_ingest_request_seconds_count") == 2
    assert "child-" not in scrape.text  # no child id ever becomes a label
    assert "process_resident_memory_bytes" in scrape.text  # process metrics on every service

    check = subprocess.run(["promtool", "check", "metrics"], input=scrape.content, capture_output=True, check=False)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert check.stdout.strip() == b"" and check.stderr.strip() == b"", "promtool reported lint problems"


def test_carewatch_serve_ingest_runs_the_service_on_uvicorn(fresh_broker: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CAREWATCH_KAFKA_BOOTSTRAP": fresh_broker,
        "CAREWATCH_INGEST_PORT": str(port),
        "CAREWATCH_INGEST_TOKENS": f'["{TOKEN}"]',
        "CAREWATCH_INGEST_MAX_BODY_BYTES": "4096",
    }
    carewatch = str(Path(sys.executable).with_name("carewatch"))
    server = subprocess.Popen([carewatch, "serve", "ingest"], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        body = b"\n".join([good_line(1), b"not json"])
        response = httpx.post(
            f"{url}/v1/events", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"}
        )
        assert response.json()["accepted"] == 1
        streamed = httpx.post(
            f"{url}/v1/events",
            content=iter([good_line(2) + b"\n"] * 40),
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
        )
        assert streamed.status_code == 413
        assert "carewatch_ingest_events_accepted_total" in httpx.get(f"{url}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()
    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 1)
    assert [orjson.loads(record.value)["event_id"] for record in events] == ["ev-00000001"]


def test_serve_without_a_broker_says_how_to_configure_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREWATCH_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(typer.Exit) as exit_info:
        serve(Settings())
    assert exit_info.value.exit_code == 2


def test_an_item_too_large_for_a_dead_letter_refuses_the_whole_batch(fresh_broker: str) -> None:
    """A 0.5 MiB rejected item would make a dead letter over the broker's 1 MiB limit: the batch is refused
    with 413 before anything, even its valid events, is written (before, the client got an incurable 503)."""
    client, producer = make_client(fresh_broker)
    huge = {**good_event(5), "event_id": "huge", "source": "x" * (512 * 1024)}
    with client:
        mixed = client.post("/v1/events", json=[good_event(1), huge, good_event(2)], headers=AUTH)
        assert mixed.status_code == 413
        assert "item 1 is" in mixed.json()["detail"]
        assert "at most 65536 bytes (CAREWATCH_INGEST_MAX_ITEM_BYTES)" in mixed.json()["detail"]
        assert "Nothing of this request was written" in mixed.json()["detail"]
        lines = b"\n".join([good_line(3), orjson.dumps(huge)])
        as_ndjson = client.post("/v1/events", content=lines, headers={**AUTH, "Content-Type": "application/x-ndjson"})
        assert as_ndjson.status_code == 413
        not_json = client.post("/v1/events", content=b"{" + b"x" * (300 * 1024), headers=AUTH)
        assert not_json.status_code == 413
        assert "too large to keep" in not_json.json()["detail"]
        sentinel = client.post("/v1/events", json=[good_event(99), BAD_SCORE], headers=AUTH)
        assert sentinel.json()["accepted"] == 1
    producer.close()
    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 1)
    assert [v["event_id"] for v in values(events)] == ["ev-00000099"]
    dead = read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 1)
    assert [v["source"]["index"] for v in values(dead)] == [1]


def test_accepted_events_are_archived_before_the_answer_and_a_database_outage_is_a_503(
    fresh_broker: str, postgres_url: str
) -> None:
    from sqlalchemy import create_engine, text

    from carewatch.db import make_engine, migrate
    from services.archive import store as archive

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    settings = Settings(kafka_bootstrap=fresh_broker, ingest_tokens=[SecretStr(TOKEN)])
    producer = IngestProducer(fresh_broker)
    client = TestClient(
        create_app(
            settings, producer, archive=lambda events, at, payloads: archive.append(engine, events, at, payloads)
        )
    )
    base, _, name = postgres_url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with client:
            first = client.post("/v1/events", json=[good_event(1), BAD_SCORE, good_event(2)], headers=AUTH)
            assert first.json()["accepted"] == 2
            archived = list(archive.read_since(engine))
            assert [a.event.event_id for a in archived] == ["ev-00000001", "ev-00000002"]
            assert all(a.received_at.tzinfo is not None for a in archived)
            # A client resending the batch (after a lost answer) adds nothing to the archive.
            assert client.post("/v1/events", json=[good_event(1), good_event(2)], headers=AUTH).status_code == 200
            assert archive.count(engine) == 2

            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(
                    text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
                )
            down = client.post("/v1/events", json=[good_event(3)], headers=AUTH)
            assert down.status_code == 503
            assert down.headers["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
            assert "the event archive did not store this batch" in down.json()["detail"]
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            again = client.post("/v1/events", json=[good_event(3), good_event(4)], headers=AUTH)
            assert again.json()["accepted"] == 2
    finally:
        producer.close()
        admin.dispose()
    assert [a.event.event_id for a in archive.read_since(engine)] == [f"ev-0000000{n}" for n in range(1, 5)]
    engine.dispose()
    # Nothing of the refused batch reached the topic before it was archived: ev-3 is there once, from the resend.
    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 6)
    assert sorted(v["event_id"] for v in values(events)) == sorted(
        ["ev-00000001", "ev-00000002", "ev-00000001", "ev-00000002", "ev-00000003", "ev-00000004"]
    )
