"""National scale: replay of N children × 10 years from the demo generator, its time and peak RSS, on one
core, with the anchor from the same run, and the linear extrapolation to 84,000 children.

* the anchor: bare ``parse_event`` of the same NDJSON lines (lines/s);
* replay (``services.rules.replay.replay``: kernel, wake index, daily ticks, alert transitions and
  indicator deltas) of the parsed events: CPU seconds, events/s and the ratio to the anchor;
* the resident set at start, with the parsed history in memory and after the replay (every child's state
  and the transitions added), the peak (``ru_maxrss``), and the encoded size of the final states;
* the extrapolation to ``--target`` children (84,000: about the children looked after in England) over
  the same months: CPU time and RSS scaled linearly in the number of children from this run. It is an
  extrapolation, not a measurement: it assumes the cost per child stays what it is here (the per-event
  cost is flat in history length, and children do not interact), and that the history is held in memory
  as here (``replay`` sorts the whole history).

    .venv/bin/python bench/national.py [--children 300] [--months 120] [--seed 7] [--target 84000]

``--sharded`` measures ``carewatch replay`` in shards instead (``services.rules.sharded.replay_file``, what
the command runs: the file split by child into shards of ``--shard-mib`` on disk, each parsed and replayed
on its own, on ``--workers`` processes, the transitions merged into ``--out``'s bytes), at each of
``--sizes`` children, each size in a fresh process of its own:

* the anchor: bare ``parse_event`` of the same NDJSON lines, read from the file one by one (lines/s);
* CPU: the parent's (split, merge; everything with one worker) plus each shard's parse and replay in its
  worker process; the ratio to the anchor (lines per CPU second over the anchor's lines/s); wall time;
* peak resident set (``VmHWM``) of the parent and the largest of the processes that ran a shard;
* the extrapolation to ``--target`` children: CPU minutes, wall minutes at ``--workers`` (and the ideal
  at 8 workers), linear in children; the memory does not grow with children (it is per shard).

    .venv/bin/python bench/national.py --sharded --sizes 300,1000 --months 120 [--workers 2] [--shard-mib 8]

Prints figures only; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson
from kernel import cpu, parse_all  # the kernel bench beside this script: the same anchor

from services.demo.generator import generate
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.replay import replay
from services.rules.sharded import merged, replay_file
from services.rules.sharded import peak_mib as sharded_peak_mib

START = date(2016, 4, 1)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """The resident set now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def write_history(path: Path, children: int, months: int, seed: int) -> int:
    """The generator's history as NDJSON, written line by line: how many lines."""
    count = 0
    with path.open("wb") as handle:
        for raw in generate(seed=seed, children=children, months=months, start=START):
            handle.write(orjson.dumps(raw) + b"\n")
            count += 1
    return count


def anchor(path: Path) -> tuple[int, float, date]:
    """(lines, CPU seconds, last event date) of bare ``parse_event`` of every non-blank line of the file,
    none kept (the generator's deliberately invalid records are parsed too, and rejected)."""
    from pydantic import ValidationError

    from schemas.events import parse_event

    lines, last = 0, START
    began = cpu()
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                lines += 1
                try:
                    last = max(last, parse_event(raw, received_at=None).occurred_on)
                except ValidationError:
                    continue
    return lines, cpu() - began, last


def measure(path: Path, until: date, shard_mib: float, workers: int) -> dict[str, float]:
    """One sharded replay of the file, in this process (started for it): what ``carewatch replay FILE --out``
    runs, the transitions merged into a file as the command writes them."""
    config = RulesConfig.default()
    start_rss = rss_mib()
    began_wall, began_cpu = time.monotonic(), cpu()
    with tempfile.TemporaryDirectory(prefix="carewatch-bench-") as directory:
        total, jobs = replay_file(
            path, until, config, Path(directory), shard_bytes=int(shard_mib * 2**20), workers=workers
        )
        out = Path(directory) / "alerts.ndjson"
        with out.open("wb") as handle:
            for line in merged([job.out for job in jobs]):
                handle.write(line)
        out_bytes = out.stat().st_size
    wall, own_cpu = time.monotonic() - began_wall, cpu() - began_cpu
    in_process = workers <= 1 or len(jobs) <= 1  # one shard, or one worker: replayed in this process
    shard_cpu = 0.0 if in_process else total.cpu_seconds
    return {
        "shards": len(jobs),
        "lines": total.lines,
        "events": total.events,
        "children": total.children,
        "transitions": total.transitions,
        "out_mib": out_bytes / 2**20,
        "wall": wall,
        "cpu": own_cpu + shard_cpu,
        "parent_cpu": own_cpu,
        "start_rss": start_rss,
        "parent_peak": sharded_peak_mib(),  # VmHWM: ru_maxrss would count this bench's memory at the exec
        "worker_peak": 0.0 if in_process else total.peak_mib,
        "in_process": in_process,
    }


def sharded_main(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"sharded replay: --shard-mib {args.shard_mib:g}, --workers {args.workers}, {args.months} months from "
        f"{START}, seed {args.seed}; each size in a process of its own"
    )
    rows = []
    for children in sizes:
        with tempfile.TemporaryDirectory(prefix="carewatch-national-") as directory:
            path = Path(directory) / "events.ndjson"
            lines = write_history(path, children, args.months, args.seed)
            parsed, parse_seconds, last = anchor(path)
            rate = parsed / parse_seconds
            command = [sys.executable, __file__, "--measure", str(path), "--until", last.isoformat()]
            command += ["--shard-mib", str(args.shard_mib), "--workers", str(args.workers)]
            found = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            size_mib = path.stat().st_size / 2**20
        ratio = found["lines"] / found["cpu"] / rate
        rows.append((children, found, rate, ratio))
        print(
            f"{children:>6,} children: {lines:,} lines ({size_mib:,.1f} MiB), {found['events']:,} events, "
            f"{found['shards']} shards, {found['transitions']:,} transitions\n"
            f"        anchor parse_event {rate:,.0f} lines/s ({parse_seconds:.1f} s CPU); sharded replay "
            f"{found['cpu']:,.1f} s CPU (parent {found['parent_cpu']:,.1f} s), {found['wall']:,.1f} s wall: "
            f"{found['lines'] / found['cpu']:,.0f} lines/CPU s, ratio to the anchor {ratio:.3f}x\n"
            f"        peak RSS: parent {found['parent_peak']:,.0f} MiB (at start {found['start_rss']:,.0f}), largest "
            f"worker {found['worker_peak']:,.0f} MiB"
        )
    children, found, rate, ratio = rows[-1]
    scale = args.target / children
    cpu_minutes = found["cpu"] * scale / 60
    serial = found["parent_cpu"] * scale / 60 if not found["in_process"] else cpu_minutes
    workers = max(1, args.workers)
    print(
        f"extrapolated (linear in children from the {children:,}-children run, not measured) to {args.target:,} "
        f"children x {args.months} months: {found['events'] * scale / 1e6:,.1f} M events, {cpu_minutes:,.0f} CPU "
        f"minutes; wall about {max(cpu_minutes / workers, serial):,.0f} min at {workers} worker(s) on as many free "
        f"cores, about {max(cpu_minutes / 8, serial):,.0f} min at 8 (the parent's split and merge: "
        f"{serial:,.1f} min); peak RSS per process as measured (per shard, not per child): parent "
        f"{found['parent_peak']:,.0f} MiB + {workers} x {max(found['worker_peak'], found['parent_peak']):,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", type=int, default=84_000)
    parser.add_argument("--sharded", action="store_true", help="measure the sharded replay at --sizes")
    parser.add_argument("--sizes", default="300,1000", help="children, comma-separated (--sharded)")
    parser.add_argument("--shard-mib", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--until", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, date.fromisoformat(args.until), args.shard_mib, args.workers)))
        return
    if args.sharded:
        sharded_main(args)
        return
    config = RulesConfig.default()
    start_rss = rss_mib()

    lines = [
        orjson.dumps(raw) for raw in generate(seed=args.seed, children=args.children, months=args.months, start=START)
    ]
    began = cpu()
    events = parse_all(lines)
    parse_seconds = cpu() - began
    parse_rate = len(lines) / parse_seconds
    del lines
    gc.collect()
    until = max(e.occurred_on for e in events)
    before_rss = rss_mib()
    print(
        f"history: {args.children:,} children x {args.months} months from {START}: {len(events):,} events "
        f"({len(events) / args.children:,.0f} per child)"
    )
    print(f"anchor  parse_event: {parse_rate:>10,.0f} lines/s ({parse_seconds:.2f} s CPU)")

    began = cpu()
    result = replay(events, until, config)
    seconds = cpu() - began
    rate = len(events) / seconds
    after_rss = rss_mib()
    peak = peak_mib()
    encoded = sum(len(codec.dumps(state)) for state in result.states.values())
    print(
        f"replay (kernel):      {rate:>10,.0f} events/s ({seconds:.1f} s CPU, {result.ticks:,} tick touches, "
        f"{len(result.transitions):,} transitions); ratio to the anchor {rate / parse_rate:.3f}x"
    )
    history = (before_rss - start_rss) / args.children
    kept = (after_rss - before_rss) / args.children
    print(
        f"RSS: {start_rss:,.0f} MiB at start (imports), {before_rss:,.0f} MiB with the parsed history "
        f"({history * 1024:,.0f} KiB per child), {after_rss:,.0f} MiB after replay (states and transitions: "
        f"{kept * 1024:,.0f} KiB per child); peak {peak:,.0f} MiB (the generated lines included); encoded states "
        f"{encoded / args.children:,.0f} bytes per child"
    )
    scale = args.target / args.children
    print(
        f"extrapolated (linear in children, not measured) to {args.target:,} children x {args.months} months: "
        f"{len(events) * scale / 1e6:,.1f} M events, replay {seconds * scale / 60:,.1f} min CPU on one core; "
        f"RSS about {(start_rss + (history + kept) * args.target) / 1024:,.1f} GiB with the whole history parsed "
        f"in memory as here, {(start_rss + kept * args.target) / 1024:,.1f} GiB for the states and transitions "
        f"alone (parse alone at the anchor's rate: {len(events) * scale / parse_rate / 60:,.1f} min)"
    )


if __name__ == "__main__":
    main()
