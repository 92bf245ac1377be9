"""``carewatch ingest FILE...`` against a real broker: exact counts, reject files, topics, exit codes."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from carewatch.broker import EmbeddedBroker, ensure_topics, read_topic
from carewatch.cli import app
from carewatch.db import make_engine
from carewatch.settings import get_settings
from carewatch.testing.samples import BAD_LINES, DUPLICATE, good_line, mixed_lines
from schemas import topics
from services.archive import store as archive
from services.ingest.files import EventFile
from services.ingest.loader import LoadInterrupted, RejectLog, load_file
from services.ingest.producer import IngestProducer

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_configured_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("CAREWATCH_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("CAREWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path / "data"))  # the event archive's SQLite file
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["ingest", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ten_thousand_lines_with_five_percent_bad(fresh_broker: str, tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    bad_lines: dict[int, str] = {}
    good_ids: set[str] = set()
    with path.open("wb") as handle:
        for number, (line, kind) in enumerate(mixed_lines(10_000, bad_every=20), start=1):
            handle.write(line + b"\n")
            if kind is None:
                good_ids.add(orjson.loads(line)["event_id"])
            else:
                bad_lines[number] = kind
    assert len(bad_lines) == 500
    assert set(bad_lines.values()) == {*BAD_LINES, DUPLICATE}

    code, out, _ = run(str(path), "--bootstrap", fresh_broker, "--batch-size", "700")

    assert code == 1  # rejects without --allow-rejects
    assert out.splitlines()[-1] == "received 10000 = accepted 9500 + rejected 500"
    reject_path = tmp_path / "events.ndjson.rejects.ndjson"
    assert f"written to {reject_path}" in out
    rejects = [orjson.loads(line) for line in reject_path.read_bytes().splitlines()]
    assert [reject["line"] for reject in rejects] == sorted(bad_lines)
    assert all(reject["file"] == str(path) and reject["errors"] for reject in rejects)
    lines = path.read_bytes().splitlines()
    assert all(reject["original"] == lines[reject["line"] - 1].decode("utf-8", "replace") for reject in rejects)
    assert {reject["reason"] for reject in rejects} == {"json", "validation", "duplicate"}
    duplicates = [reject["line"] for reject in rejects if reject["reason"] == "duplicate"]
    assert duplicates == [line for line, kind in sorted(bad_lines.items()) if kind == DUPLICATE]

    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 9500, timeout_s=60)
    assert len(events) == 9500
    assert {orjson.loads(record.value)["event_id"] for record in events} == good_ids
    assert all(record.key == orjson.loads(record.value)["child_id"].encode() for record in events)
    dead = read_topic(fresh_broker, topics.CASE_EVENTS_DLQ, lambda records: len(records) >= 500)
    assert sorted(orjson.loads(record.value)["source"]["line"] for record in dead) == sorted(bad_lines)

    # Every accepted line is in the event archive (SQLite on the embedded default), none rejected.
    engine = make_engine(get_settings().database.sqlalchemy_url())
    try:
        assert {archived.event.event_id for archived in archive.read_since(engine)} == good_ids
        assert archive.count(engine) == 9500
    finally:
        engine.dispose()


def test_csv_file_and_allow_rejects(fresh_broker: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "type,event_id,child_id,occurred_at,score,seen_alone,distance_miles,placement_type,legal_status\n"
        "sdq.recorded,c1,kid-1,2024-03-01,17,,,,\n"
        "visit.completed,c2,kid-1,2024-03-02,,true,,,\n"
        "placement.started,c3,kid-2,2024-03-03,,,12.5,U1,\n"
        "sdq.recorded,c4,kid-2,2024-03-04,41,,,,\n"
        "legal_status.changed,c5,kid-2,2024-03-05,,,,,ZZ\n"
        "sdq.recorded,c6,kid-3\n"
        "\n"
        "visit.completed,c7,kid-3,2024-03-06,,0,,,\n"
    )
    reject_path = tmp_path / "out" / "rejected.ndjson"
    reject_path.parent.mkdir()

    code, out, _ = run(str(path), "--bootstrap", fresh_broker, "--allow-rejects", "--reject-file", str(reject_path))

    assert code == 0
    assert out.splitlines()[-1] == "received 7 = accepted 4 + rejected 3"
    rejects = [orjson.loads(line) for line in reject_path.read_bytes().splitlines()]
    assert [(r["line"], r["errors"][0]["path"]) for r in rejects] == [(5, "$.score"), (6, "$.legal_status"), (7, "$")]
    assert rejects[2]["original"] == "sdq.recorded,c6,kid-3"
    events = read_topic(fresh_broker, topics.CASE_EVENTS, lambda records: len(records) >= 4)
    by_id = {orjson.loads(record.value)["event_id"]: orjson.loads(record.value) for record in events}
    assert sorted(by_id) == ["c1", "c2", "c3", "c7"]
    assert by_id["c1"]["score"] == 17
    assert by_id["c2"]["seen_alone"] is True
    assert by_id["c3"]["distance_miles"] == 12.5
    assert by_id["c7"]["seen_alone"] is False


def test_several_files_each_get_counts_and_a_clean_file_leaves_no_reject_file(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(good_line(n) for n in range(5)) + b"\n")
    dirty = tmp_path / "dirty.ndjson"
    dirty.write_bytes(good_line(7) + b"\n" + b"{oops\n")

    code, out, _ = run(str(clean), str(dirty), "--bootstrap", kafka_bootstrap)

    assert code == 1
    assert f"{clean}: received 5 = accepted 5 + rejected 0" in out
    assert f"{dirty}: received 2 = accepted 1 + rejected 1" in out
    assert out.splitlines()[-1] == "received 7 = accepted 6 + rejected 1"
    assert not (tmp_path / "clean.jsonl.rejects.ndjson").exists()
    assert (tmp_path / "dirty.ndjson.rejects.ndjson").exists()


def test_without_a_broker_the_command_says_how_to_point_at_one(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(good_line(1) + b"\n")
    code, _, err = run(str(path))
    assert code == 2
    assert "--bootstrap HOST:PORT" in err
    assert "CAREWATCH_KAFKA_BOOTSTRAP" in err


def test_bad_paths_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    text = tmp_path / "events.txt"
    text.write_text("{}")
    code, _, err = run(str(text), "--bootstrap", "127.0.0.1:1")
    assert code == 2
    assert "unsupported file type '.txt'" in err
    code, _, err = run(str(tmp_path / "missing.ndjson"), "--bootstrap", "127.0.0.1:1")
    assert code == 2
    assert "no such file" in err


def test_a_broker_failure_mid_file_says_which_lines_are_written(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(good_line(n) + b"\n" for n in range(25)))
    broker = EmbeddedBroker().start()
    assert broker.process is not None
    try:
        ensure_topics(broker.bootstrap, partitions=2)
        producer = IngestProducer(broker.bootstrap, ack_timeout_s=2.0)
        frozen = False

        def freeze_after_first_batch(_bytes_read: int) -> None:
            nonlocal frozen
            if not frozen and broker.process is not None:
                broker.process.send_signal(signal.SIGSTOP)  # frozen, not killed: see test_ingest_http
                frozen = True

        try:
            with pytest.raises(LoadInterrupted) as interrupted:
                load_file(
                    EventFile(path),
                    producer,
                    RejectLog(tmp_path / "r.ndjson"),
                    batch_size=10,
                    on_progress=freeze_after_first_batch,
                )
        finally:
            broker.process.send_signal(signal.SIGCONT)
        producer.close()
    finally:
        broker.stop()
    assert interrupted.value.confirmed_through == 10
    assert "Lines up to 10 are written" in str(interrupted.value)
    assert "Run the same command again" in str(interrupted.value)


def test_file_loads_are_counted_in_the_metrics_file(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics_file = tmp_path / "ingest.prom"
    monkeypatch.setenv("CAREWATCH_INGEST_METRICS_FILE", str(metrics_file))
    get_settings.cache_clear()
    first = tmp_path / "first.ndjson"
    first.write_bytes(b"\n".join(good_line(n) for n in range(100, 103)) + b"\n")
    second = tmp_path / "second.ndjson"
    second.write_bytes(good_line(103) + b"\n" + b"{oops\n")

    code, _, _ = run(str(first), str(second), "--bootstrap", kafka_bootstrap)

    assert code == 1
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics_file.read_text(encoding="utf-8"))
        for sample in family.samples
    }
    assert samples[("carewatch_ingest_file_loads_total", (("outcome", "done"),))] == 2
    assert samples[("carewatch_ingest_file_loads_total", (("outcome", "interrupted"),))] == 0
    accepted = sum(v for (name, _), v in samples.items() if name == "carewatch_ingest_events_accepted_total")
    assert accepted == 4
    assert samples[("carewatch_ingest_events_rejected_total", (("reason", "json"), ("type", "unknown")))] == 1
    assert samples[("carewatch_ingest_last_file_load_timestamp_seconds", ())] > 0
    assert ("process_resident_memory_bytes", ()) in samples
