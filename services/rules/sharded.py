"""Replay of a history of any size with bounded memory: the file read once and shared out by child into
shard files on disk, each shard replayed on its own, the outputs merged into what the whole replay gives.

Children do not interact: each child's alerts and indicator deltas come from its own events and ticks only
(the kernel keeps every memo in the child's state), so replaying the children in groups gives each child
the same transitions, and the board's totals are integer sums. :func:`split` reads the NDJSON file once and
(through :func:`split_lines`, which also shares out the event archive's payloads, numbered by their seq)
appends each line, with its line number, to the shard of its child (by a CRC-32 of the child id, about
``shard_bytes`` of lines per shard); :func:`replay_shard` parses a shard's lines (a bad line is reported with
its number in the file and the same reason as :func:`~services.rules.replay.read_events` gives), replays
them with :func:`~services.rules.replay.replay` and writes the transitions, in the replay's order, to a run
on disk; :func:`replay_shards` runs the shards one after the other or on ``workers`` processes, and
:func:`merged_ndjson` merges the runs on (at, fingerprint), which only the transitions of one child (one
shard) share, so the bytes are those of the whole replay. Every file lives in the caller's
:class:`~services.spill.Workspace`, removed however the replay ends.

Memory: the parent holds at most :data:`BUFFER_BYTES` of lines while splitting and one run item per shard
while merging; a shard's replay holds its parsed events and its children's states (about 20× the shard's
bytes on disk for the demo generator's histories).
"""

from __future__ import annotations

import heapq
import multiprocessing
import pickle
import resource
import signal
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import ValidationError

from schemas.alerts import AlertTransition
from schemas.deltas import NOTHING, Contribution
from schemas.events import CaseEvent, parse_event
from services.spill import FAN_IN, read_run

from .core.config import RulesConfig
from .replay import Rejected, rejection, replay

SHARD_MIB: Final = 8
"""The default size of a shard's lines on disk (``carewatch replay --shard-mib``)."""
BUFFER_BYTES: Final = 32 * 2**20
"""Lines held in memory while splitting before they are appended to their shard files."""
REPORTED: Final = 20
"""Rejected lines kept for the report (the first ones of the file); the rest are counted."""
_HEAD: Final = struct.Struct("<QI")  # line number, length of the line's bytes

Part = Callable[[Sequence[CaseEvent], date], Any]
"""What a shard's events give a caller besides the replay (the board's authority-alert part): a
module-level function, so that it reaches the worker processes."""


@dataclass(frozen=True)
class Shard:
    index: int
    path: Path
    lines: int


def shard_of(raw: bytes, count: int) -> int:
    """The shard of a line: by its child id as the event schema reads it (surrounding whitespace stripped);
    a line that is not a JSON object with a string ``child_id`` goes to shard 0 (rejected there)."""
    try:
        child = orjson.loads(raw).get("child_id")
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    if not isinstance(child, str):
        return 0
    return zlib.crc32(child.strip().encode("utf-8", "surrogatepass")) % count


def shard_count(size: int, shard_bytes: int) -> int:
    """How many shards ``size`` bytes of lines make at about ``shard_bytes`` a shard (at least one)."""
    return max(1, -(-size // max(1, shard_bytes)))


def split(
    path: Path, directory: Path, shard_bytes: int, *, progress: Callable[[int], None] | None = None
) -> list[Shard]:
    """The non-blank lines of ``path`` shared out into ``ceil(size / shard_bytes)`` shard files in
    ``directory``, each line with its number, in file order. ``progress(bytes_read)`` after each batch."""
    count = shard_count(path.stat().st_size, shard_bytes)
    with path.open("rb") as handle:
        return split_lines(enumerate(handle, start=1), directory, count, progress=progress)


def split_lines(
    lines: Iterable[tuple[int, bytes]],
    directory: Path,
    count: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[Shard]:
    """``lines`` (a number, the line's bytes with its newline), read once in their order, shared out into
    ``count`` shard files in ``directory`` (blank lines left out): a file's lines numbered from 1, or the
    event archive's payloads numbered by their seq (:func:`services.archive.store.archive_lines`).
    ``progress(bytes_read)`` after each batch."""
    count = max(1, count)
    paths = [directory / f"shard-{index:05d}.lines" for index in range(count)]
    buffers = [bytearray() for _ in range(count)]
    shard_lines = [0] * count
    held = done = 0

    def flush() -> None:
        for index, buffer in enumerate(buffers):
            if buffer:
                with paths[index].open("ab") as handle:
                    handle.write(buffer)
                buffer.clear()

    for target in paths:
        target.touch()
    for number, raw in lines:
        done += len(raw)
        if not raw.strip():
            continue
        index = shard_of(raw, count) if count > 1 else 0
        buffer = buffers[index]
        buffer += _HEAD.pack(number, len(raw))
        buffer += raw
        shard_lines[index] += 1
        held += len(raw) + _HEAD.size
        if held >= BUFFER_BYTES:
            flush()
            held = 0
            if progress is not None:
                progress(done)
    flush()
    if progress is not None:
        progress(done)
    return [Shard(index, paths[index], shard_lines[index]) for index in range(count)]


def read_shard(path: Path) -> Iterator[tuple[int, bytes]]:
    """A shard's lines: (line number in the file, the line's bytes), in file order."""
    with path.open("rb") as handle:
        while head := handle.read(_HEAD.size):
            number, size = _HEAD.unpack(head)
            yield number, handle.read(size)


def parse_shard(path: Path) -> tuple[list[CaseEvent], list[Rejected], int]:
    """The shard's events and its first :data:`REPORTED` rejected lines, and how many were rejected."""
    events: list[CaseEvent] = []
    rejected: list[Rejected] = []
    count = 0
    for number, raw in read_shard(path):
        try:
            events.append(parse_event(raw, received_at=None))
        except ValidationError as exc:
            count += 1
            if len(rejected) < REPORTED:
                rejected.append(rejection(number, exc))
    return events, rejected, count


@dataclass(frozen=True)
class Job:
    """One shard's replay: where its lines are, where its transitions go, what to run."""

    shard: Shard
    until: date
    config: RulesConfig
    out: Path
    compare: RulesConfig | None = None
    compare_out: Path | None = None
    part: Part | None = None


@dataclass
class Outcome:
    """What a shard's replay (or, summed by :meth:`add`, every shard's) gives besides its transitions."""

    lines: int = 0
    events: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    """The first :data:`REPORTED` rejected lines, in file order."""
    rejected_count: int = 0
    applied: int = 0
    after_until: int = 0
    children: int = 0
    ticks: int = 0
    rebuilt: int = 0
    transitions: int = 0
    raised: Counter[str] = field(default_factory=Counter)
    """Raised transitions by rule."""
    totals: dict[str, Contribution] = field(default_factory=dict)
    """Every indicator delta summed (indicators at zero left out), sorted by indicator once joined."""
    parts: list[Any] = field(default_factory=list)
    """What ``part`` gave for each shard."""
    cpu_seconds: float = 0.0
    """CPU time of the shards' parse and replay (summed over the processes that ran them)."""
    peak_mib: float = 0.0
    """The largest peak resident set of a process that ran a shard (:func:`peak_mib`)."""

    def add(self, other: Outcome) -> None:
        self.lines += other.lines
        self.events += other.events
        self.rejected = sorted(self.rejected + other.rejected, key=lambda bad: bad.line)[:REPORTED]
        self.rejected_count += other.rejected_count
        self.applied += other.applied
        self.after_until += other.after_until
        self.children += other.children
        self.ticks += other.ticks
        self.rebuilt += other.rebuilt
        self.transitions += other.transitions
        self.raised.update(other.raised)
        for indicator, value in other.totals.items():
            total = self.totals.get(indicator, NOTHING) + value
            if total:
                self.totals[indicator] = total
            else:
                self.totals.pop(indicator, None)
        self.totals = dict(sorted(self.totals.items()))
        self.parts.extend(other.parts)
        self.cpu_seconds += other.cpu_seconds
        self.peak_mib = max(self.peak_mib, other.peak_mib)


def write_run(path: Path, transitions: Iterable[AlertTransition]) -> None:
    """Transitions (already in the replay's order) as a run of (at, fingerprint, NDJSON line) items."""
    with path.open("wb") as handle:
        for t in transitions:
            item = (t.at, t.fingerprint, t.model_dump_json().encode() + b"\n")
            handle.write(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))


def replay_shard(job: Job) -> Outcome:
    """Parse, replay and write one shard (its lines file is removed once read)."""
    began = time.process_time()
    events, rejected, rejected_count = parse_shard(job.shard.path)
    job.shard.path.unlink()
    result = replay(events, job.until, job.config, rebuild=True)
    write_run(job.out, result.transitions)
    outcome = Outcome(
        lines=job.shard.lines,
        events=len(events),
        rejected=rejected,
        rejected_count=rejected_count,
        applied=result.events_applied,
        after_until=result.events_after_until,
        children=len(result.states),
        ticks=result.ticks,
        rebuilt=result.rebuilt,
        transitions=len(result.transitions),
        raised=Counter(t.rule for t in result.transitions if t.state == "raised"),
        totals=result.totals,
    )
    del result
    if job.compare is not None and job.compare_out is not None:
        other = replay(events, job.until, job.compare, rebuild=True)
        write_run(job.compare_out, (t for t in other.transitions if t.state == "raised"))
        del other
    if job.part is not None:
        outcome.parts.append(job.part(events, job.until))
    outcome.cpu_seconds = time.process_time() - began
    outcome.peak_mib = peak_mib()
    return outcome


def peak_mib() -> float:
    """This process's peak resident set: ``VmHWM`` of its memory (``ru_maxrss`` where there is no
    ``/proc``, which after an ``exec`` also counts the memory of the process that started it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ignore_ctrl_c() -> None:
    """A worker leaves Ctrl-C to the parent, which stops the workers and removes the files."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def replay_shards(jobs: Sequence[Job], workers: int = 1) -> Iterator[Outcome]:
    """Each job's outcome as it finishes: one after the other in this process (``workers`` 1), else on
    ``workers`` processes, a fresh one per shard (each starts from the same small memory). The processes
    are stopped however the iteration ends (an error, Ctrl-C in the parent, the caller stopping).

    The processes come from a fork server (forked from a process without threads, with this module and those
    of the jobs' ``part`` already imported), never forked from this process, whose threads (a progress
    bar's monitor) may hold locks at the moment of the fork."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield replay_shard(job)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        modules = {__name__} | {job.part.__module__ for job in jobs if job.part is not None}
        context.set_forkserver_preload(sorted(modules))
    pool = context.Pool(min(workers, len(jobs)), initializer=_ignore_ctrl_c, maxtasksperchild=1)
    try:
        yield from pool.imap_unordered(replay_shard, jobs)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def replay_file(
    path: Path,
    until: date,
    config: RulesConfig,
    directory: Path,
    *,
    shard_bytes: int = SHARD_MIB * 2**20,
    workers: int = 1,
    compare: RulesConfig | None = None,
    part: Part | None = None,
    split_progress: Callable[[int], None] | None = None,
    shards_progress: Callable[[list[Shard]], Callable[[Outcome], None]] | None = None,
) -> tuple[Outcome, list[Job]]:
    """``carewatch replay`` of a file in shards, in ``directory``: :func:`split`, then
    :func:`replay_split`. ``split_progress(bytes_read)``."""
    shards = split(path, directory, shard_bytes, progress=split_progress)
    return replay_split(
        shards,
        until,
        config,
        directory,
        workers=workers,
        compare=compare,
        part=part,
        shards_progress=shards_progress,
    )


def replay_split(
    shards: Sequence[Shard],
    until: date,
    config: RulesConfig,
    directory: Path,
    *,
    workers: int = 1,
    compare: RulesConfig | None = None,
    part: Part | None = None,
    shards_progress: Callable[[list[Shard]], Callable[[Outcome], None]] | None = None,
) -> tuple[Outcome, list[Job]]:
    """The shards (of a file or of the event archive) replayed in ``directory``: every shard's outcome
    summed, and the jobs, whose runs (``out``, ``compare_out``) hold the transitions for :func:`merged` and
    :func:`raised_of`. ``shards_progress(shards)`` gives the callback called with each shard's outcome as
    it finishes."""
    jobs = [
        Job(
            shard,
            until,
            config,
            directory / f"shard-{shard.index:05d}.run",
            compare=compare,
            compare_out=directory / f"shard-{shard.index:05d}.compare" if compare is not None else None,
            part=part,
        )
        for shard in shards
    ]
    done = shards_progress(list(shards)) if shards_progress is not None else None
    total = Outcome()
    for outcome in replay_shards(jobs, workers):
        total.add(outcome)
        if done is not None:
            done(outcome)
    return total, jobs


def merged(runs: Iterable[Path], extra: Sequence[AlertTransition] = ()) -> Iterator[bytes]:
    """The NDJSON lines of the runs and of ``extra`` (sorted by (at, fingerprint)) merged on (at,
    fingerprint): transitions of one alert keep their order, as in the stable sort of the whole replay.
    At most :data:`~services.spill.FAN_IN` runs are open at once: more are first merged into fewer runs
    (beside them; the runs merged are removed)."""
    runs = list(runs)
    rounds = 0
    while len(runs) > FAN_IN:
        group, runs = runs[:FAN_IN], runs[FAN_IN:]
        rounds += 1
        into = group[0].with_name(f"merged-{rounds:05d}.run")
        with into.open("wb") as handle:
            for item in heapq.merge(*(read_run(path) for path in group), key=_on_at_and_fingerprint):
                handle.write(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
        for path in group:
            path.unlink()
        runs.append(into)
    extra_items = ((t.at, t.fingerprint, t.model_dump_json().encode() + b"\n") for t in extra)
    for item in heapq.merge(*(read_run(path) for path in runs), extra_items, key=_on_at_and_fingerprint):
        yield item[2]


def _on_at_and_fingerprint(item: tuple[Any, ...]) -> tuple[Any, ...]:
    return item[0], item[1]


def raised_of(runs: Iterable[Path]) -> list[AlertTransition]:
    """The raised transitions in the runs (a compare run holds only those), for the comparison."""
    found = (AlertTransition.model_validate_json(item[2]) for path in runs for item in read_run(path))
    return [t for t in found if t.state == "raised"]
