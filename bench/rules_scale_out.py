"""Rules stream scale-out on Tansu: records/s of two workers against one worker, in the same run.

    .venv/bin/python bench/rules_scale_out.py [--children 400] [--partitions 8] [--workers 2] [--rounds 1]

For each setting (one worker, then ``--workers`` workers; ``--rounds`` alternations), on a broker of its own:
the workers start and are let into the consumer group (clock ticks for a day before the history until each
reads partitions of its own); then a synthetic authority's history (events and daily ticks in replay order)
is sent, and the time from the first record sent to the last record processed (the workers' /metrics,
summed) gives records/s. The anchor is the one-worker figure of the same run; the ratio is the scale-out.
Everything (broker, feeder, workers) shares this machine's cores: ``os.cpu_count()`` is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.stream import WorkerProcess, wait_for_split
from carewatch.testing.synthetic import authority
from schemas.events import CaseEvent, parse_event
from services.rules.stream.clock import feed, make_producer, send_ticks

FIRST, LAST, UNTIL = date(2024, 7, 1), date(2026, 6, 30), date(2026, 7, 31)
COUNTED = (
    "carewatch_rules_events_processed_total{",
    "carewatch_rules_ticks_total ",
    "carewatch_rules_bad_records_total{",
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_cpu(workers: list[WorkerProcess], broker: EmbeddedBroker) -> tuple[float, float]:
    """(CPU seconds of every worker, of the broker) so far."""
    pids = [worker.process.pid for worker in workers if worker.process is not None]
    return sum(map(cpu_seconds, pids)), cpu_seconds(broker.process.pid) if broker.process else 0.0


def processed(workers: list[WorkerProcess]) -> float:
    return sum(worker.counter(prefix) for worker in workers for prefix in COUNTED)


class Run(NamedTuple):
    rate: float
    """records/s, wall time from the first record sent to the last processed"""
    records: int
    owned: list[set[int]]
    worker_cpu_ms: float
    """CPU time of all the workers together, per record"""
    broker_cpu_ms: float
    elapsed: float


def run(events: list[CaseEvent], partitions: int, count: int, tmp: Path) -> Run:
    """``count`` workers over the history."""
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions)
        producer = make_producer(broker.bootstrap)
        workers = [
            WorkerProcess(broker.bootstrap, partitions, tmp / f"w{count}-{n}", tmp / f"w{count}-{n}.log")
            for n in range(count)
        ]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.wait_metrics()
            warm_up_day = min(event.occurred_on for event in events) - timedelta(days=1)

            def warm_up() -> None:
                for future in send_ticks(producer, warm_up_day, partitions):
                    future.get(timeout=30)

            owned = wait_for_split(workers, partitions, warm_up, timeout=180)
            baseline = processed(workers)
            cpu_before = processes_cpu(workers, broker)
            counts: list[tuple[int, int]] = []
            started = time.monotonic()
            feeder = threading.Thread(
                target=lambda: counts.append(feed(producer, events, UNTIL, partitions=partitions)), daemon=True
            )
            feeder.start()
            feeder.join(timeout=1800)
            sent_events, tick_days = counts[0]
            records = sent_events + tick_days * partitions
            deadline = time.monotonic() + 1800
            while processed(workers) - baseline < records:
                if time.monotonic() > deadline:
                    raise TimeoutError("the workers did not finish the history")
                for worker in workers:
                    worker.check_alive()
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            workers_cpu, broker_cpu = (b - a for a, b in zip(cpu_before, processes_cpu(workers, broker), strict=True))
            return Run(records / elapsed, records, owned, workers_cpu / records * 1000, broker_cpu / records * 1000,
                       elapsed)  # fmt: skip
        finally:
            for worker in workers:
                worker.stop()
            producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=400)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternations of one worker and --workers workers")
    parser.add_argument("--standby", type=int, default=None, help="CAREWATCH_RULES_STANDBY_REPLICAS of the workers")
    args = parser.parse_args()
    if args.standby is not None:
        os.environ["CAREWATCH_RULES_STANDBY_REPLICAS"] = str(args.standby)  # the workers inherit it

    events = [parse_event(d, received_at=None) for d in authority(args.children, 3, FIRST, LAST)]
    standby = os.environ.get("CAREWATCH_RULES_STANDBY_REPLICAS", "1 (default)")
    print(f"history: {args.children} children, {len(events)} events, {args.partitions} partitions, standby {standby}; "
          f"{os.cpu_count()} CPUs on this machine for the broker, the feeder and every worker")  # fmt: skip
    results: dict[int, list[Run]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for count in (1, args.workers):
                result = run(events, args.partitions, count, Path(tmp))
                results[count].append(result)
                print(f"{count} worker(s): {result.rate:,.0f} records/s ({result.records} records in "
                      f"{result.elapsed:.1f}s); CPU per record: workers {result.worker_cpu_ms:.2f} ms, broker "
                      f"{result.broker_cpu_ms:.2f} ms; partitions {result.owned}")  # fmt: skip
    one = max(results[1], key=lambda r: r.rate)
    many = max(results[args.workers], key=lambda r: r.rate)
    print(f"anchor, one worker: {one.rate:,.0f} records/s (best of {args.rounds})")
    print(f"{args.workers} workers: {many.rate:,.0f} records/s (best of {args.rounds}); "
          f"ratio {many.rate / one.rate:.2f}x; workers' CPU per record "
          f"{many.worker_cpu_ms / one.worker_cpu_ms:.2f}x one worker's")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
