"""Ofsted Annex A lists: scope at the edges of the 6-month period, and the workbook read back."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import count
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from typer.testing import CliRunner

from carewatch.cli import app
from schemas.events import CaseEvent, parse_event
from services.board.annex_a import write_workbook
from services.board.core.annex_a import LIST_COLUMNS, AnnexList, annex_a

AS_OF = date(2025, 9, 30)  # period: 30 Mar 2025 < d <= 30 Sep 2025 (30 Sep - 6 months = 30 Mar)
_ids = count()


def body(child: str, kind: str, on: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"e{next(_ids)}", "type": kind, "child_id": child, "occurred_at": on, **fields}


def history() -> list[dict[str, Any]]:
    return [
        body("r-out", "referral.received", "2025-03-30", referral_id="x", source="6"),
        body(
            "r-in", "referral.received", "2024-10-01", referral_id="a", source="2A", date_of_birth="2015-06-01", sex="F"
        ),
        body("r-in", "referral.received", "2025-03-31", referral_id="b", source="6", team="north"),
        body("r-in", "referral.outcome", "2025-04-01", referral_id="b", outcome="no_further_action"),
        body("cin", "referral.received", "2025-01-10", referral_id="c", source="3A", primary_need="N4"),
        body("cin", "assessment.started", "2025-01-11", assessment_id="a1", referral_id="c"),
        body("cin", "assessment.completed", "2025-04-15", assessment_id="a1", referral_id="c", child_in_need=True),
        body("cin", "s47.started", "2025-05-01", enquiry_id="s1"),
        body("cin", "icpc.held", "2025-05-20", enquiry_id="s1", plan_decided=True),
        body("cin", "cp_plan.started", "2025-05-20", plan_id="p1", category="EMO", previous_plans=1),
        body("cin", "cp_visit.completed", "2025-09-01", plan_id="p1", seen_alone=True),
        body("cin", "cp_review.held", "2025-08-15", plan_id="p1"),
        body("cin", "social_worker.changed", "2025-05-21", worker_id="SW9", team="south", employment="agency"),
        body("old-plan", "cp_plan.started", "2024-01-01", plan_id="p", category="NEG"),
        body("old-plan", "cp_plan.ended", "2025-03-30", plan_id="p"),
        body("ended-plan", "cp_plan.started", "2024-01-01", plan_id="p", category="PHY"),
        body("ended-plan", "cp_plan.ended", "2025-03-31", plan_id="p"),
        body("cla", "care.started", "2025-02-01", date_of_birth="2012-02-01", sex="M", legal_status="C2", uasc=True),
        body("cla", "placement.started", "2025-02-01", placement_type="U4", provider="PR1"),
        body("cla", "review.held", "2025-02-20"),
        body("left", "care.started", "2024-01-01", date_of_birth="2008-01-01", sex="F", legal_status="V2"),
        body("left", "care.ended", "2025-06-30", reason="E13"),
        body("left", "care_leaver.contact", "2025-08-01", in_touch=True, activity="F5", accommodation="U1"),
    ]


def events() -> list[CaseEvent]:
    return [parse_event(item, received_at=None) for item in history()]


def by_title(lists: list[AnnexList]) -> dict[str, AnnexList]:
    return {found.title: found for found in lists}


def rows_as_dicts(found: AnnexList) -> list[dict[str, Any]]:
    return [dict(zip(found.columns, row, strict=True)) for row in found.rows]


def test_every_list_in_the_annex_a_layout() -> None:
    lists = annex_a(events(), AS_OF)
    assert [found.title for found in lists] == list(LIST_COLUMNS)
    for found in lists:
        assert found.columns[:5] == ("Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)")
        assert all(len(row) == len(found.columns) for row in found.rows)


def test_referrals_in_the_six_months_before_the_date() -> None:
    (row,) = rows_as_dicts(by_title(annex_a(events(), AS_OF))["List 3 Referrals"])
    assert row["Child Unique ID"] == "r-in" and row["Date of Referral"] == date(2025, 3, 31)
    assert row["Referral NFA?"] == "Yes"
    assert row["Number of Referrals in Last 12 Months"] == 2  # 1 Oct 2024 and 31 Mar 2025
    assert row["Gender"] == "Female" and row["Age of Child (Years)"] == 10
    assert row["Allocated Team"] == "north"


def test_assessments_section_47_and_child_protection() -> None:
    lists = by_title(annex_a(events(), AS_OF))
    (assessment,) = rows_as_dicts(lists["List 4 Assessments"])
    assert assessment["Continuous Assessment Date of Authorisation"] == date(2025, 4, 15)
    (enquiry,) = rows_as_dicts(lists["List 5 Section 47"])
    assert enquiry["Date of ICPC"] == date(2025, 5, 20)
    assert enquiry["Did the ICPC result in a Child Protection Plan"] == "Yes"
    assert enquiry["Number of ICPCs in the last 12 months"] == 1
    plans = {row["Child Unique ID"]: row for row in rows_as_dicts(lists["List 7 Child protection"])}
    assert set(plans) == {"cin", "ended-plan"}  # the plan that ended on 30 Mar is before the period
    assert plans["cin"]["Date of the Last Statutory Visit"] == date(2025, 9, 1)
    assert plans["cin"]["Was the Child Seen Alone?"] == "Y"
    assert plans["cin"]["Date of latest review conference"] == date(2025, 8, 15)
    assert plans["cin"]["Number of Previous Child Protection Plans"] == 1
    assert plans["cin"]["Allocated Worker"] == "SW9"
    assert plans["ended-plan"]["Child Protection Plan End Date"] == date(2025, 3, 31)


def test_children_in_need_excludes_referrals_with_no_further_action() -> None:
    rows = rows_as_dicts(by_title(annex_a(events(), AS_OF))["List 6 Children in need"])
    assert {row["Child Unique ID"] for row in rows} == {"cin"}
    assert rows[0]["Case Status"] == "Child protection plan" and rows[0]["Primary Need Code"] == "N4"


def test_children_in_care_and_care_leavers() -> None:
    lists = by_title(annex_a(events(), AS_OF))
    cla = {row["Child Unique ID"]: row for row in rows_as_dicts(lists["List 8 Children in care"])}
    assert set(cla) == {"cla", "left"}  # looked after now, and ceased on 30 Jun (in the period)
    assert cla["cla"]["Placement Type"] == "U4" and cla["cla"]["Child's Legal Status"] == "C2"
    assert cla["cla"]["Unaccompanied Asylum Seeking Child (UASC) in the last 12 months (Y/N)"] == "Y"
    assert cla["left"]["Date Ceased to be Looked After"] == date(2025, 6, 30)
    (leaver,) = rows_as_dicts(lists["List 9 Care leavers"])
    assert leaver["Child Unique ID"] == "left" and leaver["LA in Touch"] == "Yes"
    assert leaver["Suitability of Accommodation"] == "Suitable"


def test_a_shorter_period_narrows_the_lists() -> None:
    lists = by_title(annex_a(events(), AS_OF, period_months=3))
    assert lists["List 3 Referrals"].rows == ()
    assert {row[0] for row in lists["List 7 Child protection"].rows} == {"cin"}


def test_workbook_read_back(tmp_path: Path) -> None:
    path = tmp_path / "annex.xlsx"
    write_workbook(annex_a(events(), AS_OF), path, as_of=AS_OF)
    workbook = load_workbook(path)
    assert workbook.sheetnames == list(LIST_COLUMNS)
    for title, columns in LIST_COLUMNS.items():
        header = [cell.value for cell in workbook[title][1]]
        assert header == list(columns)
    referral = workbook["List 3 Referrals"]["F2"]
    assert referral.is_date and referral.value == datetime(2025, 3, 31)
    assert referral.number_format == "DD/MM/YYYY"
    assert workbook["List 3 Referrals"]["I2"].value == 2


def test_command_line(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    source.write_text("".join(json.dumps(item) + "\n" for item in history()))
    out = tmp_path / "annex.xlsx"
    result = CliRunner().invoke(app, ["annex-a", str(source), "--as-of", "2025-09-30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "List 7 Child protection: 2 rows" in result.stderr
    assert load_workbook(out).sheetnames == list(LIST_COLUMNS)
