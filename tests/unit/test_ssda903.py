"""SSDA903 import on hand-made tiny returns: each mapping and each rejection reason."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from schemas.events import parse_event
from services.ingest.ssda903 import tables
from services.ingest.ssda903.convert import ImportResult, RowOutcome, convert
from services.ingest.ssda903.source import read_return

HEADER = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
EPISODES = list(tables.EPISODES.columns)


def write(directory: Path, name: str, columns: list[str], rows: list[dict[str, str]]) -> None:
    with (directory / name).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def episode(**fields: str) -> dict[str, str]:
    base = {"CHILD": "C1", "DECOM": "01/05/2017", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4",
            "PLACE_PROVIDER": "PR1", "DEC": "", "REC": "", "REASON_PLACE_CHANGE": ""}  # fmt: skip
    return base | fields


def run(directory: Path, year: int = 2018) -> ImportResult:
    files = read_return(directory)
    return convert([row for source in files for row in source.rows], year)


def events_of(result: ImportResult, kind: str) -> list[dict[str, Any]]:
    return [event for event in result.events if event["type"] == kind]


def only(result: ImportResult, table: str) -> RowOutcome:
    outcomes = [outcome for outcome in result.outcomes if outcome.table == table]
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


@pytest.fixture
def with_header(tmp_path: Path) -> Path:
    write(tmp_path, "children.csv", HEADER, [{"CHILD": "C1", "SEX": "2", "DOB": "10/02/2010", "ETHNIC": "WBRI"}])
    return tmp_path


def test_a_period_of_care_maps_to_start_placements_legal_change_and_end(with_header: Path) -> None:
    write(with_header, "eps.csv", EPISODES, [
        episode(DEC="01/08/2017", REC="X1", REASON_PLACE_CHANGE="CREQB"),
        episode(DECOM="01/08/2017", RNE="P", PLACE="K2", PLACE_PROVIDER="PR4", DEC="01/10/2017", REC="X1"),
        episode(DECOM="01/10/2017", RNE="L", LS="E1", PLACE="K2", DEC="15/12/2017", REC="X1"),
        episode(DECOM="15/12/2017", RNE="B", LS="C2", PLACE="P1", PLACE_PROVIDER="PR0", DEC="01/03/2018",
                REC="E4A"),
    ])  # fmt: skip
    result = run(with_header)
    started = events_of(result, "care.started")
    assert [(e["occurred_at"], e["date_of_birth"], e["sex"], e["legal_status"], e["uasc"]) for e in started] == [
        ("2017-05-01", "2010-02-10", "F", "C2", False)  # legacy SEX 2 → F
    ]
    assert "team" not in started[0]
    placements = events_of(result, "placement.started")
    assert [
        (e["occurred_at"], e["placement_type"], e.get("provider"), e.get("reason_for_change")) for e in placements
    ] == [
        ("2017-05-01", "U4", "PR1", None),  # first placement of the period: no reason
        ("2017-08-01", "K2", "PR4", "CREQB"),  # the reason recorded on the episode that ended
        ("2017-12-15", "P1", "PR0", None),
    ]
    assert [(e["occurred_at"], e["legal_status"]) for e in events_of(result, "legal_status.changed")] == [
        ("2017-10-01", "E1"),
        ("2017-12-15", "C2"),
    ]
    assert [(e["occurred_at"], e["reason"]) for e in events_of(result, "care.ended")] == [("2018-03-01", "E4A")]
    assert all(e["source"] == "ssda903" for e in result.events)
    for event in result.events:
        parse_event(event, received_at=None)
    dates = [e["occurred_at"] for e in result.events]
    assert dates == sorted(dates)
    assert result.events[0]["type"] == "care.started"


def test_uasc_table_sets_the_flag_until_status_ceased(with_header: Path) -> None:
    write(
        with_header,
        "u.csv",
        ["CHILD", "SEX", "DOB", "DUC"],
        [{"CHILD": "C1", "SEX": "2", "DOB": "10/02/2010", "DUC": "01/01/2020"}],
    )
    write(with_header, "eps.csv", EPISODES, [episode(DEC="01/08/2017", REC="E13"), episode(DECOM="01/02/2020")])
    result = run(with_header)
    assert [e["uasc"] for e in events_of(result, "care.started")] == [True, False]
    assert only(result, "uasc").status == "skipped"


@pytest.mark.parametrize(
    ("fields", "field", "reason_part"),
    [
        ({"CHILD": "Jane Smith"}, "CHILD", "pseudonymous"),
        ({"DECOM": "2017/05/01"}, "DECOM", "not a date"),
        ({"DECOM": "31/02/2017"}, "DECOM", "no such date"),
        ({"RNE": "Q"}, "RNE", "unknown RNE"),
        ({"LS": "W1"}, "LS", "legal status"),
        ({"PLACE": "Q1"}, "PLACE", "placement type"),
        ({"PLACE_PROVIDER": "PR9"}, "PLACE_PROVIDER", "placement provider"),
        ({"REC": "E99", "DEC": "01/06/2017"}, "REC", "unknown REC"),
        ({"DEC": "01/06/2017"}, "REC", "no REC"),
        ({"DEC": "01/04/2017", "REC": "E4A"}, "DEC", "before DECOM"),
        ({"REASON_PLACE_CHANGE": "LIIAF"}, "REASON_PLACE_CHANGE", "unknown"),
        ({"DECOM": "10/02/2028"}, "DOB", "18th birthday"),
        ({"DECOM": "01/01/2009"}, "DOB", "date_of_birth is after"),
    ],
)
def test_episode_rejections_name_the_field(
    with_header: Path, fields: dict[str, str], field: str, reason_part: str
) -> None:
    write(with_header, "eps.csv", EPISODES, [episode(**fields)])
    result = run(with_header)
    outcome = only(result, "episodes")
    assert (outcome.status, outcome.field, outcome.row) == ("rejected", field, 2)
    assert reason_part in (outcome.reason or "")
    assert result.events == []  # nothing half-converted
    if field == "CHILD":
        assert "Jane" not in (outcome.reason or "")


def test_start_without_a_header_row_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "eps.csv", EPISODES, [episode(), episode(CHILD="C2", RNE="P")])
    result = run(tmp_path)
    first, second = (o for o in result.outcomes if o.table == "episodes")
    assert (first.status, first.field) == ("rejected", "CHILD")
    assert "header" in (first.reason or "")
    # a child's first episode in the data starts their care in carewatch whatever its RNE: DOB/SEX needed
    assert (second.status, second.field) == ("rejected", "CHILD")
    assert result.events == []


def test_invalid_header_row_is_rejected_and_its_child_cannot_start(tmp_path: Path) -> None:
    write(tmp_path, "h.csv", HEADER, [{"CHILD": "C1", "SEX": "9", "DOB": "10/02/2010", "ETHNIC": "WBRI"}])
    write(tmp_path, "eps.csv", EPISODES, [episode()])
    result = run(tmp_path)
    assert (only(result, "header").status, only(result, "header").field) == ("rejected", "SEX")
    assert only(result, "episodes").status == "rejected"


def test_reviews_missing_and_social_workers(tmp_path: Path) -> None:
    write(tmp_path, "r.csv", ["CHILD", "DOB", "REVIEW", "REVIEW_CODE"], [
        {"CHILD": "C1", "DOB": "10/02/2010", "REVIEW": "03/06/2017", "REVIEW_CODE": "PN1"},
        {"CHILD": "C1", "DOB": "10/02/2010", "REVIEW": "03/06/2017", "REVIEW_CODE": "PN1"},
        {"CHILD": "C1", "DOB": "10/02/2010", "REVIEW": "03/07/2017", "REVIEW_CODE": "PN9"},
    ])  # fmt: skip
    write(tmp_path, "m.csv", ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"], [
        {"CHILD": "C1", "MISSING": "M", "MIS_START": "04/06/2017", "MIS_END": "06/06/2017"},
        {"CHILD": "C1", "MISSING": "A", "MIS_START": "09/06/2017", "MIS_END": ""},
        {"CHILD": "C1", "MISSING": "X", "MIS_START": "09/07/2017", "MIS_END": ""},
        {"CHILD": "C1", "MISSING": "M", "MIS_START": "09/08/2017", "MIS_END": "01/08/2017"},
    ])  # fmt: skip
    write(tmp_path, "s.csv", ["CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"], [
        {"CHILD": "C1", "SW_ID": "SW123", "SW_DECOM": "01/04/2017", "SW_DEC": "", "SW_REASON": "MANAGE"},
        {"CHILD": "C1", "SW_ID": "SW 12", "SW_DECOM": "01/04/2017", "SW_DEC": "", "SW_REASON": "MANAGE"},
    ])  # fmt: skip
    result = run(tmp_path)
    reviews = [o for o in result.outcomes if o.table == "reviews"]
    assert [o.status for o in reviews] == ["converted", "skipped", "rejected"]
    assert "duplicate" in (reviews[1].reason or "") and "r.csv line 2" in (reviews[1].reason or "")
    assert reviews[2].field == "REVIEW_CODE"
    assert [e["occurred_at"] for e in events_of(result, "review.held")] == ["2017-06-03"]

    missing = [o for o in result.outcomes if o.table == "missing"]
    assert [(o.status, o.field) for o in missing] == [
        ("converted", None), ("converted", None), ("rejected", "MISSING"), ("rejected", "MIS_END"),
    ]  # fmt: skip
    started, ended = events_of(result, "missing.started"), events_of(result, "missing.ended")
    assert [e["occurred_at"] for e in started] == ["2017-06-04", "2017-06-09"]
    assert [e["occurred_at"] for e in ended] == ["2017-06-06"]
    assert ended[0]["episode_id"] == started[0]["episode_id"] != started[1]["episode_id"]

    workers = [o for o in result.outcomes if o.table == "sw_episodes"]
    assert [(o.status, o.field) for o in workers] == [("converted", None), ("rejected", "SW_ID")]
    assert [(e["occurred_at"], e["worker_id"]) for e in events_of(result, "social_worker.changed")] == [
        ("2017-04-01", "SW123")
    ]


OC2 = list(tables.OC2.columns)


def test_oc2_items_and_sdq_are_dated_31_march_and_blank_is_not_zero(tmp_path: Path) -> None:
    flags = dict.fromkeys(OC2[4:], "1")
    write(tmp_path, "o.csv", OC2, [
        {"CHILD": "C1", "DOB": "10/02/2010", "SDQ_SCORE": "17", "SDQ_REASON": ""} | flags,
        {"CHILD": "C2", "DOB": "10/02/2010", "SDQ_SCORE": "", "SDQ_REASON": "SDQ2", "TEETH_CHECK": "0"},
        {"CHILD": "C3", "DOB": "10/02/2010", "SDQ_SCORE": "41", "SDQ_REASON": ""} | flags,
        {"CHILD": "C4", "DOB": "10/02/2010", "SDQ_SCORE": "many", "SDQ_REASON": ""} | flags,
        {"CHILD": "C5", "DOB": "10/02/2010", "SDQ_SCORE": "", "SDQ_REASON": ""},
        {"CHILD": "C6", "DOB": "10/02/2010", "SDQ_SCORE": "", "HEALTH_ASSESSMENT": "yes"},
    ])  # fmt: skip
    result = run(tmp_path, year=2018)
    outcomes = [o for o in result.outcomes if o.table == "oc2"]
    assert [(o.status, o.field) for o in outcomes] == [
        ("converted", None), ("converted", None), ("rejected", "SDQ_SCORE"), ("rejected", "SDQ_SCORE"),
        ("skipped", None), ("rejected", "HEALTH_ASSESSMENT"),
    ]  # fmt: skip
    assert [(e["occurred_at"], e["score"]) for e in events_of(result, "sdq.recorded")] == [("2018-03-31", 17)]
    recorded = {e["child_id"]: e for e in events_of(result, "outcomes.recorded")}
    assert recorded["C1"]["teeth_check"] is True and recorded["C1"]["health_assessment"] is True
    # C2: a dental check recorded as not done; the health assessment left blank stays unknown (not false)
    assert recorded["C2"]["teeth_check"] is False and "health_assessment" not in recorded["C2"]
    assert recorded["C2"]["sdq_reason"] == "SDQ2" and recorded["C2"]["occurred_at"] == "2018-03-31"


def test_oc3_contact_is_dated_on_the_birthday_in_the_year(tmp_path: Path) -> None:
    write(tmp_path, "c.csv", ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"], [
        {"CHILD": "L1", "DOB": "20/06/1998", "IN_TOUCH": "YES", "ACTIV": "F2", "ACCOM": "D1"},
        {"CHILD": "L2", "DOB": "20/02/2000", "IN_TOUCH": "NO", "ACTIV": "0", "ACCOM": "0"},
        {"CHILD": "L3", "DOB": "20/06/1998", "IN_TOUCH": "REFU", "ACTIV": "", "ACCOM": ""},
        {"CHILD": "L4", "DOB": "20/06/1998", "IN_TOUCH": "MAYBE", "ACTIV": "", "ACCOM": ""},
        {"CHILD": "L5", "DOB": "20/06/1998", "IN_TOUCH": "YES", "ACTIV": "F9", "ACCOM": ""},
        {"CHILD": "L6", "DOB": "20/06/1998", "IN_TOUCH": "YES", "ACTIV": "", "ACCOM": "S1"},
        {"CHILD": "L7", "DOB": "20/06/2001", "IN_TOUCH": "YES", "ACTIV": "", "ACCOM": ""},
    ])  # fmt: skip
    result = run(tmp_path, year=2018)
    outcomes = [o for o in result.outcomes if o.table == "oc3"]
    assert [(o.status, o.field) for o in outcomes] == [
        ("converted", None), ("converted", None), ("converted", None),
        ("rejected", "IN_TOUCH"), ("rejected", "ACTIV"), ("rejected", "ACCOM"), ("rejected", "DOB"),
    ]  # fmt: skip
    contacts = {e["child_id"]: e for e in result.events}
    assert (contacts["L1"]["occurred_at"], contacts["L1"]["in_touch"]) == ("2017-06-20", True)
    assert (contacts["L1"]["activity"], contacts["L1"]["accommodation"]) == ("F2", "D1")
    assert (contacts["L2"]["occurred_at"], contacts["L2"]["in_touch"]) == ("2018-02-20", False)
    assert contacts["L3"]["in_touch"] is False and "activity" not in contacts["L3"]
    assert (contacts["L3"]["in_touch_code"], contacts["L3"]["date_of_birth"]) == ("REFU", "1998-06-20")


@pytest.mark.parametrize(("year", "activity", "status"), [
    (2021, "F3", "converted"), (2022, "F3", "rejected"), (2021, "F5", "rejected"), (2022, "F5", "converted"),
])  # fmt: skip
def test_oc3_activity_codes_follow_the_collection_year(tmp_path: Path, year: int, activity: str, status: str) -> None:
    write(tmp_path, "c.csv", ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"], [
        {"CHILD": "L1", "DOB": "20/06/2003", "IN_TOUCH": "YES", "ACTIV": activity, "ACCOM": "D1"},
    ])  # fmt: skip
    outcome = only(run(tmp_path, year=year), "oc3")
    assert outcome.status == status
    if status == "rejected":
        assert outcome.field == "ACTIV" and f"{year - 1}/{year % 100:02d}" in (outcome.reason or "")


def test_tables_without_events_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write(tmp_path, "x.csv", list(tables.AD1.columns), [{"CHILD": "C1", "DATE_INT": "01/01/2017"}])
    write(tmp_path, "y.csv", list(tables.PREVIOUS_PERMANENCE.columns), [{"CHILD": "C1", "PREV_PERM": "Z1"}])
    result = run(tmp_path)
    assert [(o.table, o.status) for o in result.outcomes] == [
        ("ad1", "skipped"),
        ("previous_permanence", "skipped"),
    ]
    assert all(o.reason for o in result.outcomes)


def test_files_are_matched_by_columns_and_unknown_files_are_rejected_row_by_row(tmp_path: Path) -> None:
    write(tmp_path, "whatever.csv", ["child", " REVIEW ", "REVIEW_CODE", "EXTRA"], [
        {"child": "C1", " REVIEW ": "03/06/2017", "REVIEW_CODE": "PN0", "EXTRA": "x"}
    ])  # fmt: skip
    write(tmp_path, "notes.csv", ["A", "B"], [{"A": "1", "B": "2"}, {"A": "3", "B": "4"}])
    (tmp_path / "README.md").write_text("not a table")
    files = read_return(tmp_path)
    assert {f.name: f.rows[0].table for f in files} == {
        "notes.csv": "unrecognised",
        "whatever.csv": "reviews",
    }
    assert "EXTRA" in (next(f for f in files if f.name == "whatever.csv").note or "")
    result = convert([row for source in files for row in source.rows], 2018)
    assert [(o.file, o.status) for o in result.outcomes] == [
        ("notes.csv", "rejected"), ("notes.csv", "rejected"), ("whatever.csv", "converted"),
    ]  # fmt: skip


def test_malformed_csv_row_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("CHILD,DOB,REVIEW,REVIEW_CODE\nC1,10/02/2010,03/06/2017\n")
    outcome = only(run(tmp_path), "reviews")
    assert outcome.status == "rejected" and "3 values for 4 columns" in (outcome.reason or "")


def test_a_row_contradicting_an_earlier_one_is_rejected(with_header: Path) -> None:
    write(with_header, "eps.csv", EPISODES, [
        episode(DEC="01/08/2017", REC="E4A"),
        episode(DECOM="01/06/2017", RNE="P", DEC="01/08/2017", REC="E13"),
    ])  # fmt: skip
    second = [o for o in run(with_header).outcomes if o.table == "episodes"][1]
    assert second.status == "rejected" and "contradicts eps.csv line 2" in (second.reason or "")


XML = """<?xml version='1.0' encoding='us-ascii'?>
<EXPSSDA903><CHILD><HEADER><CHILDID>X1</CHILDID><UPN>A1</UPN><SEX>M</SEX><DOB>01/09/2005</DOB>
<ETHNIC>WBRI</ETHNIC><UASC>1</UASC><DUC /><IN_TOUCH /><AREVIEW><REVIEW>27/09/2017</REVIEW>
<REVIEW_CODE>PN1</REVIEW_CODE></AREVIEW><AMISSING><MISSING>M</MISSING><MIS_START>01/10/2017</MIS_START>
<MIS_END>02/10/2017</MIS_END></AMISSING><OC2><SDQ_SCORE>12</SDQ_SCORE><TEETH_CHECK>1</TEETH_CHECK>
<HEALTH_ASSESSMENT>1</HEALTH_ASSESSMENT></OC2><MYSTERY><A>1</A></MYSTERY></HEADER>
<EPISODE><DECOM>06/07/2017</DECOM><RNE>S</RNE><LS>V2</LS><CIN>N4</CIN><PL>U6</PL><PLACE_PROVIDER>PR4</PLACE_PROVIDER>
<DEC /><REC /><REASON_PLACE_CHANGE /></EPISODE></CHILD></EXPSSDA903>
"""


def test_xml_layout(tmp_path: Path) -> None:
    (tmp_path / "return.xml").write_text(XML)
    files = read_return(tmp_path)
    assert "MYSTERY" in (files[0].note or "")
    result = convert(files[0].rows, 2018)
    statuses = {(o.table, o.locator): o.status for o in result.outcomes}
    assert statuses == {
        ("header", "CHILD 1 HEADER"): "skipped",
        ("uasc", "CHILD 1 HEADER UASC"): "skipped",
        ("reviews", "CHILD 1 AREVIEW 1"): "converted",
        ("missing", "CHILD 1 AMISSING 1"): "converted",
        ("oc2", "CHILD 1 OC2 1"): "converted",
        ("unrecognised", "CHILD 1 MYSTERY 1"): "rejected",
        ("episodes", "CHILD 1 EPISODE 1"): "converted",
    }
    started = events_of(result, "care.started")[0]
    assert (started["sex"], started["uasc"], started["legal_status"]) == ("M", True, "V2")
    assert [(e["placement_type"], e["provider"]) for e in events_of(result, "placement.started")] == [("U6", "PR4")]
    assert len(result.events) == 7  # care + placement + review + missing start/end + sdq + OC2 outcomes


def test_same_input_gives_identical_ids_and_counts_reconcile(with_header: Path) -> None:
    write(
        with_header,
        "eps.csv",
        EPISODES,
        [episode(DEC="01/08/2017", REC="X1"), episode(DECOM="01/08/2017", RNE="T")],
    )
    first, second = run(with_header), run(with_header)
    assert first.events == second.events
    assert len({e["event_id"] for e in first.events}) == len(first.events)
    assert all(e["event_id"].startswith("903-") and len(e["event_id"]) <= 64 for e in first.events)
    assert all(t.reconciles for t in first.tallies())


def test_equal_values_are_held_once_across_files_and_events(with_header: Path) -> None:
    write(with_header, "episodes.csv", EPISODES, [episode(), episode(DECOM="01/06/2017", RNE="P", PLACE="U5")])
    files = {source.name: source for source in read_return(with_header)}
    header, episodes = files["children.csv"].rows, files["episodes.csv"].rows
    assert episodes[0].fields["CHILD"] is header[0].fields["CHILD"]
    assert episodes[1].fields["LS"] is episodes[0].fields["LS"]
    counted: list[int] = []
    result = convert([*header, *episodes], 2018, progress=counted.append)
    assert sum(counted) == len(result.outcomes) == 3
    first, *rest = result.events
    assert len(rest) >= 2 and all(event["child_id"] is first["child_id"] for event in rest)
    assert len({event["event_id"] for event in result.events}) == len(result.events)
