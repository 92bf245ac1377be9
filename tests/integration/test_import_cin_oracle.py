"""The CIN census import against the DfE validator ``csc-validator-be-cin`` as an oracle: a generated
return the validator accepts is converted item by item; one it flags is rejected by the import too.

The validator runs in its own virtualenv (``.venv-oracle-cin/``, created on first use; see
``tests/support/oracle.py``), so these tests are slow the first time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.ingest.cin.convert import convert
from services.ingest.cin.source import read_census
from tests.support.cin_census import to_xml, valid_return
from tests.support.oracle import validate

pytestmark = pytest.mark.integration


def test_a_return_the_validator_accepts_converts_every_item(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_bytes(to_xml(valid_return(children=40, seed=3), 2025))
    assert validate(path) == []
    result = convert(read_census(path), 2025)
    assert [o for o in result.outcomes if o.status == "rejected"] == []
    converted = {o.table for o in result.outcomes if o.status == "converted"}
    assert converted == {"CINdetails", "Assessments", "CINPlanDates", "Section47", "ChildProtectionPlans", "Reviews"}
    assert all(t.reconciles for t in result.tallies())


def test_a_return_the_validator_flags_is_rejected_by_the_import(tmp_path: Path) -> None:
    kids = valid_return(children=8, seed=5)
    kids[0].episodes[0].source = "99"  # rule 8866: invalid referral source
    cp_child = kids[2]  # the third child has a child protection plan
    plan = cp_child.episodes[0].cpps[0]
    plan.end = plan.start  # rule 8840: a plan cannot start and end on the same day
    s47_start, _icpc, _ = cp_child.episodes[0].s47[0]
    cp_child.episodes[0].s47[0] = (s47_start, date.fromordinal(s47_start.toordinal() - 1), False)  # rule 8615
    path = tmp_path / "cin.xml"
    path.write_bytes(to_xml(kids, 2025))

    flagged = {(issue["rule_code"], issue["child_id"]) for issue in validate(path)}
    assert {("8866", kids[0].la_child_id), ("8840", cp_child.la_child_id), ("8615", cp_child.la_child_id)} <= flagged

    result = convert(read_census(path), 2025)
    rejected = {(o.locator, o.field) for o in result.outcomes if o.status == "rejected"}
    assert rejected == {
        ("/Message/Children/Child[1]/CINdetails[1]", "ReferralSource"),
        ("/Message/Children/Child[3]/CINdetails[1]/ChildProtectionPlans[1]", "CPPendDate"),
        ("/Message/Children/Child[3]/CINdetails[1]/Section47[1]", "DateOfInitialCPC"),
    }
    assert all(t.reconciles for t in result.tallies())
