"""The Children in Need census import: every item accounted for, per-item errors with the XML path,
hostile XML refused, and the events it makes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from schemas.events import parse_event
from services.ingest.cin.convert import convert
from services.ingest.cin.source import CensusRefused, read_census
from tests.support.cin_census import to_xml, upn, valid_return


def write(tmp_path: Path, data: bytes, name: str = "cin.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_upn_check_letter() -> None:
    # body 201 25 000001 0 weighted 2..13: 2*2 + 1*4 + 2*5 + 5*6 + 1*12 = 60; 60 mod 23 = 14
    # -> "Q" (the letters A-Z without I, O, S)
    assert upn("201", 2025, 1) == "Q201250000010"


def test_valid_return_converts_every_item_and_reconciles(tmp_path: Path) -> None:
    census = read_census(write(tmp_path, to_xml(valid_return(), 2025)))
    result = convert(census, 2025)
    statuses = Counter((o.table, o.status) for o in result.outcomes)
    assert not [o for o in result.outcomes if o.status == "rejected"]
    assert {table for table, status in statuses if status == "skipped"} == {"ChildIdentifiers", "ChildCharacteristics"}
    assert all(t.reconciles for t in result.tallies())
    assert sum(t.read for t in result.tallies()) == len(census.items)
    # 12 children: 3 NFA (referral, outcome, closure), 3 CIN plan (referral, 2 assessment, plan),
    # 3 closed after assessment (referral, closure, 2 assessment), 3 child protection (referral, closure,
    # 2 assessment, s47, icpc, plan start, plan end, review)
    assert len(result.events) == 3 * 3 + 3 * 4 + 3 * 4 + 3 * 9
    types = Counter(e["type"] for e in result.events)
    assert types["cp_plan.started"] == types["icpc.held"] == types["cp_review.held"] == 3
    for event in result.events:
        parse_event(event, received_at=None)
    assert [e["occurred_at"] for e in result.events] == sorted(e["occurred_at"] for e in result.events)


def test_the_plan_starting_at_the_conference_is_linked() -> None:
    kids = valid_return(children=4)
    census_events = convert(_census(kids), 2025).events
    icpc = next(e for e in census_events if e["type"] == "icpc.held")
    plan = next(e for e in census_events if e["type"] == "cp_plan.started")
    assert icpc["plan_decided"] is True and icpc["occurred_at"] == plan["occurred_at"]
    assert plan["category"] == "NEG" and plan["previous_plans"] == 0
    closed_after_assessment = [e for e in census_events if e["type"] == "assessment.completed"]
    assert {e["child_in_need"] for e in closed_after_assessment} == {True, False}


def _census(kids: list, year: int = 2025):  # type: ignore[no-untyped-def,type-arg]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return read_census(write(Path(folder), to_xml(kids, year)))


def test_bad_items_are_rejected_with_their_xml_path_and_element() -> None:
    kids = valid_return(children=4)
    kids[0].episodes[0].source = "99"
    plan = kids[2].episodes[0].cpps[0]
    plan.end = plan.start
    kids[1].episodes[0].assessments[0][2].append("18A")
    result = convert(_census(kids), 2025)
    rejected = {(o.locator, o.field): o.reason for o in result.outcomes if o.status == "rejected"}
    assert set(rejected) == {
        ("/Message/Children/Child[1]/CINdetails[1]", "ReferralSource"),
        ("/Message/Children/Child[3]/CINdetails[1]/ChildProtectionPlans[1]", "CPPendDate"),
        ("/Message/Children/Child[2]/CINdetails[1]/Assessments[1]", "AssessmentFactors"),
    }
    assert (
        "unknown referral source code '99'" in rejected[("/Message/Children/Child[1]/CINdetails[1]", "ReferralSource")]
    )
    assert all(t.reconciles for t in result.tallies())


def test_items_of_a_rejected_child_or_episode_are_rejected_too() -> None:
    kids = valid_return(children=4)
    kids[2].la_child_id = "has-hyphen"
    kids[1].episodes[0].referral = None  # type: ignore[assignment]
    result = convert(_census(kids), 2025)
    by_child = Counter((o.row, o.status) for o in result.outcomes)
    assert by_child[(3, "converted")] == 0
    assert by_child[(3, "rejected")] >= 5
    episode_items = [o for o in result.outcomes if o.row == 2 and o.table in {"Assessments", "CINPlanDates"}]
    assert episode_items and all(o.status == "rejected" and "CINdetails" in (o.reason or "") for o in episode_items)
    assert not any(e["child_id"] == "has-hyphen" for e in result.events)


def test_dates_after_the_collection_year_are_rejected() -> None:
    kids = valid_return(children=4)
    kids[0].episodes[0].cin_plans[0] = (date(2025, 4, 1), None)
    result = convert(_census(kids), 2025)
    (bad,) = [o for o in result.outcomes if o.status == "rejected"]
    assert bad.table == "CINPlanDates" and bad.field == "CINPlanStartDate"


def test_unknown_elements_are_counted_and_rejected(tmp_path: Path) -> None:
    xml = to_xml(valid_return(children=1), 2025).replace(b"</CINdetails>", b"<Pet><Name>Rex</Name></Pet></CINdetails>")
    result = convert(read_census(write(tmp_path, xml)), 2025)
    (odd,) = [o for o in result.outcomes if o.table == "unrecognised"]
    assert odd.status == "rejected" and odd.locator == "/Message/Children/Child[1]/CINdetails[1]/Pet[1]"


def test_importing_twice_gives_the_same_event_ids(tmp_path: Path) -> None:
    path = write(tmp_path, to_xml(valid_return(), 2025))
    first = [e["event_id"] for e in convert(read_census(path), 2025).events]
    assert first == [e["event_id"] for e in convert(read_census(path), 2025).events]
    assert len(set(first)) == len(first)


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b"<Message><Children><Child><ChildIdentifiers><LAchildID>&lol2;</LAchildID></ChildIdentifiers></Child>"
    b"</Children></Message>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<Message><Children><Child><ChildIdentifiers><LAchildID>&xxe;</LAchildID></ChildIdentifiers></Child>"
    b"</Children></Message>",
    "bare DTD": b'<?xml version="1.0"?><!DOCTYPE Message SYSTEM "http://example.invalid/cin.dtd"><Message/>',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(CensusRefused, match="refused unsafe XML"):
        read_census(write(tmp_path, HOSTILE[name]))


def test_malformed_or_foreign_xml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CensusRefused, match="not well-formed"):
        read_census(write(tmp_path, b"<Message><Children>"))
    with pytest.raises(CensusRefused, match="not the census"):
        read_census(write(tmp_path, b"<EXPSSDA903/>"))


def test_command_line_writes_ndjson_counts_and_report(tmp_path: Path) -> None:
    path = write(tmp_path, to_xml(valid_return(children=4), 2025))
    report = tmp_path / "report.ndjson"
    result = CliRunner().invoke(app, ["import-cin", str(path), "--year", "2025", "--report", str(report)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(events) == 1 * 3 + 1 * 4 + 1 * 4 + 1 * 9
    counts = [json.loads(line) for line in report.read_text().splitlines()]
    totals = [c for c in counts if c["kind"] == "count"]
    assert sum(c["read"] for c in totals) == sum(c["converted"] + c["rejected"] + c["skipped"] for c in totals)
    assert "total" in result.stderr


def test_command_line_refuses_hostile_xml(tmp_path: Path) -> None:
    path = write(tmp_path, HOSTILE["billion laughs"])
    result = CliRunner().invoke(app, ["import-cin", str(path), "--year", "2025"])
    assert result.exit_code == 2
    assert "refused unsafe XML" in result.stderr


def test_older_returns_gender_current_and_day_month_year_dates(tmp_path: Path) -> None:
    xml = (
        to_xml(valid_return(children=1), 2025)
        .replace(b"<Sex>M</Sex>", b"<GenderCurrent>1</GenderCurrent>")
        .replace(b"<Sex>F</Sex>", b"<GenderCurrent>2</GenderCurrent>")
    )
    kid = valid_return(children=1)[0]
    xml = xml.replace(
        f"<CINreferralDate>{kid.episodes[0].referral.isoformat()}".encode(),
        f"<CINreferralDate>{kid.episodes[0].referral.strftime('%d/%m/%Y')}".encode(),
    )
    result = convert(read_census(write(tmp_path, xml)), 2025)
    referral = next(e for e in result.events if e["type"] == "referral.received")
    assert referral["sex"] == kid.sex  # GenderCurrent 1 -> M, 2 -> F
    assert referral["occurred_at"] == kid.episodes[0].referral.isoformat()
    assert not [o for o in result.outcomes if o.status == "rejected"]


def test_the_referral_source_and_the_sending_system_travel_apart() -> None:
    kids = valid_return(children=1)
    referral = next(e for e in convert(_census(kids), 2025).events if e["type"] == "referral.received")
    assert referral["source"] == "cin-census"  # the envelope: the sending system
    assert referral["referral_source"] == kids[0].episodes[0].source
    event = parse_event(referral, received_at=None)
    assert (event.source, getattr(event, "referral_source")) == ("cin-census", kids[0].episodes[0].source)  # noqa: B009
