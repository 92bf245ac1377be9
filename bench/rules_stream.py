"""Rules stream on Tansu: backlog throughput against a bare faust agent, latency and worker memory.

    .venv/bin/python bench/rules_stream.py [--children 400] [--partitions 8] [--probes 300] [--rate 100]

1. Throughput: a synthetic authority's history (events and daily ticks, in replay order) is written to the
   topic first. **Anchor**: a bare faust agent (same faust settings, same memory store, its own consumer
   group) reads the same records from the same partitions and makes one table write per record; its
   records/s is timed inside its process from its first record to its last. Then one rules worker
   (``python -m services.rules.stream``) reads them, timed from its first processed record to its last
   (read from its /metrics). Printed: both rates, the ratio, and CPU time per record of each process.
2. Latency: probe children are set up, then one SDQ of 30 per probe child is sent at ``--rate`` per second;
   each raises an ``sdq-concern`` alert at once. Engine-added latency (record taken by the agent →
   transitions handed to the producer) and the time to the record's state written (its outputs acknowledged,
   then the settler's window) come from the worker's histograms (``carewatch_rules_engine_seconds``,
   ``carewatch_rules_processing_seconds``), differenced over the probe phase. End-to-end latency = alert
   read back from ``ALERTS`` − send time.
3. Memory: the worker's resident set (VmRSS) and peak (VmHWM) from /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
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

from carewatch.broker import FAUST_GROUP_SETTINGS, EmbeddedBroker, ensure_topics
from carewatch.testing.stream import WorkerProcess
from carewatch.testing.synthetic import authority
from schemas import topics
from schemas.events import parse_event
from services.rules.stream.app import PRODUCER_LINGER_SECONDS
from services.rules.stream.clock import feed, make_producer

FIRST, LAST, UNTIL = date(2024, 7, 1), date(2026, 6, 30), date(2026, 7, 31)
PROBE_DAY = "2026-07-31"


# Each /metrics scrape costs the worker CPU (at 20 per second about a tenth of its samples under py-spy).
POLL_SECONDS: Final = 0.25
COUNTED: Final = (
    "carewatch_rules_events_processed_total",
    "carewatch_rules_ticks_total ",
    "carewatch_rules_bad_records_total",
)


def processed(worker: WorkerProcess) -> float:
    """Records the worker has handled, from its /metrics."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in worker.metrics().splitlines() if line.startswith(COUNTED))


def wait_processed(worker: WorkerProcess, target: float, timeout: float, pid: int = 0) -> tuple[float, float, float]:
    """Poll /metrics until ``target`` records are processed; returns (first seen moving, done) times and the
    CPU seconds process ``pid`` used between them (0 without a pid)."""
    deadline = time.monotonic() + timeout
    started: float | None = None
    cpu_start = 0.0
    baseline = processed(worker)
    while time.monotonic() < deadline:
        worker.check_alive()
        try:
            count = processed(worker)
        except (TimeoutError, OSError):  # a scrape can time out on a loaded machine: poll again
            continue
        now = time.monotonic()
        if started is None and count > baseline:
            started = now
            cpu_start = cpu_seconds(pid) if pid else 0.0
        if count >= target:
            return (started or now), now, (cpu_seconds(pid) - cpu_start if pid else 0.0)
        time.sleep(POLL_SECONDS)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def anchor_worker(bootstrap: str, partitions: int, records: int, datadir: str, result: str) -> None:
    """The anchor, run in its own process: a bare faust agent with one table write per record."""
    import faust

    app = faust.App(
        "carewatch-bench-bare",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        autodiscover=False,
        **FAUST_GROUP_SETTINGS,
        producer_linger=PRODUCER_LINGER_SECONDS,
        topic_partitions=partitions,
        topic_replication_factor=1,
        web_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topics.CASE_EVENTS, key_serializer="raw", value_serializer="raw")
    table = app.Table("bench-bare-records")
    seen = {"count": 0, "first": 0.0, "first_cpu": 0.0}

    @app.agent(source, name="bare")
    async def bare(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            if seen["count"] == 0:
                seen["first"], seen["first_cpu"] = time.monotonic(), time.process_time()
            key = message.key.decode() if message.key else str(message.partition)
            table[key] = {"partition": message.partition, "offset": message.offset, "value": message.value.decode()}
            seen["count"] += 1
            if seen["count"] == records:
                done = {"first": seen["first"], "done": time.monotonic(),
                        "cpu": time.process_time() - seen["first_cpu"]}  # fmt: skip
                Path(result).write_text(json.dumps(done))

    faust.Worker(app, loglevel="warning", redirect_stdouts=False, quiet=True).execute_from_commandline()


def run_anchor(bootstrap: str, partitions: int, records: int, tmp: Path) -> tuple[float, float]:
    """Run the bare agent over the backlog; returns (records/s, CPU seconds per record)."""
    result = tmp / "anchor.json"
    command = [sys.executable, __file__, "--anchor-worker", bootstrap, str(partitions), str(records),
               str(tmp / "anchor-data"), str(result)]  # fmt: skip
    with (tmp / "anchor.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 900
            while not result.exists():
                if process.poll() is not None:
                    raise RuntimeError(f"anchor exited with {process.returncode}: {(tmp / 'anchor.log').read_text()}")
                if time.monotonic() > deadline:
                    raise TimeoutError("anchor did not finish")
                time.sleep(0.05)
            time.sleep(0.05)  # the file is complete (written in one call); let it land
            found = json.loads(result.read_text())
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return records / (found["done"] - found["first"]), found["cpu"] / records


def histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of a histogram in a /metrics exposition."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile(before: dict[float, float], after: dict[float, float], share: float) -> float:
    """A quantile of the observations made between two readings, interpolated within its bucket
    (as Prometheus' histogram_quantile does); +Inf if it falls in the last, open bucket."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank = share * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return bound
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return bounds[-1]


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--anchor-worker":
        bootstrap, partitions, records, datadir, result = sys.argv[2:]
        sys.argv[1:] = ["worker"]  # faust's command line: run the worker
        anchor_worker(bootstrap, int(partitions), int(records), datadir, result)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=400)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="probe events per second")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the worker during the backlog (samples of the thread holding the GIL, so CPU work and not "
        "waits on a socket): collapsed stacks here",
    )
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

        anchor_rate, anchor_cpu = run_anchor(broker.bootstrap, args.partitions, records, Path(tmp))
        print(f"anchor, bare faust agent (one table write per record): {anchor_rate:,.0f} records/s, "
              f"{anchor_cpu * 1000:.2f} ms CPU per record")  # fmt: skip

        worker = WorkerProcess(broker.bootstrap, args.partitions, Path(tmp) / "data", Path(tmp) / "worker.log")
        launched = time.monotonic()
        worker.start()
        try:
            worker.wait_metrics()
            pid = worker.process.pid if worker.process else 0
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "-f", "raw",
                     "-r", "200", "-o", str(args.profile), "--nonblocking", "--gil"],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
            first, done, cpu = wait_processed(worker, records, timeout=1800, pid=pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
            rate = records / (done - first)
            print(f"worker: first record processed {first - launched:.1f}s after launch")
            print(f"rules worker: {rate:,.0f} records/s ({sent_events / (done - first):,.0f} events/s counting "
                  f"events only; {records} records in {done - first:.1f}s), {cpu / records * 1000:.2f} ms CPU "
                  f"per record")  # fmt: skip
            print(f"ratio rules worker / bare agent: {rate / anchor_rate:.2f}x (target >= 0.8x); "
                  f"CPU per record {cpu / records / anchor_cpu:.1f}x the anchor's")  # fmt: skip
            rss, peak = rss_kib(pid) if pid else (0, 0)
            print(f"memory after backlog: RSS {rss / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")

            before = worker.metrics()
            latency = measure_latency(broker.bootstrap, producer, worker, args.probes, args.rate)
            after = worker.metrics()
            if latency:
                ordered = sorted(latency)
                p50 = statistics.median(ordered)
                p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                for label, name in (
                    ("engine-added (record taken -> transitions sent)", "carewatch_rules_engine"),
                    (
                        "record taken -> state written (outputs acknowledged, settle window)",
                        "carewatch_rules_processing",
                    ),
                ):
                    start, end = histogram(before, f"{name}_seconds"), histogram(after, f"{name}_seconds")
                    print(f"{label}, probe phase: p50 {quantile(start, end, 0.5) * 1000:.2f} ms, "
                          f"p99 {quantile(start, end, 0.99) * 1000:.2f} ms (from the worker's histogram)")  # fmt: skip
                print(f"end-to-end latency (event sent -> alert read), {len(ordered)} probes at {args.rate:.0f}/s: "
                      f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")  # fmt: skip
            rss, peak = rss_kib(pid) if pid else (0, 0)
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

    # A short fetch wait, so that this reader adds little to the latency it measures.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
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
