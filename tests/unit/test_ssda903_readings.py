"""Which SSDA903 facts the indicators read (docs/ssda903.md, "What the indicators read"): OC2's SDQ score
reaches ``sdq-concern``; OC2's yearly items (``outcomes.recorded``) and the first episode's RNE
(``new_episode_reason``) are carried and exported but not folded, and so change no indicator."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from schemas.events import parse_event
from services.board.core.indicators import contributions
from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.source import read_return
from services.rules.core.fold import apply
from services.rules.core.state import ChildState
from tests.unit import ssda903_support as support

CHILD = "R00001"
MARCH = date(2020, 3, 31)


def _return(tmp_path: Path, rne: str, oc2: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """A 2019/20 return of one child, 12 years old, looked after since 2018 (its first episode's RNE ``rne``),
    with an OC2 row when given."""
    tables: dict[str, list[dict[str, str]]] = {
        "header": [{"CHILD": CHILD, "SEX": "M", "DOB": "01/06/2007", "ETHNIC": "WBRI", "UPN": "", "MOTHER": "",
                    "MC_DOB": ""}],
        "episodes": [{"CHILD": CHILD, "DECOM": "10/01/2018", "RNE": rne, "LS": "C2", "CIN": "N1", "PLACE": "U1",
                      "PLACE_PROVIDER": "PR1", "DEC": "", "REC": "", "REASON_PLACE_CHANGE": "", "HOME_POST": "",
                      "PL_POST": "", "URN": ""}],
    }  # fmt: skip
    if oc2 is not None:
        blank = dict.fromkeys(support.TABLES["oc2"], "")
        tables["oc2"] = [{**blank, "CHILD": CHILD, "DOB": "01/06/2007", **oc2}]
    directory = support.write_return(tables, tmp_path / f"{rne}-{oc2 is not None}")
    result = convert_returns([(2020, [r for f in read_return(directory) for r in f.rows])])
    assert not [o for o in result.outcomes if o.status == "rejected"]
    return result.events


def _state(events: list[dict[str, Any]], *, without: frozenset[str] = frozenset()) -> ChildState:
    state = None
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        if event["type"] not in without:
            state, _ = apply(state, parse_event(event, received_at=None))
    assert state is not None
    return state


ALL_YES = {"HEALTH_CHECK": "1", "TEETH_CHECK": "1", "IMMUNISATIONS": "1", "HEALTH_ASSESSMENT": "1",
           "SUBSTANCE_MISUSE": "0", "CONVICTED": "0"}  # fmt: skip


def test_oc2_sdq_score_reaches_the_sdq_concern_indicator(tmp_path: Path) -> None:
    concern = contributions(_state(_return(tmp_path, "S", {"SDQ_SCORE": "20"})), MARCH)
    assert concern["sdq-concern"].numerator == 1 and concern["sdq-concern"].denominator == 1
    fine = contributions(_state(_return(tmp_path / "b", "S", {"SDQ_SCORE": "16"})), MARCH)
    assert fine["sdq-concern"].numerator == 0 and fine["sdq-concern"].denominator == 1


def test_oc2_yearly_items_are_carried_but_change_no_indicator(tmp_path: Path) -> None:
    events = _return(tmp_path, "S", ALL_YES)
    recorded = [e for e in events if e["type"] == "outcomes.recorded"]
    assert len(recorded) == 1 and recorded[0]["occurred_at"][:10] == MARCH.isoformat()
    with_oc2 = _state(events)
    without_oc2 = _state(events, without=frozenset({"outcomes.recorded"}))
    for day in (MARCH, date(2020, 4, 1), date(2020, 9, 30)):
        assert contributions(with_oc2, day) == contributions(without_oc2, day), day
    # the health measures read dated checks, which the 903 does not have: the child stays "not in date"
    assert contributions(with_oc2, MARCH)["dental-in-date"].numerator == 0


def test_the_first_episodes_rne_is_carried_but_only_its_not_known_reading_is_used(tmp_path: Path) -> None:
    placement_change, same_carer = _return(tmp_path, "P", None), _return(tmp_path, "T", None)
    starts = [next(e for e in events if e["type"] == "care.started") for events in (placement_change, same_carer)]
    assert [(s["new_episode_reason"], s["period_began_before_data"]) for s in starts] == [("P", True), ("T", True)]
    for day in (MARCH, date(2020, 7, 10), date(2021, 3, 31)):
        assert contributions(_state(placement_change), day) == contributions(_state(same_carer), day), day
