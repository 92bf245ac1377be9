"""SSDA903 as a history: several returns, periods that began before the data, chronology problems,
corrections, the export back to the return, and agreement with an independent reading of the DfE
definitions (tests/unit/ssda903_support.py)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from schemas.events import parse_event
from services.ingest.ssda903 import export
from services.ingest.ssda903.convert import ImportResult, RowOutcome, convert_returns
from services.ingest.ssda903.source import MAX_FIELD, read_return
from tests.unit import ssda903_support as support

HEADER = {"CHILD": "C1", "SEX": "2", "DOB": "10/02/2008", "ETHNIC": "WBRI"}


def episode(**fields: str) -> dict[str, str]:
    base = {"CHILD": "C1", "DECOM": "01/05/2017", "RNE": "S", "LS": "C2", "CIN": "N1", "PLACE": "U4",
            "PLACE_PROVIDER": "PR1", "DEC": "", "REC": "", "REASON_PLACE_CHANGE": ""}  # fmt: skip
    return base | fields


def a_return(directory: Path, episodes: list[dict[str, str]], **tables: list[dict[str, str]]) -> Path:
    data = {
        "header": [support._blank("header") | HEADER],
        "episodes": [support._blank("episodes") | e for e in episodes],
    }
    data |= {name: [support._blank(name) | row for row in rows] for name, rows in tables.items()}
    return support.write_return(data, directory)


def run(*returns: tuple[int, Path]) -> ImportResult:
    return convert_returns([(year, [r for f in read_return(d) for r in f.rows]) for year, d in returns])


def of(result: ImportResult, kind: str) -> list[dict[str, Any]]:
    return [e for e in result.events if e["type"] == kind]


def episodes_outcomes(result: ImportResult) -> list[RowOutcome]:
    return [o for o in result.outcomes if o.table == "episodes"]


# ---- point 1: a period that began before the data -------------------------------------------------------


def test_first_episode_not_starting_a_period_is_looked_after_from_its_start(tmp_path: Path) -> None:
    result = run((2018, a_return(tmp_path, [episode(DECOM="14/08/2016", RNE="P", DEC="", REC="")])))
    (started,) = of(result, "care.started")
    assert (started["occurred_at"], started["period_began_before_data"], started["new_episode_reason"]) == (
        "2016-08-14", True, "P",
    )  # fmt: skip
    assert [(e["occurred_at"], e["placement_type"]) for e in of(result, "placement.started")] == [("2016-08-14", "U4")]
    assert episodes_outcomes(result)[0].problems == ()  # allowed by the DfE rules: no problem reported
    assert support.carewatch_looked_after_on(result.events, date(2018, 3, 31)) == {"C1"}


def test_a_period_that_starts_in_the_data_is_not_flagged(tmp_path: Path) -> None:
    result = run((2018, a_return(tmp_path, [episode()])))
    assert "period_began_before_data" not in of(result, "care.started")[0]


def test_an_earlier_return_makes_the_start_exact(tmp_path: Path) -> None:
    early = a_return(tmp_path / "2017", [episode(DECOM="01/05/2016"), episode(DECOM="14/08/2016", RNE="P")],
                     )  # fmt: skip
    early_rows = support.read_table(early / "episodes.csv")
    early_rows[0] |= {"DEC": "14/08/2016", "REC": "X1", "REASON_PLACE_CHANGE": "CARPL"}
    support.write_return({"episodes": early_rows}, early)
    late = a_return(tmp_path / "2018", [episode(DECOM="14/08/2016", RNE="P")])
    result = run((2017, early), (2018, late))
    (started,) = of(result, "care.started")
    assert started["occurred_at"] == "2016-05-01" and "period_began_before_data" not in started
    moves = of(result, "placement.started")
    assert [(e["occurred_at"], e.get("reason_for_change")) for e in moves] == [
        ("2016-05-01", None),
        ("2016-08-14", "CARPL"),
    ]
    assert [o.status for o in episodes_outcomes(result)] == ["converted", "skipped", "converted"]
    assert "repeated in the 2018 return" in (episodes_outcomes(result)[1].reason or "")


# ---- point 2: several years are one history ---------------------------------------------------------------


def test_episode_open_across_years_is_one_episode_and_a_later_value_is_a_reported_change(tmp_path: Path) -> None:
    first = a_return(tmp_path / "a", [episode(DECOM="01/05/2017")])
    second = a_return(tmp_path / "b", [episode(DECOM="01/05/2017", PLACE="U6", DEC="01/06/2018", REC="E13")])
    result = run((2018, first), (2019, second))
    assert len(of(result, "care.started")) == 1
    assert [e["placement_type"] for e in of(result, "placement.started")] == ["U6"]
    assert [(e["occurred_at"], e["reason"]) for e in of(result, "care.ended")] == [("2018-06-01", "E13")]
    older = episodes_outcomes(result)[0]
    assert older.status == "skipped"
    assert "changed by the 2019 return" in (older.reason or "") and "PLACE 'U4'→'U6'" in (older.reason or "")


def test_an_episode_a_later_return_leaves_out_is_removed(tmp_path: Path) -> None:
    first = a_return(tmp_path / "a", [episode(DECOM="01/05/2017", DEC="01/02/2018", REC="X1"),
                                      episode(DECOM="01/02/2018", RNE="P", PLACE="K2")])  # fmt: skip
    second = a_return(tmp_path / "b", [episode(DECOM="01/05/2017", DEC="01/02/2018", REC="X1"),
                                       episode(DECOM="01/02/2018", RNE="P", PLACE="U6")])  # fmt: skip
    # the second return says the episode of 01/02/2018 was in U6: same (child, DECOM), so it replaces it
    result = run((2018, first), (2019, second))
    assert [e["placement_type"] for e in of(result, "placement.started")] == ["U4", "U6"]
    third = a_return(tmp_path / "c", [episode(DECOM="01/05/2017", DEC="01/03/2018", REC="E13")])
    result = run((2018, first), (2019, third))
    statuses = [(o.status, o.reason or "") for o in episodes_outcomes(result)]
    assert statuses[1][0] == "skipped" and "taken as removed" in statuses[1][1]
    assert [e["occurred_at"] for e in of(result, "care.ended")] == ["2018-03-01"]


# ---- point 5: chronology problems are reported with the DfE rule, and the import goes on -------------------


@pytest.mark.parametrize(
    ("rows", "rule"),
    [
        ([episode(DEC="01/08/2017", REC="X1")], "388"),
        ([episode(), episode(DECOM="01/08/2017", RNE="P")], "142"),
        ([episode(DEC="01/09/2017", REC="E13"), episode(DECOM="01/08/2017", RNE="P")], "501"),
        ([episode(DEC="01/08/2017", REC="X1"), episode(DECOM="01/08/2017", RNE="S")], "431"),
        ([episode(DEC="01/08/2017", REC="X1"), episode(DECOM="03/08/2017", RNE="P")], "433"),
        ([episode(DEC="01/08/2017", REC="E13"), episode(DECOM="01/09/2017", RNE="P")], "433"),
        ([episode(REC="E13")], "148"),
        ([episode(DEC="01/08/2017", REC="E16"), episode(DECOM="01/08/2017", RNE="S")], "431"),
        ([episode(DEC="01/08/2017", REC="E15"), episode(DECOM="01/09/2017", RNE="S")], "437"),
        ([episode(DEC="01/04/2018", REC="E13")], "354"),
    ],
)
def test_chronology_problems_name_the_rule_and_nothing_is_dropped(
    tmp_path: Path, rows: list[dict[str, str]], rule: str
) -> None:
    result = run((2018, a_return(tmp_path, rows)))
    outcomes = episodes_outcomes(result)
    assert all(o.status == "converted" for o in outcomes)
    assert [r for o in outcomes for r, _ in o.problems] == [rule]
    assert all(t.reconciles for t in result.tallies())
    for event in result.events:
        parse_event(event, received_at=None)


def test_a_valid_chain_has_no_problem_and_same_carer_moves_are_marked(tmp_path: Path) -> None:
    rows = [episode(DEC="01/08/2017", REC="X1", REASON_PLACE_CHANGE="CARPL"),
            episode(DECOM="01/08/2017", RNE="T", PLACE="U1", DEC="01/09/2017", REC="X1"),
            episode(DECOM="01/09/2017", RNE="L", LS="E1", PLACE="U1")]  # fmt: skip
    result = run((2018, a_return(tmp_path, rows)))
    assert [o.problems for o in episodes_outcomes(result)] == [(), (), ()]
    moves = of(result, "placement.started")
    assert [(e["placement_type"], e.get("same_carer"), e.get("reason_for_change")) for e in moves] == [
        ("U4", None, None), ("U1", True, "CARPL"),
    ]  # fmt: skip


# ---- points 3 and 4: codes by year, every table ----------------------------------------------------------


def test_placement_codes_follow_the_collection_year(tmp_path: Path) -> None:
    assert (
        episodes_outcomes(run((2024, a_return(tmp_path / "a", [episode(DECOM="01/05/2023", PLACE="K3")]))))[0].field
        == "PLACE"
    )
    assert (
        episodes_outcomes(run((2025, a_return(tmp_path / "b", [episode(DECOM="01/05/2024", PLACE="K3")]))))[0].status
        == "converted"
    )
    assert (
        episodes_outcomes(run((2026, a_return(tmp_path / "c", [episode(DECOM="01/05/2025", PLACE="Z1")]))))[0].field
        == "PLACE"
    )
    assert (
        episodes_outcomes(run((2026, a_return(tmp_path / "d", [episode(DECOM="01/05/2025", PLACE="Z12")]))))[0].status
        == "converted"
    )


def test_sex_codes_of_another_year_are_reported(tmp_path: Path) -> None:
    result = run((2025, a_return(tmp_path, [episode(DECOM="01/05/2024")])))  # header SEX 2 in 2024/25
    header = next(o for o in result.outcomes if o.table == "header")
    assert [rule for rule, _ in header.problems] == ["101"]
    assert of(result, "care.started")[0]["sex"] == "F"


def test_missing_and_away_are_kept_apart_and_uasc_ceased_is_carried(tmp_path: Path) -> None:
    directory = a_return(
        tmp_path, [episode()],
        missing=[{"CHILD": "C1", "MISSING": "M", "MIS_START": "04/06/2017", "MIS_END": "05/06/2017"},
                 {"CHILD": "C1", "MISSING": "A", "MIS_START": "09/06/2017", "MIS_END": ""}],
        uasc=[{"CHILD": "C1", "SEX": "2", "DOB": "10/02/2008", "DUC": "01/01/2018"}],
    )  # fmt: skip
    result = run((2018, directory))
    assert [e["kind"] for e in of(result, "missing.started")] == ["missing", "away"]
    started = of(result, "care.started")[0]
    assert (started["uasc"], started["uasc_ceased_on"], started["category_of_need"], started["ethnicity"]) == (
        True, "2018-01-01", "N1", "WBRI",
    )  # fmt: skip


# ---- point 6: export; the generated multi-year return round trip -----------------------------------------


@pytest.fixture(scope="module")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[int, dict[str, list[dict[str, str]]]], dict[int, Path]]:
    returns = support.generate(250, 2019, 2021, social_workers=True)
    base = tmp_path_factory.mktemp("generated")
    return returns, {year: support.write_return(tables, base / str(year)) for year, tables in returns.items()}


def _as_set(rows: list[dict[str, str]]) -> list[tuple[tuple[str, str], ...]]:
    return sorted(tuple(sorted(row.items())) for row in rows)


def test_generated_returns_import_without_rejection_and_export_the_same_rows(generated: Any) -> None:
    returns, directories = generated
    result = run(*directories.items())
    assert {o.status for o in result.outcomes} == {"converted", "skipped"}
    assert [o for o in result.outcomes if o.problems] == []
    assert any(e.get("period_began_before_data") for e in of(result, "care.started"))  # 2019 holds older periods
    assert all(tables["sw_episodes"] for tables in returns.values())
    for year, tables in returns.items():
        exported = export.return_rows(result.events, year)
        assert set(exported) == set(tables)
        for name, rows in tables.items():
            assert _as_set(exported[name]) == _as_set(rows), (year, name)


def test_fixture_valid_rows_export_as_read(ssda903_fixtures: Path, tmp_path: Path) -> None:
    """On the shared 2017/18 return: episodes of children with no row rejected or reported, reviews and
    missing rows, come back as they were (the columns carewatch carries; the others are blank)."""
    files = read_return(ssda903_fixtures)
    csv_rows = [r for f in files if f.layout == "csv" for r in f.rows]
    result = convert_returns([(2018, csv_rows)])
    flagged = {o.row for o in result.outcomes if o.file == "episodes.csv" and (o.status != "converted" or o.problems)}
    source = support.read_table(ssda903_fixtures / "episodes.csv")
    bad_children = {source[line - 2]["CHILD"] for line in flagged}
    exported = export.return_rows(result.events, 2018)
    carried = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE")
    in_year = [r for r in source if (support.parse_dmy(r["DEC"]) or date.max) >= date(2017, 4, 1)]
    expected = [{k: r[k] for k in carried} for r in in_year if r["CHILD"] not in bad_children]
    got = [{k: r[k] for k in carried} for r in exported["episodes"] if r["CHILD"] not in bad_children]
    assert len(expected) > 1000
    assert _as_set(got) == _as_set(expected)
    # reviews held in the year of the children in the return, less the rows rejected (a same-day review with
    # two participation codes contradicts itself)
    children = {r["CHILD"] for r in exported["header"]}
    rejected = {o.row for o in result.outcomes if o.file == "reviews.csv" and o.status == "rejected"}
    reviews = {
        (r["CHILD"], r["REVIEW"], r["REVIEW_CODE"])
        for line, r in enumerate(support.read_table(ssda903_fixtures / "reviews.csv"), start=2)
        if line not in rejected
        and r["CHILD"] in children
        and date(2017, 4, 1) <= (support.parse_dmy(r["REVIEW"]) or date.min) <= date(2018, 3, 31)
    }
    got_reviews = {(r["CHILD"], r["REVIEW"], r["REVIEW_CODE"]) for r in exported["reviews"]}
    assert len(reviews) > 1500
    assert got_reviews == reviews


# ---- the oracle: looked after on a day ---------------------------------------------------------------------

DAYS = [date(2018, 9, 30), date(2019, 3, 31), date(2019, 12, 25), date(2020, 3, 31), date(2021, 3, 31)]


def test_generated_history_agrees_with_the_dfe_definition_on_every_day(generated: Any) -> None:
    returns, directories = generated
    result = run(*directories.items())
    rows = support.latest_rows(returns)
    for day in DAYS:
        expected = support.looked_after_on(rows, day)
        assert expected, day
        assert support.carewatch_looked_after_on(result.events, day) == expected, day
        year_ago = day - timedelta(days=364)
        assert support.events_started(result.events, year_ago, day) == support.started_in(rows, year_ago, day)
        assert support.events_ended(result.events, year_ago, day) == support.ended_in(rows, year_ago, day)
    # V3/V4 excluded: the generator makes some short-break children, counted only with short_breaks=True
    assert support.looked_after_on(rows, DAYS[1], short_breaks=True) > support.looked_after_on(rows, DAYS[1])


def test_fixture_agrees_with_the_dfe_definition_except_on_reported_rows(ssda903_fixtures: Path) -> None:
    files = read_return(ssda903_fixtures)
    result = convert_returns([(2018, [r for f in files if f.layout == "csv" for r in f.rows])])
    source = support.read_table(ssda903_fixtures / "episodes.csv")
    reported = {source[o.row - 2]["CHILD"] for o in result.outcomes
                if o.file == "episodes.csv" and (o.status != "converted" or o.problems)}  # fmt: skip
    for day in (date(2017, 4, 1), date(2017, 9, 30), date(2018, 3, 31)):
        expected = support.looked_after_on(source, day)
        found = support.carewatch_looked_after_on(result.events, day)
        assert (expected ^ found) <= reported, day
        assert len(found) >= 0.9 * len(expected), day
    assert len(support.looked_after_on(source, date(2018, 3, 31))) == 1201


# ---- import one return after another: --previous, corrections, idempotence --------------------------------


def _cli(*args: str) -> None:
    outcome = CliRunner().invoke(app, list(args))
    assert outcome.exit_code == 0, outcome.output


def _events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _standing(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        export.base_id(e["event_id"]): {k: v for k, v in e.items() if k != "event_id"} for e in export.effective(events)
    }


def test_one_return_after_another_gives_the_history_of_all_together(generated: Any, tmp_path: Path) -> None:
    _, directories = generated
    together = tmp_path / "together.ndjson"
    _cli("import-903", *map(str, directories.values()), *[a for y in directories for a in ("--year", str(y))],
         "--out", str(together))  # fmt: skip
    sent: list[dict[str, Any]] = []
    for year, directory in directories.items():
        previous = tmp_path / f"sent-{year}.ndjson"
        previous.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in sent))
        out = tmp_path / f"out-{year}.ndjson"
        _cli("import-903", str(directory), "--year", str(year), "--previous", str(previous), "--out", str(out))
        sent += _events(out)
    assert _standing(sent) == _standing(_events(together))
    # idempotent: the last return again sends nothing
    previous = tmp_path / "all.ndjson"
    previous.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in sent))
    again = tmp_path / "again.ndjson"
    _cli("import-903", str(directories[2021]), "--year", "2021", "--previous", str(previous), "--out", str(again))
    assert again.read_bytes() == b""


def test_a_correction_is_a_retraction_and_a_revised_event_with_deterministic_ids(tmp_path: Path) -> None:
    first = a_return(tmp_path / "a", [episode(DECOM="01/05/2017")])
    sent = tmp_path / "sent.ndjson"
    _cli("import-903", str(first), "--year", "2018", "--out", str(sent))
    second = a_return(tmp_path / "b", [episode(DECOM="01/05/2017", LS="V2")])
    outputs = []
    for n in range(2):
        out, report = tmp_path / f"fix{n}.ndjson", tmp_path / f"fix{n}-report.ndjson"
        _cli("import-903", str(second), "--year", "2019", "--previous", str(sent), "--out", str(out),
             "--report", str(report))  # fmt: skip
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    events = _events(tmp_path / "fix0.ndjson")
    assert [e["type"] for e in events] == ["event.retracted", "care.started"]
    original = next(e for e in _events(sent) if e["type"] == "care.started")
    assert events[0]["retracted_event_id"] == original["event_id"]
    assert events[1]["legal_status"] == "V2" and events[1]["event_id"].startswith(original["event_id"] + "~")
    changes = [orjson.loads(line) for line in (tmp_path / "fix0-report.ndjson").read_bytes().splitlines()]
    assert any(c["kind"] == "change" and "legal_status 'C2'→'V2'" in c["reason"] for c in changes)
    for event in events:
        parse_event(event, received_at=None)


# ---- export-903 and the hardened reader -------------------------------------------------------------------


def test_export_903_writes_the_return_and_needs_events(generated: Any, tmp_path: Path) -> None:
    returns, directories = generated
    events = tmp_path / "events.ndjson"
    _cli("import-903", str(directories[2020]), "--year", "2020", "--out", str(events))
    _cli("export-903", str(events), "--year", "2020", "--out", str(tmp_path / "out"))
    assert _as_set(support.read_table(tmp_path / "out" / "reviews.csv")) == _as_set(returns[2020]["reviews"])
    with (tmp_path / "out" / "episodes.csv").open() as handle:
        assert next(csv.reader(handle)) == list(support.TABLES["episodes"])
    missing = CliRunner().invoke(app, ["export-903", "--year", "2020", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "no events file" in missing.output


def test_an_oversized_field_is_a_row_error(tmp_path: Path) -> None:
    directory = a_return(tmp_path, [episode()])
    with (directory / "reviews.csv").open("w") as handle:
        handle.write("CHILD,DOB,REVIEW,REVIEW_CODE\n")
        handle.write(f"C1,10/02/2008,03/06/2017,{'x' * (MAX_FIELD + 10)}\n")
        handle.write("C1,10/02/2008,03/07/2017,PN1\n")
    result = run((2018, directory))
    reviews = [o for o in result.outcomes if o.table == "reviews"]
    assert [(o.status, o.row) for o in reviews] == [("rejected", 2), ("converted", 3)]
    assert "longer than 128 KB" in (reviews[0].reason or "")


def test_latin1_is_refused_with_a_message_and_utf16_with_a_bom_is_read(tmp_path: Path) -> None:
    directory = a_return(tmp_path / "a", [episode()])
    text = (directory / "header.csv").read_text()
    (directory / "notes.csv").write_bytes("CHILD,NOTE\nC1,café\n".encode("latin-1"))
    refused = CliRunner().invoke(app, ["import-903", str(directory), "--year", "2018"])
    assert refused.exit_code == 2 and "notes.csv: not UTF-8" in refused.output and "--encoding cp1252" in refused.output
    accepted = CliRunner().invoke(app, ["import-903", str(directory), "--year", "2018", "--encoding", "cp1252"])
    assert accepted.exit_code == 0, accepted.output
    (directory / "notes.csv").unlink()
    (directory / "header.csv").write_bytes(text.encode("utf-16"))
    result = run((2018, directory))
    assert of(result, "care.started")[0]["ethnicity"] == "WBRI"


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><EXPSSDA903><CHILD>&a;</CHILD></EXPSSDA903>'
    )
    refused = CliRunner().invoke(app, ["import-903", str(tmp_path), "--year", "2018"])
    assert refused.exit_code == 2 and "refused" in refused.output


def test_social_worker_reason_is_checked_carried_and_exported(tmp_path: Path) -> None:
    returns = support.generate(30, 2025, 2025, seed=3, social_workers=True)
    rows = returns[2025]["sw_episodes"]
    assert len(rows) >= 3
    rows[0] = rows[0] | {"SW_REASON": "SWLAZY"}
    rows[1] = rows[1] | {"SW_REASON": ""}
    result = run((2025, support.write_return(returns[2025], tmp_path / "2025")))
    sw = [o for o in result.outcomes if o.file == "sw_episodes.csv"]
    assert [(o.row, o.status, o.field) for o in sw if o.status != "converted"] == [(2, "rejected", "SW_REASON")]
    changed = {(e["child_id"], e["occurred_at"][:10]): e for e in of(result, "social_worker.changed")}
    day = {n: str(support.parse_dmy(rows[n]["SW_DECOM"])) for n in (1, 2)}
    blank = changed[(rows[1]["CHILD"], day[1])]
    assert "change_reason" not in blank
    kept = changed[(rows[2]["CHILD"], day[2])]
    assert kept["change_reason"] == rows[2]["SW_REASON"] != ""
    exported = {
        (r["CHILD"], r["SW_DECOM"]): r["SW_REASON"] for r in export.return_rows(result.events, 2025)["sw_episodes"]
    }
    assert exported[(rows[2]["CHILD"], rows[2]["SW_DECOM"])] == rows[2]["SW_REASON"]
    assert exported[(rows[1]["CHILD"], rows[1]["SW_DECOM"])] == ""
