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


def processed(workers: list[WorkerProcess]) -> float:
    return sum(worker.counter(prefix) for worker in workers for prefix in COUNTED)


def run(events: list[CaseEvent], partitions: int, count: int, tmp: Path) -> tuple[float, int, list[set[int]]]:
    """Records/s of ``count`` workers over the history; returns (records/s, records, each worker's partitions)."""
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
            return records / elapsed, records, owned
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
    args = parser.parse_args()

    events = [parse_event(d, received_at=None) for d in authority(args.children, 3, FIRST, LAST)]
    print(f"history: {args.children} children, {len(events)} events, {args.partitions} partitions; "
          f"{os.cpu_count()} CPUs on this machine for the broker, the feeder and every worker")  # fmt: skip
    results: dict[int, list[float]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for count in (1, args.workers):
                rate, records, owned = run(events, args.partitions, count, Path(tmp))
                results[count].append(rate)
                print(f"{count} worker(s): {rate:,.0f} records/s ({records} records); partitions {owned}")
    one, many = max(results[1]), max(results[args.workers])
    print(f"anchor, one worker: {one:,.0f} records/s (best of {args.rounds})")
    print(f"{args.workers} workers: {many:,.0f} records/s (best of {args.rounds}); ratio {many / one:.2f}x")


if __name__ == "__main__":
    main()
