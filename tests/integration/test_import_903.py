"""``carewatch import-903`` on the shared fake return: exact counts worked out here with the csv module, and
the events delivered to a real broker."""

from __future__ import annotations

import csv
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from carewatch.cli import app
from schemas import codes
from schemas.events import parse_event
from schemas.topics import CASE_EVENTS

YEAR = 2018


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def counts(report: Path) -> dict[tuple[str, str], dict[str, int]]:
    result = {}
    for line in report.read_text().splitlines():
        record = orjson.loads(line)
        if record["kind"] == "count":
            result[(record["file"], record["table"])] = {
                key: record[key] for key in ("read", "converted", "rejected", "skipped", "events", "problems")
            }
    return result


@pytest.fixture(scope="module")
def imported(ssda903_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("import")
    events, report = out / "events.ndjson", out / "report.ndjson"
    result = CliRunner().invoke(
        app,
        [
            "import-903",
            str(ssda903_fixtures),
            "--year",
            str(YEAR),
            "--out",
            str(events),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    return events, report


def ended_without_date(rec: str, dec: str) -> bool:
    """An episode that says care ended (REC other than X1) but gives no DEC: cannot be expressed."""
    return rec not in ("", "X1") and dec == ""


def problems(report: Path, file: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in report.read_text().splitlines():
        record = orjson.loads(line)
        if record["kind"] == "problem" and record["file"] == file:
            found[record["rule"]] += 1
    return found


def test_episodes_csv_counts(ssda903_fixtures: Path, imported: tuple[Path, Path]) -> None:
    rows = csv_rows(ssda903_fixtures / "episodes.csv")
    # every field of this fake file is well-formed (codes from the union lists, dates dd/mm/YYYY, ages under
    # 18): nothing is rejected; an ending without a date (REC but no DEC, DfE rule 148) is reported and the
    # episode taken as open, as the DfE counts do
    found = counts(imported[1])[("episodes.csv", "episodes")]
    assert {k: found[k] for k in ("read", "converted", "rejected", "skipped")} == {
        "read": 5050, "converted": 5050, "rejected": 0, "skipped": 0,
    }  # fmt: skip
    assert problems(imported[1], "episodes.csv")["148"] == sum(r["REC"] != "" and r["DEC"] == "" for r in rows)
    assert sum(ended_without_date(r["REC"], r["DEC"]) for r in rows) == 353


def test_other_csv_tables_counts(ssda903_fixtures: Path, imported: tuple[Path, Path]) -> None:
    found = counts(imported[1])
    reviews = csv_rows(ssda903_fixtures / "reviews.csv")
    # a repeated (child, date) is the same review: skipped when the participation code is the same too,
    # rejected as contradicting the first when it differs
    first: dict[tuple[str, str], str] = {}
    skipped = rejected = 0
    for r in reviews:
        key = (r["CHILD"], r["REVIEW"])
        if key not in first:
            first[key] = r["REVIEW_CODE"]
        elif first[key] == r["REVIEW_CODE"]:
            skipped += 1
        else:
            rejected += 1
    distinct = len(first)
    assert found[("reviews.csv", "reviews")] == {
        "read": len(reviews), "converted": distinct, "rejected": rejected, "skipped": skipped,
        "events": distinct, "problems": 0,
    }  # fmt: skip

    oc2 = csv_rows(ssda903_fixtures / "oc2.csv")
    scored = sum(r["SDQ_SCORE"] != "" for r in oc2)
    items = [c for c in oc2[0] if c not in {"CHILD", "DOB", "SDQ_SCORE"}]
    with_items = sum(any(r[c] != "" for c in items) for r in oc2)
    assert found[("oc2.csv", "oc2")] == {
        "read": len(oc2), "converted": len(oc2), "rejected": 0, "skipped": 0, "events": scored + with_items,
        "problems": 0,
    }  # fmt: skip

    def oc3_ok(r: dict[str, str]) -> bool:
        born = date(*reversed([int(p) for p in r["DOB"].split("/")]))
        age = YEAR - born.year if (born.month, born.day) <= (3, 31) else YEAR - 1 - born.year
        return (
            r["ACTIV"] in {"", "F1", "P1", "F2", "P2", "F3", "P3", "G4", "G5", "G6", "0"}  # the 2017/18 list
            and r["ACCOM"] in {"", *codes.ACCOMMODATION}
            and 17 <= age <= 25
        )

    oc3 = csv_rows(ssda903_fixtures / "oc3.csv")
    good = sum(oc3_ok(r) for r in oc3)
    assert found[("oc3.csv", "oc3")] == {
        "read": 53, "converted": good, "rejected": 53 - good, "skipped": 0, "events": good, "problems": 0,
    }  # fmt: skip
    assert good == 47

    missing = csv_rows(ssda903_fixtures / "missing.csv")
    assert found[("missing.csv", "missing")] == {
        "read": 43, "converted": 43, "rejected": 0, "skipped": 0,
        "events": 43 + sum(r["MIS_END"] != "" for r in missing), "problems": 0,
    }  # fmt: skip
    for name, table in (("header.csv", "header"), ("uasc.csv", "uasc"), ("ad1.csv", "ad1"),
                        ("placed_for_adoption.csv", "placed_for_adoption"),
                        ("previous_permanence.csv", "previous_permanence")):  # fmt: skip
        n = len(csv_rows(ssda903_fixtures / name))
        assert {k: v for k, v in found[(name, table)].items() if k != "problems"} == {
            "read": n, "converted": 0, "rejected": 0, "skipped": n, "events": 0,
        }  # fmt: skip
    workers = csv_rows(ssda903_fixtures / "sw_episodes.csv")
    valid = sum(r["SW_REASON"] in {"", *codes.SW_CHANGE_REASON} for r in workers)
    assert found[("sw_episodes.csv", "sw_episodes")] == {
        "read": 1, "converted": valid, "rejected": 1 - valid, "skipped": 0, "events": valid, "problems": 0,
    }  # fmt: skip
    assert valid == 0  # SW_REASON 'SWLAZY' is not a DfE code


def test_xml_counts(ssda903_fixtures: Path, imported: tuple[Path, Path]) -> None:
    root = ET.parse(ssda903_fixtures / "fake_903.xml").getroot()
    episodes = root.findall("CHILD/EPISODE")
    undated = sum((e.findtext("REC") or "") != "" and (e.findtext("DEC") or "") == "" for e in episodes)
    found = counts(imported[1])
    assert found[("fake_903.xml", "episodes")]["read"] == len(episodes) == 459
    assert found[("fake_903.xml", "episodes")]["rejected"] == 0
    assert found[("fake_903.xml", "episodes")]["converted"] == len(episodes)
    assert problems(imported[1], "fake_903.xml")["148"] == undated > 0
    assert found[("fake_903.xml", "reviews")]["converted"] == len(root.findall("CHILD/HEADER/AREVIEW")) == 1206
    oc2 = root.findall("CHILD/HEADER/OC2")
    assert found[("fake_903.xml", "oc2")]["converted"] == sum(any((e.text or "").strip() for e in o) for o in oc2)
    assert found[("fake_903.xml", "oc2")]["events"] == len(root.findall("CHILD/HEADER/OC2/SDQ_SCORE")) + sum(
        any((e.text or "").strip() for e in o if e.tag not in {"SDQ_SCORE", "CHILD", "DOB"}) for o in oc2
    )
    assert found[("fake_903.xml", "uasc")]["read"] == sum(e.text == "1" for e in root.iter("UASC"))
    assert found[("fake_903.xml", "header")]["skipped"] == len(root.findall("CHILD")) == 253


def test_every_row_is_accounted_for_and_every_event_validates(imported: tuple[Path, Path]) -> None:
    events_path, report_path = imported
    records = [orjson.loads(line) for line in report_path.read_text().splitlines()]
    tallies = [r for r in records if r["kind"] == "count"]
    for tally in tallies:
        assert tally["read"] == tally["converted"] + tally["rejected"] + tally["skipped"]
    not_converted = Counter((r["file"], r["table"], r["status"]) for r in records if r["kind"] == "row")
    for tally in tallies:
        for status in ("rejected", "skipped"):
            assert not_converted[(tally["file"], tally["table"], status)] == tally[status]
    assert all(r.get("reason") for r in records if r["kind"] == "row")
    lines = events_path.read_bytes().splitlines()
    assert len(lines) == sum(t["events"] for t in tallies)
    for line in lines:
        parse_event(line, received_at=None)


def test_importing_twice_gives_identical_output(
    ssda903_fixtures: Path, imported: tuple[Path, Path], tmp_path: Path
) -> None:
    again = tmp_path / "again.ndjson"
    result = CliRunner().invoke(app, ["import-903", str(ssda903_fixtures), "--year", str(YEAR), "--out", str(again)])
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == imported[0].read_bytes()


@pytest.mark.integration
def test_events_reach_the_broker_keyed_by_child(ssda903_fixtures: Path, fresh_broker: str, tmp_path: Path) -> None:
    subset = tmp_path / "return"
    subset.mkdir()
    for name in ("header.csv", "missing.csv", "oc3.csv"):
        (subset / name).write_bytes((ssda903_fixtures / name).read_bytes())
    result = CliRunner().invoke(app, ["import-903", str(subset), "--year", str(YEAR), "--bootstrap", fresh_broker])
    assert result.exit_code == 0, result.output
    expected = 43 + sum(r["MIS_END"] != "" for r in csv_rows(subset / "missing.csv")) + 47

    consumer = KafkaConsumer(bootstrap_servers=fresh_broker, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(CASE_EVENTS, p) for p in consumer.partitions_for_topic(CASE_EVENTS) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = []
        deadline = time.monotonic() + 30
        while len(received) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received.extend(batch)
        for batch in consumer.poll(timeout_ms=1000).values():  # nothing beyond the expected events
            received.extend(batch)
    finally:
        consumer.close()
    assert len(received) == expected
    for message in received:
        event = parse_event(message.value, received_at=None)
        assert message.key == event.child_id.encode()
    assert {parse_event(m.value, received_at=None).type for m in received} == {
        "missing.started", "missing.ended", "care_leaver.contact",
    }  # fmt: skip
