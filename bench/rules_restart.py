"""Rules worker restart with state on Tansu: RocksDB store (rocksdict) against the memory store, same run.

    .venv/bin/python bench/rules_restart.py [--children 5000] [--partitions 8] [--rounds 1]

1. State: ``--children`` children of a synthetic authority (up to six months of care history each, no
   ticks) go
   through a worker with the ``rocksdb://`` store, which writes every state to the changelog topic and to
   its RocksDB files; the worker is then stopped (SIGTERM).
2. Restart, per store, alternating: one new event (a child's SDQ) is sent, a worker is started, and the
   time from its launch to that event processed (its /metrics) is the restart time. ``memory://`` (the
   anchor) starts empty and recovers every table from the changelog topic; ``rocksdb://`` reopens its
   files and reads only the changelog records written since (the memory worker's one event).
   A worker with no state at all (its own broker, empty topics) gives the floor: process start, group join.

The first new event of a partition after an assignment also builds that partition's wake index from the
table (services/rules/stream/processor.py), which reads every stored child of the worker's partitions once.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.stream import WorkerProcess
from carewatch.testing.synthetic import authority
from schemas import topics
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.replay import replay
from services.rules.stream.clock import make_producer

FIRST, LAST = date(2026, 1, 1), date(2026, 6, 30)
SAMPLE = 200
EVENTS = "carewatch_rules_events_processed_total{"


def wait_events(worker: WorkerProcess, target: float, timeout: float) -> float:
    """Poll /metrics until the worker has processed ``target`` events; returns the monotonic time it saw it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        try:
            if worker.counter(EVENTS) >= target:
                return time.monotonic()
        except OSError:
            pass  # /metrics not up yet
        time.sleep(0.05)
    raise TimeoutError(f"worker processed {worker.counter(EVENTS):.0f} of {target:.0f} events in {timeout:.0f}s")


PHASES = (
    ("archive checked against the topic", "services.archive.republish:"),
    ("faust starting", "[^Worker]: Starting..."),
    ("group joined", "Highwater for active changelog partitions"),
    ("tables recovered", "[^---Recovery]: Recovery complete"),
    ("worker ready", "[^---Recovery]: Worker ready"),
    ("wake indexes built", "wake indexes of partitions"),
)


def phases(log: Path, launched_at: float) -> str:
    """When the worker's log shows each phase, in seconds after launch (its last start in the log)."""
    seen: dict[str, float] = {}
    content = log.read_text(errors="replace")
    for line in content.splitlines():
        for name, marker in PHASES:
            if marker in line:
                text = line[1:24] if line.startswith("[") else line[:23]
                stamp = datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if stamp >= launched_at - 1:
                    seen.setdefault(name, stamp - launched_at)
    checks = re.findall(r"(full check \([^)]*\)|since the watermark): (\d+) topic records read in ([\d.]+)s", content)
    check = f"; archive check: {checks[-1][0]}, {checks[-1][1]} topic records in {checks[-1][2]}s" if checks else ""
    scans = re.findall(r"built from (\d+) stored children in ([\d.]+)s", content)
    scan = f" (the last of {len(scans)} builds: {scans[-1][0]} children read in {scans[-1][1]}s)" if scans else ""
    return ", ".join(f"{name} {seen[name]:.1f}s" for name, _ in PHASES if name in seen) + scan + check


def restart(bootstrap: str, partitions: int, store: str, data: Path, log: Path, probe: dict[str, Any]) -> float:
    """Send ``probe``, start a worker, return the seconds from its launch to the probe processed."""
    producer = make_producer(bootstrap)
    try:
        producer.send(topics.CASE_EVENTS, key=probe["child_id"].encode(), value=orjson.dumps(probe)).get(timeout=30)
    finally:
        producer.close()
    worker = WorkerProcess(bootstrap, partitions, data, log, store=store)
    launched, launched_at = time.monotonic(), time.time()
    worker.start()
    try:
        seconds = wait_events(worker, 1, timeout=900) - launched
    finally:
        worker.stop()
    print(f"  {store} after launch: {phases(log, launched_at)}, the new event processed {seconds:.1f}s")
    return seconds


def sdq(child: str, number: int) -> dict[str, Any]:
    return {"event_id": f"{child}-restart-{number}", "type": "sdq.recorded", "child_id": child,
            "occurred_at": LAST.isoformat(), "score": 12}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs in this directory")
    args = parser.parse_args()

    raw = authority(args.children, 5, FIRST, LAST)
    sample = {f"c{number:06d}" for number in range(min(args.children, SAMPLE))}
    sizes = [len(orjson.dumps(codec.encode(s))) for s in replay_states([d for d in raw if d["child_id"] in sample])]
    print(f"state: {args.children} children, {len(raw)} events; encoded state per child (first {len(sizes)}) "
          f"mean {sum(sizes) / len(sizes):,.0f} B, max {max(sizes):,} B")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name, EmbeddedBroker() as broker:
        tmp = Path(tmp_name)
        logs = args.logs or tmp
        logs.mkdir(parents=True, exist_ok=True)
        ensure_topics(broker.bootstrap, args.partitions)
        producer = make_producer(broker.bootstrap)
        try:
            for data in raw:
                producer.send(topics.CASE_EVENTS, key=data["child_id"].encode(), value=orjson.dumps(data))
            producer.flush()
        finally:
            producer.close()
        rocks = tmp / "rocksdb"
        builder = WorkerProcess(broker.bootstrap, args.partitions, rocks, logs / "build.log", store="rocksdb://")
        started = time.monotonic()
        builder.start()
        try:
            wait_events(builder, len(raw), timeout=3600)
        finally:
            builder.stop()
        print(f"state built by a rocksdb:// worker in {time.monotonic() - started:.0f}s (launch to last event)")

        with EmbeddedBroker() as empty:
            ensure_topics(empty.bootstrap, args.partitions)
            floor = restart(empty.bootstrap, args.partitions, "memory://", tmp / "empty", logs / "empty.log",
                            sdq("c000000", 0))  # fmt: skip
        print(f"floor, no state at all (fresh broker): {floor:.1f}s launch -> first event processed")

        results: dict[str, list[float]] = {"memory://": [], "rocksdb://": []}
        number = 0
        for round_ in range(args.rounds):
            for store in results:
                number += 1
                directory = tmp / f"memory{round_}" if store == "memory://" else rocks
                child = f"c{(number * 7919) % args.children:06d}"
                log = logs / f"restart{number}-{store[:-3]}.log"
                seconds = restart(broker.bootstrap, args.partitions, store, directory, log, sdq(child, number))
                results[store].append(seconds)
                print(f"restart with {store}: {seconds:.1f}s launch -> the new event processed")
        memory, rocksdb = min(results["memory://"]), min(results["rocksdb://"])
        print(f"anchor, memory:// (recovery from the changelog): {memory:.1f}s (best of {args.rounds})")
        print(f"rocksdb:// (rocksdict): {rocksdb:.1f}s (best of {args.rounds}); ratio {rocksdb / memory:.2f}x; "
              f"above the floor: {memory - floor:.1f}s memory, {rocksdb - floor:.1f}s rocksdb")  # fmt: skip


def replay_states(raw: list[dict[str, Any]]) -> list[Any]:
    from schemas.events import parse_event

    events = [parse_event(d, received_at=None) for d in raw]
    return list(replay(events, LAST, RulesConfig.default()).states.values())


if __name__ == "__main__":
    main()
