"""``carewatch replay`` of the event archive (no file) in shards: the archive read in chunks of rows, its
payloads shared out by child into shard files as a file's lines are, and the output byte for byte that of
the replay of the whole archive in memory (``--shard-mib 0``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, event, select
from typer.testing import CliRunner

from carewatch.cli import app
from carewatch.db import make_engine, migrate
from carewatch.settings import get_settings
from schemas.events import CaseEvent, parse_event
from services.archive import store
from services.demo.generator import generate
from services.rules import sharded
from services.rules.core.config import RulesConfig
from services.rules.replay import replay, transitions_ndjson
from services.spill import Workspace

UNTIL = "2023-03-31"
RECEIVED = datetime(2023, 4, 1, 9, 0, tzinfo=UTC)


def _events(children: int, months: int) -> list[CaseEvent]:
    """The demo generator's valid events (the bad lines it mixes in are not archived: ingest rejects them)."""
    events = []
    for raw in generate(seed=7, children=children, months=months, start=date(2021, 4, 1)):
        try:
            events.append(parse_event(orjson.dumps(raw), received_at=None))
        except ValidationError:
            continue
    return events


def archive(engine: Engine, events: list[CaseEvent]) -> None:
    """Archived in batches in an arrival order that is not the fold order (every batch reversed), a batch
    sent twice (nothing added)."""
    batches = [events[start : start + 97] for start in range(0, len(events), 97)]
    for batch in batches:
        store.append(engine, list(reversed(batch)), RECEIVED)
    store.append(engine, batches[0], RECEIVED)


@pytest.fixture
def archived(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A generated history in an SQLite event archive, the configured database of the commands."""
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    archive(engine, _events(30, 24))
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        yield engine
    finally:
        get_settings.cache_clear()
        engine.dispose()


def _replay(tmp_path: Path, name: str, *options: str) -> tuple[Any, bytes, bytes]:
    directory = tmp_path / name
    directory.mkdir()
    out, summary = directory / "alerts.ndjson", directory / "summary.json"
    result = CliRunner().invoke(
        app, ["replay", "--until", UNTIL, "--out", str(out), "--summary", str(summary), *options]
    )
    assert result.exit_code == 0, result.output
    return result, out.read_bytes(), summary.read_bytes()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_archive_in_shards_gives_the_whole_archive_replay_byte_for_byte(
    archived: Engine, tmp_path: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []
    replay_split = sharded.replay_split

    def counting(shards: list[sharded.Shard], *args: Any, **named: Any) -> Any:
        counted.append(len(shards))
        return replay_split(shards, *args, **named)

    monkeypatch.setattr(sharded, "replay_split", counting)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    whole, whole_out, whole_summary = _replay(tmp_path, "whole", "--shard-mib", "0")
    assert counted == []  # --shard-mib 0: in memory
    shards, out, summary = _replay(tmp_path, "shards", "--shard-mib", "0.025", "--workers", workers)
    assert counted and counted[0] > 5  # a few dozen KiB of payloads a shard: several shards
    assert out == whole_out and summary == whole_summary
    assert shards.stdout == whole.stdout
    read = f"{store.count(archived)} events read from the event archive"
    assert read in whole.stderr and read in shards.stderr
    assert "rejected:" not in shards.stderr
    assert len(whole_out.splitlines()) > 200 and b"raised" in whole_out and b"resolved" in whole_out
    _, default_out, default_summary = _replay(tmp_path, "default")  # the default --shard-mib: in shards too
    assert len(counted) == 2 and default_out == whole_out and default_summary == whole_summary
    assert [path for path in temporary.iterdir() if not path.name.startswith("pymp-")] == []  # shards removed


def test_compare_of_the_archive_in_shards_prints_what_the_whole_replay_prints(archived: Engine, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[rules.visit-overdue]\ninterval_weeks = 2\n[rules.iha-overdue]\nenabled = false\n")
    runner = CliRunner()
    base = ["replay", "--until", UNTIL, "--compare", str(strict)]
    whole = runner.invoke(app, [*base, "--shard-mib", "0"])
    shards = runner.invoke(app, [*base, "--shard-mib", "0.025", "--workers", "2"])
    assert whole.exit_code == 0 and shards.exit_code == 0, shards.output
    assert shards.stdout == whole.stdout and "only under" in whole.stdout


def _page_queries(engine: Engine) -> list[tuple[str, Any]]:
    """The statements that read archived payloads, as they run."""
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "payload" in statement and "event_archive" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_the_archive_is_read_in_chunks_of_rows(sqlite_url: str) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        events = _events(3, 6)
        archive(engine, events)
        seen = _page_queries(engine)
        lines = store.archive_lines(engine, chunk=7)
        assert seen == []  # nothing read before the first line is asked for
        first = [next(lines) for _ in range(7)]
        assert len(seen) == 1  # one query of 7 rows gave them
        first.append(next(lines))
        assert len(seen) == 2  # the eighth line: the next chunk
        rest = list(lines)
        got = first + rest
        assert len(seen) == -(-len(got) // 7) + 1  # a chunk a query, and the empty one that ends it
        assert all("LIMIT" in statement and 7 in parameters for statement, parameters in seen)
        # Numbered by seq, in arrival order; each line the archived JSON and a newline.
        with engine.connect() as connection:
            rows = connection.execute(
                select(store.TABLE.c.seq, store.TABLE.c.payload).order_by(store.TABLE.c.seq)
            ).all()
        assert got == [(seq, payload.encode() + b"\n") for seq, payload in rows]
        assert len(got) == store.count(engine) == len({(e.child_id, e.event_id) for e in events})
        assert store.lines_size(engine) == (len(got), sum(len(raw) for _, raw in got))  # ASCII payloads
    finally:
        engine.dispose()


def test_the_chunks_of_the_archive_in_shards_give_the_whole_archive_replay(sqlite_url: str) -> None:
    """Chunks ending inside a child's events, shards sharing children out: the transitions and totals of
    the replay of the whole archive in memory."""
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        archive(engine, _events(12, 18))
        until, config = date.fromisoformat(UNTIL), RulesConfig.default()
        whole = replay(store.events_in_fold_order(engine), until, config, rebuild=True)
        with Workspace(prefix="carewatch-test-") as workspace:
            shards = sharded.split_lines(store.archive_lines(engine, chunk=11), workspace.path, 6)
            assert sum(shard.lines for shard in shards) == store.count(engine)
            total, jobs = sharded.replay_split(shards, until, config, workspace.path)
            merged = b"".join(sharded.merged(job.out for job in jobs))
        assert merged == transitions_ndjson(whole.transitions) and merged
        assert total.totals == whole.totals and total.children == len(whole.states)
        assert (total.applied, total.rejected_count) == (whole.events_applied, 0)
    finally:
        engine.dispose()
