"""The CIN census import streamed (``services.ingest.cin.stream``): the XML read one Child at a time, each
child converted alone, events and outcomes spilled to sorted runs on disk; the same events in the same order,
the same outcomes and counts as the in-memory conversion; hostile or broken XML refused with nothing written;
the temporary files gone however the import ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from services import spill
from services.ingest.cin import convert, stream
from services.ingest.cin.source import CensusReader, CensusRefused, read_census
from services.ingest.spill import RunSorter, Workspace
from services.ingest.ssda903.report import write_report
from services.ingest.ssda903.source import SourceFile
from tests.support.cin_census import to_xml, valid_return
from tests.unit.test_import_cin import HOSTILE
from tests.unit.test_ssda903_stream import CTRL_C_RESTORED


def awkward(children: int = 120, *, twice: bool = True) -> bytes:
    """A return with every kind of outcome: LAchildIDs used twice (rule 8510), a bad LAchildID, a rejected
    referral, a second ChildIdentifiers, unknown elements, a header after the children and a second Children
    element (not read, as by the whole-file reader)."""
    kids = valid_return(children=children, seed=11)
    if twice:
        kids[5].la_child_id = kids[2].la_child_id
        kids[9].la_child_id = kids[2].la_child_id
    kids[7].la_child_id = "bad-id"
    kids[11].episodes[0].source = "99"
    kids[14].episodes[0].referral = None  # type: ignore[assignment]
    xml = to_xml(kids, 2025).replace(b"<Child>", b"<Child><Pet>x</Pet>", 1)
    parts = xml.split(b"</ChildIdentifiers>")
    parts[3] += b"</ChildIdentifiers><ChildIdentifiers><LAchildID>ZZ9</LAchildID>"
    xml = b"</ChildIdentifiers>".join(parts).replace(b"</CINdetails>", b"<Odd><A/></Odd></CINdetails>", 2)
    header_start, header_end = xml.index(b"<Header>"), xml.index(b"</Header>") + len(b"</Header>")
    header = xml[header_start:header_end]
    xml = xml[:header_start] + xml[header_end:]
    return xml.replace(
        b"</Children>",
        b"</Children>" + header + b"<Children><Child><ChildIdentifiers><LAchildID>Q1</LAchildID>"
        b"</ChildIdentifiers></Child></Children>",
    )


@pytest.fixture
def census(tmp_path: Path) -> Path:
    path = tmp_path / "cin.xml"
    path.write_bytes(awkward())
    return path


def test_the_reader_gives_the_items_and_header_of_the_whole_file_reader(census: Path) -> None:
    whole = read_census(census)
    reader = CensusReader(census)
    read: list[int] = []
    streamed = [item for items in reader.children(read.append) for item in items]
    assert streamed == whole.items and reader.header == whole.header and reader.header["Collection"] == "CIN"
    assert sum(read) == census.stat().st_size and len(read) > len({item.child for item in streamed})
    assert {item.child for item in streamed} == set(range(1, 121))  # not the child of the second Children


def test_spilled_runs_give_the_in_memory_result(census: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "FAN_IN", 3)  # more runs than merged at once: merged in rounds
    expected = convert.convert(read_census(census), 2025)
    statuses = {o.status for o in expected.outcomes}
    assert len(expected.events) > 300 and statuses == {"converted", "rejected", "skipped"}
    assert sum("rule 8510" in (o.reason or "") for o in expected.outcomes) > 2
    runs: list[int] = []
    finish = RunSorter.finish

    def counting(sorter: RunSorter) -> None:
        runs.append(len(sorter.runs))
        finish(sorter)

    monkeypatch.setattr(RunSorter, "finish", counting)
    again: list[bool] = []
    with Workspace(tmp_path) as workspace:
        result = stream.convert_streamed(
            CensusReader(census), 2025, workspace, spill_at=17, again=lambda: again.append(True)
        )
        assert again == [True]  # an LAchildID used twice: read a second time
        assert min(runs) > spill.FAN_IN  # ids, events and outcomes all written as several runs
        assert list(result.events) == expected.events  # same events, same order
        assert list(result.events) == expected.events  # read again (to a file and to the broker)
        assert len(result.events) == len(expected.events)
        assert list(result.outcomes) == expected.outcomes  # same outcome of every item, in order
        assert result.tallies() == expected.tallies()
    assert not workspace.path.exists()


def test_a_return_without_a_repeated_id_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_bytes(awkward(40, twice=False))
    expected = convert.convert(read_census(path), 2025)
    again: list[bool] = []
    with Workspace(tmp_path) as workspace:
        result = stream.convert_streamed(CensusReader(path), 2025, workspace, again=lambda: again.append(True))
        assert again == [] and list(workspace.path.rglob("*.run")) == []  # nothing spilled below the threshold
        assert list(result.events) == expected.events and list(result.outcomes) == expected.outcomes


@pytest.fixture
def small_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs of 11 items, temporary files under a directory of the test."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(stream, "SPILL_AT", 11)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    return temporary


def _on_disk(temporary: Path) -> int:
    return sum(1 for path in temporary.rglob("*.run"))


def _watch(temporary: Path, monkeypatch: pytest.MonkeyPatch, stop_at: int = 0) -> list[int]:
    """The run files on disk as each child is converted; Ctrl-C at child ``stop_at``."""
    seen: list[int] = []
    convert_child = convert.convert_child

    def watching(*args: Any) -> Any:
        seen.append(_on_disk(temporary))
        if len(seen) == stop_at:
            raise KeyboardInterrupt
        return convert_child(*args)

    monkeypatch.setattr(stream, "convert_child", watching)
    return seen


@pytest.mark.parametrize("report_name", ["report.ndjson", "report.csv"])
def test_the_command_writes_the_in_memory_events_and_report_byte_for_byte(
    census: Path, small_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report_name: str
) -> None:
    events, report = tmp_path / "events.ndjson", tmp_path / report_name
    seen = _watch(small_runs, monkeypatch)
    result = CliRunner().invoke(
        app, ["import-cin", str(census), "--year", "2026", "--out", str(events), "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert len(seen) == 2 * 120 and seen[-1] > 10  # read twice (LAchildIDs used twice), runs written on the way
    whole = read_census(census)
    expected = convert.convert(whole, 2026)
    assert events.read_bytes() == b"".join(
        orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE) for event in expected.events
    )
    note = convert.header_note(whole.header, 2026)
    assert note == "ReferenceDate 2025-03-31 is not 31 March 2026" and f"note: cin.xml: {note}" in result.stderr
    again = tmp_path / f"again-{report_name}"
    write_report(again, expected, [SourceFile(whole.name, "xml", [], note)])
    assert report.read_bytes() == again.read_bytes()
    assert list(small_runs.iterdir()) == []  # removed after success


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_before_anything_is_written(
    name: str, small_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, events = tmp_path / "cin.xml", tmp_path / "events.ndjson"
    path.write_bytes(HOSTILE[name])
    seen = _watch(small_runs, monkeypatch)
    result = CliRunner().invoke(app, ["import-cin", str(path), "--year", "2025", "--out", str(events)])
    assert result.exit_code == 2 and "refused unsafe XML" in result.stderr
    assert seen == [] and not events.exists() and list(small_runs.iterdir()) == []
    with pytest.raises(CensusRefused, match="refused unsafe XML"):
        next(iter(CensusReader(path).children()))  # at the top of the file: before the first child


def test_xml_broken_late_in_the_file_leaves_no_output_and_no_temporary_files(
    census: Path, small_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = census.read_bytes()
    census.write_bytes(data[: data.rindex(b"</Child>", 0, data.index(b"</Children>"))])  # the last child cut short
    events, report = tmp_path / "events.ndjson", tmp_path / "report.ndjson"
    seen = _watch(small_runs, monkeypatch)
    result = CliRunner().invoke(
        app, ["import-cin", str(census), "--year", "2025", "--out", str(events), "--report", str(report)]
    )
    assert result.exit_code == 2 and "not well-formed XML" in result.stderr
    assert len(seen) == 119 and seen[-1] > 10  # children converted and runs on disk before the error
    assert not events.exists() and not report.exists() and list(small_runs.iterdir()) == []


def test_temporary_files_are_removed_after_ctrl_c(
    census: Path, small_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _watch(small_runs, monkeypatch, stop_at=100)
    result = CliRunner().invoke(app, ["import-cin", str(census), "--year", "2025"], catch_exceptions=False)
    assert len(seen) == 100 and result.exit_code == 130  # Ctrl-C, as the command line reports it
    assert seen[-1] > 10 and list(small_runs.iterdir()) == []


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_temporary_files_are_removed_when_a_real_signal_ends_the_command(
    sent: signal.Signals, status: int, tmp_path: Path
) -> None:
    """Ctrl-C (SIGINT) or SIGTERM to the command in a process of its own, once its temporary directory exists."""
    path = tmp_path / "cin.xml"
    path.write_bytes(to_xml(valid_return(children=3000), 2025))  # a return that takes a while
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    command = [sys.executable, "-c", CTRL_C_RESTORED, "import-cin", str(path)]
    process = subprocess.Popen(
        [*command, "--year", "2025", "--out", str(tmp_path / "events.ndjson")],
        env=dict(os.environ, TMPDIR=str(temporary), TQDM_DISABLE="1"),
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(workspace.iterdir() for workspace in temporary.iterdir()) and time.monotonic() < deadline:
        assert process.poll() is None, "the import ended before it was interrupted"
        time.sleep(0.01)
    process.send_signal(sent)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == status, errors.decode()[-2000:]
    assert list(temporary.iterdir()) == [] and not (tmp_path / "events.ndjson").exists()
