"""``carewatch replay`` in shards (``services.rules.sharded``): the same output, byte for byte, as the replay
of the whole history in memory (``--shard-mib 0``), in one process or on several; the temporary files gone
however the replay ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from services.demo.generator import generate
from services.rules import sharded
from services.rules.replay import read_events

# A process started from a background job inherits SIGINT ignored, and Python then never raises
# KeyboardInterrupt: the command's own process takes Ctrl-C as a terminal would deliver it.
CTRL_C_RESTORED = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from carewatch.cli import app; app()"
)
UNTIL = "2023-03-31"


def _history(path: Path, children: int, months: int) -> Path:
    """The demo generator's history (with the bad lines it mixes in), plus a line that is not JSON, one
    without a child, and blank lines."""
    with path.open("wb") as handle:
        for number, raw in enumerate(generate(seed=7, children=children, months=months, start=date(2021, 4, 1))):
            handle.write(orjson.dumps(raw) + b"\n")
            if number == 40:
                handle.write(b"not json\n\n   \n")
            if number == 90:
                handle.write(b'{"event_id": "x1", "type": "visit.completed", "occurred_at": "2021-05-01"}\n')
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _history(tmp_path_factory.mktemp("history") / "events.ndjson", 30, 24)


@pytest.fixture(scope="module")
def spc_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Children starting to be looked after, 3 or 4 a month then 9 (the board raises an authority alert),
    each child in a shard of its own or nearly: the authority alerts come from every shard's part."""
    lines = []
    for m in range(25):
        for n in range(9 if m >= 18 else 3 + m % 2):
            event = {
                "event_id": f"s{m}-{n}",
                "type": "care.started",
                "child_id": f"k{m}-{n}",
                "occurred_at": f"{2024 + m // 12}-{m % 12 + 1:02d}-{n + 2:02d}",
                "date_of_birth": "2012-05-01",
                "sex": "M",
                "legal_status": "C2",
            }
            lines.append(json.dumps(event))
    path = tmp_path_factory.mktemp("spc") / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files under a directory of the test."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _left(directory: Path) -> list[Path]:
    """What is left in the temporary directory, but for the fork server's socket directory (``pymp-``), which
    multiprocessing keeps for the life of the process (this test process; a command's ends with it)."""
    return [path for path in directory.iterdir() if not path.name.startswith("pymp-")]


def _run(source: Path, out_dir: Path, *options: str, until: str = UNTIL) -> tuple[Any, bytes, bytes]:
    out_dir.mkdir()
    out, summary = out_dir / "alerts.ndjson", out_dir / "summary.json"
    result = CliRunner().invoke(
        app, ["replay", str(source), "--until", until, "--out", str(out), "--summary", str(summary), *options]
    )
    assert result.exit_code == 0, result.output
    return result, out.read_bytes(), summary.read_bytes()


@pytest.mark.parametrize("workers", ["1", "3"])
def test_shards_give_the_whole_replay_byte_for_byte(
    history: Path, temporary: Path, tmp_path: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharded, "FAN_IN", 5)  # more runs than merged at once: merged in rounds
    whole, whole_out, whole_summary = _run(history, tmp_path / "whole", "--shard-mib", "0")
    # About 26 KiB of lines a shard: a few dozen shards, most children sharing one with others.
    shards, out, summary = _run(history, tmp_path / "shards", "--shard-mib", "0.025", "--workers", workers)
    assert out == whole_out and summary == whole_summary
    assert shards.stdout == whole.stdout and shards.stderr.count("rejected") == whole.stderr.count("rejected")
    rejected = [line for line in shards.stderr.splitlines() if "rejected" in line]
    assert rejected == [line for line in whole.stderr.splitlines() if "rejected" in line]
    assert "more rejected lines" in whole.stderr  # more than 20 bad lines: the first 20 listed, the rest counted
    assert len(whole_out.splitlines()) > 200 and b"raised" in whole_out and b"resolved" in whole_out
    assert _left(temporary) == []  # removed after success


def test_authority_alerts_from_every_shard(spc_history: Path, temporary: Path, tmp_path: Path) -> None:
    _, whole_out, whole_summary = _run(spc_history, tmp_path / "whole", "--shard-mib", "0", until="2026-01-31")
    _, out, summary = _run(
        spc_history, tmp_path / "shards", "--shard-mib", "0.001", "--workers", "2", until="2026-01-31"
    )
    assert out == whole_out and summary == whole_summary
    assert b'"scope":"authority"' in out


def test_compare_in_shards_prints_what_the_whole_replay_prints(
    history: Path, temporary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharded, "FAN_IN", 5)
    strict = tmp_path / "strict.toml"
    strict.write_text("[rules.visit-overdue]\ninterval_weeks = 2\n[rules.iha-overdue]\nenabled = false\n")
    runner = CliRunner()
    base = ["replay", str(history), "--until", UNTIL, "--compare", str(strict)]
    whole = runner.invoke(app, [*base, "--shard-mib", "0", "--out", str(tmp_path / "whole.ndjson")])
    shards = runner.invoke(
        app, [*base, "--shard-mib", "0.025", "--workers", "2", "--out", str(tmp_path / "shards.ndjson")]
    )
    assert whole.exit_code == 0 and shards.exit_code == 0, shards.output
    assert shards.stdout == whole.stdout and "only under" in whole.stdout
    assert (tmp_path / "shards.ndjson").read_bytes() == (tmp_path / "whole.ndjson").read_bytes()
    assert _left(temporary) == []


def test_split_keeps_each_child_in_one_shard_and_every_line_in_file_order(history: Path, tmp_path: Path) -> None:
    shards = sharded.split(history, tmp_path, 20_000)
    raw_lines = history.read_bytes().splitlines(keepends=True)
    assert len(shards) == -(-history.stat().st_size // 20_000)
    seen: list[int] = []
    children: dict[str, int] = {}
    for shard in shards:
        lines = list(sharded.read_shard(shard.path))
        assert len(lines) == shard.lines and [n for n, _ in lines] == sorted(n for n, _ in lines)
        for number, raw in lines:
            assert raw == raw_lines[number - 1]
            seen.append(number)
            try:
                child = orjson.loads(raw).get("child_id")
            except orjson.JSONDecodeError:
                child = None
            if child is None:
                assert shard.index == 0  # not JSON, or no child: rejected in shard 0
            else:
                assert children.setdefault(child.strip(), shard.index) == shard.index
    assert sorted(seen) == [n for n, raw in enumerate(raw_lines, start=1) if raw.strip()]
    assert len(children) > 30 and len(Counter(children.values())) > 3  # children spread over the shards


def test_a_shard_parses_its_lines_as_the_whole_file_is_parsed(history: Path, tmp_path: Path) -> None:
    events, rejected = read_events(history)
    found, first, count = [], [], 0
    for shard in sharded.split(history, tmp_path, 20_000):
        mine, bad, bad_count = sharded.parse_shard(shard.path)
        found += mine
        first += bad
        count += bad_count
    assert sorted(e.event_id for e in found) == sorted(e.event_id for e in events)
    assert count == len(rejected)
    assert sorted(first, key=lambda bad: bad.line)[: sharded.REPORTED] == rejected[: sharded.REPORTED]


def test_temporary_files_are_removed_when_a_shard_fails(
    history: Path, temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    replay = sharded.replay

    def failing(*args: Any, **named: Any) -> Any:
        calls.append(sum(1 for _ in temporary.rglob("*")))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return replay(*args, **named)

    monkeypatch.setattr(sharded, "replay", failing)
    result = CliRunner().invoke(app, ["replay", str(history), "--until", UNTIL, "--shard-mib", "0.025"])
    assert isinstance(result.exception, RuntimeError) and len(calls) == 3
    assert calls[-1] > 3  # shards and runs were on disk when it failed
    assert _left(temporary) == []


def test_temporary_files_are_removed_after_ctrl_c_between_shards(
    history: Path, temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    replay_shard = sharded.replay_shard

    def interrupted(job: sharded.Job) -> sharded.Outcome:
        calls.append(sum(1 for _ in temporary.rglob("*")))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return replay_shard(job)

    monkeypatch.setattr(sharded, "replay_shard", interrupted)
    result = CliRunner().invoke(app, ["replay", str(history), "--until", UNTIL, "--shard-mib", "0.025"])
    assert len(calls) == 4 and result.exit_code == 130  # Ctrl-C, as the command line reports it
    assert calls[-1] > 3
    assert _left(temporary) == []


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_temporary_files_are_removed_when_a_real_signal_ends_the_command(
    tmp_path: Path, workers: str, sent: signal.Signals, status: int
) -> None:
    """Ctrl-C (SIGINT) or SIGTERM to the command in a process of its own (and its workers' group, as a
    terminal or a service manager sends it), once its shards are on disk and being replayed."""
    source = _history(tmp_path / "events.ndjson", 60, 36)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    command = [sys.executable, "-c", CTRL_C_RESTORED, "replay", str(source), "--until", UNTIL]
    env = dict(os.environ, TMPDIR=str(temporary), TQDM_DISABLE="1")
    process = subprocess.Popen(
        [*command, "--shard-mib", "0.05", "--workers", workers, "--out", str(tmp_path / "alerts.ndjson")],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not any(path.suffix == ".run" for path in temporary.rglob("*")) and time.monotonic() < deadline:
        assert process.poll() is None, "the replay ended before it was interrupted"
        time.sleep(0.01)
    assert any(path.suffix == ".lines" for path in temporary.rglob("*"))  # shards left to replay
    os.killpg(process.pid, sent)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == status, errors.decode()[-2000:]
    assert list(temporary.iterdir()) == []
    assert not (tmp_path / "alerts.ndjson").exists()
