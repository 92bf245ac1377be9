"""Rules stream on Tansu: backlog throughput, end-to-end latency and worker memory. Prints figures only.

    .venv/bin/python bench/rules_stream.py [--children 2000] [--partitions 8] [--probes 500] [--rate 100]

1. Throughput: a synthetic authority's history (events and daily ticks, in replay order) is written to the
   topic first; then one worker (``python -m services.rules.stream``) starts and the time from its first
   processed record to its last gives records/s (read from its /metrics).
2. Latency: probe children are set up, then one SDQ of 30 per probe child is sent at ``--rate`` per second;
   each raises an ``sdq-concern`` alert at once. Latency = alert read back from ``ALERTS`` − send time.
3. Memory: the worker's resident set (VmRSS) and peak (VmHWM) from /proc.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.stream import WorkerProcess
from carewatch.testing.synthetic import authority
from schemas import topics
from schemas.events import parse_event
from services.rules.stream.clock import feed, make_producer

FIRST, LAST, UNTIL = date(2024, 7, 1), date(2026, 6, 30), date(2026, 7, 31)
PROBE_DAY = "2026-07-31"


COUNTED: Final = (
    "carewatch_rules_events_processed_total",
    "carewatch_rules_ticks_total ",
    "carewatch_rules_bad_records_total",
)


def processed(worker: WorkerProcess) -> float:
    """Records the worker has handled, from its /metrics."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in worker.metrics().splitlines() if line.startswith(COUNTED))


def wait_processed(worker: WorkerProcess, target: float, timeout: float) -> tuple[float, float]:
    """Poll /metrics until ``target`` records are processed; returns (first seen moving, done) times."""
    deadline = time.monotonic() + timeout
    started: float | None = None
    baseline = processed(worker)
    while time.monotonic() < deadline:
        worker.check_alive()
        count = processed(worker)
        now = time.monotonic()
        if started is None and count > baseline:
            started = now
        if count >= target:
            return (started or now), now
        time.sleep(0.05)
    raise TimeoutError(f"worker processed {processed(worker):.0f} of {target:.0f} records in {timeout:.0f}s")


def rss_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def probe_event(kind: str, number: int) -> dict[str, Any]:
    child = f"probe{number:05d}"
    if kind == "care":
        return {"event_id": f"{child}-care", "type": "care.started", "child_id": child, "occurred_at": PROBE_DAY,
                "date_of_birth": "2012-02-02", "sex": "U", "legal_status": "C2"}  # fmt: skip
    return {"event_id": f"{child}-sdq", "type": "sdq.recorded", "child_id": child, "occurred_at": PROBE_DAY,
            "score": 30}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="probe events per second")
    args = parser.parse_args()

    events = [parse_event(d, received_at=None) for d in authority(args.children, 3, FIRST, LAST)]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, args.partitions)
        producer = make_producer(broker.bootstrap)
        t0 = time.perf_counter()
        sent_events, tick_days = feed(producer, events, UNTIL, partitions=args.partitions)
        records = sent_events + tick_days * args.partitions
        feed_seconds = time.perf_counter() - t0
        print(f"history: {args.children} children, {sent_events} events + {tick_days} tick days "
              f"= {records} records; fed in {feed_seconds:.1f}s ({records / feed_seconds:,.0f} records/s)")  # fmt: skip

        worker = WorkerProcess(broker.bootstrap, args.partitions, Path(tmp) / "data", Path(tmp) / "worker.log")
        launched = time.monotonic()
        worker.start()
        try:
            worker.wait_metrics()
            first, done = wait_processed(worker, records, timeout=1800)
            print(f"worker: first record processed {first - launched:.1f}s after launch")
            print(f"throughput: {records / (done - first):,.0f} records/s "
                  f"({sent_events / (done - first):,.0f} events/s counting events only; "
                  f"{records} records in {done - first:.1f}s)")  # fmt: skip
            rss, peak = rss_kib(worker.process.pid) if worker.process else (0, 0)
            print(f"memory after backlog: RSS {rss / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")

            latency = measure_latency(broker.bootstrap, producer, worker, args.probes, args.rate)
            if latency:
                ordered = sorted(latency)
                p50 = statistics.median(ordered)
                p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                print(f"end-to-end latency (event sent -> alert read), {len(ordered)} probes at {args.rate:.0f}/s: "
                      f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")  # fmt: skip
            rss, peak = rss_kib(worker.process.pid) if worker.process else (0, 0)
            print(f"memory at the end: RSS {rss / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")
        finally:
            worker.stop()
            producer.close()


def measure_latency(bootstrap: str, producer: Any, worker: WorkerProcess, probes: int, rate: float) -> list[float]:
    for number in range(probes):
        event = probe_event("care", number)
        producer.send(topics.CASE_EVENTS, key=event["child_id"].encode(), value=orjson.dumps(event))
    producer.flush()
    target = processed(worker) + probes
    wait_processed(worker, target, timeout=600)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    assignment = [TopicPartition(topics.ALERTS, p) for p in sorted(consumer.partitions_for_topic(topics.ALERTS))]
    consumer.assign(assignment)
    consumer.seek_to_end(*assignment)
    for tp in assignment:
        consumer.position(tp)  # resolve the end offsets now, before any probe is sent
    sent: dict[str, float] = {}
    received: dict[str, float] = {}

    def send() -> None:
        interval = 1.0 / rate
        start = time.monotonic()
        for number in range(probes):
            pause = start + number * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            event = probe_event("sdq", number)
            sent[event["event_id"]] = time.monotonic()
            producer.send(topics.CASE_EVENTS, key=event["child_id"].encode(), value=orjson.dumps(event))
        producer.flush()

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + probes / rate + 120
    while len(received) < probes and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=50).values():
            now = time.monotonic()
            for message in batch:
                record = orjson.loads(message.value)
                if record["rule"] == "sdq-concern" and record["state"] == "raised":
                    for evidence in record["evidence"]:
                        received.setdefault(evidence["event_id"], now)
    sender.join()
    consumer.close()
    return [received[key] - sent[key] for key in received if key in sent]


if __name__ == "__main__":
    main()
