"""SSDA903 returns converted with bounded memory (``services.ingest.ssda903.stream``): the same events in
the same order, the same outcomes and counts as the in-memory conversion, with rows shared out by child and
events and outcomes spilled to sorted runs on disk; the temporary files gone however the import ends."""

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
from services.ingest.spill import RunSorter, Workspace
from services.ingest.ssda903 import convert, stream
from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.report import write_report
from services.ingest.ssda903.source import read_return, stream_return
from services.ingest.ssda903.stream import convert_streamed
from tests.unit import ssda903_support as support

# A process started from a background job inherits SIGINT ignored, and Python then never raises
# KeyboardInterrupt: the command's own process takes Ctrl-C as a terminal would deliver it.
CTRL_C_RESTORED = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from carewatch.cli import app; app()"
)


@pytest.fixture(scope="module")
def returns(ssda903_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, Path]]:
    """The shared fixture (rejected, duplicate and reported rows; CSV and XML) as 2018, then three generated
    years in which later returns change and leave out episodes of earlier ones."""
    base = tmp_path_factory.mktemp("generated")
    generated = support.generate(120, 2019, 2021, social_workers=True)
    return [(2018, ssda903_fixtures)] + [
        (year, support.write_return(tables, base / str(year))) for year, tables in generated.items()
    ]


def in_memory(returns: list[tuple[int, Path]]) -> convert.ImportResult:
    files = [(year, read_return(directory)) for year, directory in returns]
    return convert_returns([(year, [row for source in sources for row in source.rows]) for year, sources in files])


def streamed_rows(returns: list[tuple[int, Path]]) -> list[tuple[int, Any]]:
    return [
        (year, (row for source in stream_return(directory) for row in source.rows())) for year, directory in returns
    ]


def test_spilled_runs_and_parts_give_the_in_memory_result(
    returns: list[tuple[int, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill, "FAN_IN", 3)  # more runs than merged at once: merged in rounds
    expected = in_memory(returns)
    assert len(expected.events) > 2000 and {o.status for o in expected.outcomes} == {"converted", "rejected", "skipped"}
    with Workspace(tmp_path) as workspace:
        spilled: list[int] = []
        finish = RunSorter.finish

        def counting(sorter: RunSorter) -> None:
            spilled.append(len(sorter.runs))
            finish(sorter)

        monkeypatch.setattr(RunSorter, "finish", counting)
        read: list[int] = []
        totals: list[int] = []
        converted: list[int] = []
        result = convert_streamed(
            streamed_rows(returns),
            workspace,
            parts=7,
            spill_at=97,
            reading=read.append,
            read_all=totals.append,
            progress=converted.append,
        )
        assert min(spilled) > spill.FAN_IN  # both sorters wrote several runs
        assert totals == [sum(read)] == [sum(converted)] == [len(expected.outcomes)]  # progress: every row, once
        assert len(result.events) == len(expected.events)
        assert list(result.events) == expected.events  # same events, same order
        assert list(result.events) == expected.events  # read again (to a file and to the broker)
        assert list(result.outcomes) == expected.outcomes  # same outcome of every row, in row order
        assert result.tallies() == expected.tallies()
    assert not workspace.path.exists()


def test_one_part_in_memory_is_the_same_too(returns: list[tuple[int, Path]], tmp_path: Path) -> None:
    expected = in_memory(returns[:2])
    with Workspace(tmp_path) as workspace:
        result = convert_streamed(streamed_rows(returns[:2]), workspace, parts=1, spill_at=10**9)
        assert list(workspace.path.iterdir()) == []  # nothing spilled: below the threshold
        assert list(result.events) == expected.events
        assert list(result.outcomes) == expected.outcomes


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["import-903", *args], catch_exceptions=True)


@pytest.fixture
def small_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs of 50 events, a part per 4 KiB of files, temporary files under a directory of the test."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(stream, "SPILL_AT", 50)
    monkeypatch.setattr(stream, "PART_BYTES", 4096)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    return temporary


def test_the_command_writes_the_in_memory_events_and_report_byte_for_byte(
    returns: list[tuple[int, Path]], small_runs: Path, tmp_path: Path
) -> None:
    events, report = tmp_path / "events.ndjson", tmp_path / "report.ndjson"
    args = [str(directory) for _, directory in returns] + [a for year, _ in returns for a in ("--year", str(year))]
    seen: list[int] = []
    convert_part = convert.convert_part

    def watching(*part: Any, **named: Any) -> Any:
        seen.append(sum(len(list(d.iterdir())) for d in small_runs.iterdir()))
        return convert_part(*part, **named)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert, "convert_part", watching)
        result = _cli(*args, "--out", str(events), "--report", str(report))
    assert result.exit_code == 0, result.output
    assert len(seen) > 5 and seen[-1] > 2  # several parts, and runs written before the last part
    expected = in_memory(returns)
    assert events.read_bytes() == b"".join(
        orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE) for event in expected.events
    )
    again = tmp_path / "again.ndjson"
    write_report(again, expected, [source for _, directory in returns for source in read_return(directory)])
    assert report.read_bytes() == again.read_bytes()
    assert list(small_runs.iterdir()) == []  # removed after success


def test_temporary_files_are_removed_when_a_file_cannot_be_read(
    ssda903_fixtures: Path, small_runs: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "return"
    directory.mkdir()
    for path in ssda903_fixtures.glob("*.csv"):
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "zz_broken.xml").write_text("<EXPSSDA903><CHILD><HEADER>")  # read last, after every CSV row
    result = _cli(str(directory), "--year", "2018", "--out", str(tmp_path / "events.ndjson"))
    assert result.exit_code == 2 and "not well-formed XML" in result.output
    assert list(small_runs.iterdir()) == []


def test_temporary_files_are_removed_after_ctrl_c_while_converting(
    returns: list[tuple[int, Path]], small_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    convert_part = convert.convert_part
    calls: list[int] = []

    def interrupted(*part: Any, **named: Any) -> Any:
        calls.append(sum(len(list(d.iterdir())) for d in small_runs.iterdir()))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return convert_part(*part, **named)

    monkeypatch.setattr(convert, "convert_part", interrupted)
    result = CliRunner().invoke(app, ["import-903", str(returns[1][1]), "--year", "2019"], catch_exceptions=False)
    assert len(calls) == 4 and result.exit_code == 130  # Ctrl-C, as the command line reports it
    assert calls[-1] > 2  # parts and runs were on disk when interrupted
    assert list(small_runs.iterdir()) == []


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_temporary_files_are_removed_when_a_real_signal_ends_the_command(
    sent: signal.Signals, status: int, ssda903_fixtures: Path, tmp_path: Path
) -> None:
    """Ctrl-C (SIGINT) or SIGTERM to the command in a process of its own, once its temporary files exist."""
    directory = tmp_path / "return"
    directory.mkdir()
    for path in ssda903_fixtures.glob("*.csv"):  # five copies of each child: a return that takes a while
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        body = [line.replace(",", f"_{n},", 1) if line else line for n in range(5) for line in lines[1:]]
        (directory / path.name).write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    command = [sys.executable, "-c", CTRL_C_RESTORED, "import-903", str(directory)]
    env = dict(os.environ, TMPDIR=str(temporary), TQDM_DISABLE="1")
    process = subprocess.Popen(
        [*command, "--year", "2018", "--out", str(tmp_path / "events.ndjson")],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(part.iterdir() for part in temporary.iterdir()) and time.monotonic() < deadline:
        assert process.poll() is None, "the import ended before it was interrupted"
        time.sleep(0.01)
    assert any(part.iterdir() for part in temporary.iterdir())  # parts on disk when interrupted
    process.send_signal(sent)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == status, errors.decode()[-2000:]
    assert list(temporary.iterdir()) == []
