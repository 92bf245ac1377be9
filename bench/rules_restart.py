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
table (services/rules/stream/processor.py), which reads every stored child of the worker's partitions once
(the tail of each stored value: its trailer).

National state (``--national N [N ...]``): streaming every event of 84,000 children through a worker would
take hours here, so the table is written directly instead, as a worker would have left it:

    .venv/bin/python bench/rules_restart.py --national 84000 [--sample 60] [--memory-children 10000] [--previous]

1. ``--sample`` children of the demo generator (seed 7, 10 years from 2016-04-01) are replayed by the
   kernel; their final states are the templates. Stored child ``i`` is template ``i mod sample``, re-keyed
   with a fresh pseudonymous id (every occurrence of the template's child id in its stored bytes, event ids
   included, replaced), in the partition the producer's partitioner gives that id (murmur2, as for case
   events), stored as the worker stores it (``codec.dumps`` with the partition in the trailer, faust's JSON
   key), with each partition's clock.
2. The changelog topics get the first ``--memory-children`` of them (one record per child and per clock:
   what a compacted changelog holds); the RocksDB files (faust's store through rocksdict, at the path faust
   uses for each table partition) get all N, and each partition's persisted changelog offset is the end of
   that partition's changelog, so a ``rocksdb://`` worker reads nothing of it again.
3. Restarts, each: one new event for a stored child, then a worker launched, timed to that event processed:
   the floor (no state, fresh broker), ``memory://`` (the anchor: it recovers the ``--memory-children``
   children from the changelog; fewer than N, said in the output), ``rocksdb://`` on the N children, and
   with ``--previous`` ``rocksdb://`` on the same N children stored as the previous release stored them (a
   JSON object around a format-5 state: no trailer, so the wake index decodes each value in full, as
   before the trailer).

``--layout previous`` stores every value, in the changelog and in the RocksDB files, as the previous release
did, and ``--worker-root DIR`` runs the workers from another checkout of the repository: both together, with
a checkout of the commit before the trailer, give the "before" figure (that release's own code and layout).

``--busy [YEARS]`` takes the templates from busy children (services/rules/core/tests/busy.py: ~90 events a year)
over YEARS (default 10: ~25 KB stored each; 2: ~17 KB) instead of the demo generator.

A crash (``--national N --crash [--crash-children 1000] [--kill-at 0.4]``): the templates' children are replayed
for ten years (or ``--busy`` YEARS) and their events of the six months after kept; the first
``--crash-children`` stored children get their template's events of those months (re-keyed as their states
are), in date order. Two brokers, each with the same N stored children (as above) and the same new events on
the case-events topic:

1. clean: a ``rocksdb://`` worker started on the stored state (the anchor: launch to its first event
   processed), every event processed and committed, the worker stopped;
2. crash: the same, but the worker is SIGKILLed once it has processed ``--kill-at`` of the events (RocksDB not
   closed, the consumer offsets committed some seconds behind, the changelog offsets persisted in the RocksDB
   files possibly behind the changelog), then restarted on its files: launch to its first event processed,
   then every event committed.

The two runs' alert transitions (the distinct ones: at-least-once delivery allows identical repeats, counted)
and the final stored states of the children with new events must be equal; the bench says whether they are.
No clock ticks are fed (each would wake the due children of all N).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewatch import broker as kafka
from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.rules_store import previous_value, stored_values, table_stores
from carewatch.testing.stream import WorkerProcess, read_records
from carewatch.testing.synthetic import authority
from schemas import topics
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.replay import replay
from services.rules.stream.app import APP_ID, CHILDREN_TABLE, CLOCKS_TABLE
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
    scans = re.findall(
        r"built from (\d+) stored children in ([\d.]+)s(?: \((\d+) decoded in full, (\d+) due)?", content
    )
    decoded = f", {scans[-1][2]} decoded in full, {scans[-1][3]} due at once" if scans and scans[-1][2] else ""
    scan = (
        f" (the last of {len(scans)} builds: {scans[-1][0]} children read in {scans[-1][1]}s{decoded})" if scans else ""
    )
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
    parser.add_argument(
        "--national",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="stored children written straight into the tables (see above), one run per N",
    )
    parser.add_argument("--sample", type=int, default=60, help="--national: children replayed for 10 years")
    parser.add_argument(
        "--memory-children",
        type=int,
        default=10_000,
        help="--national: children in the changelog, recovered by the memory:// anchor",
    )
    parser.add_argument(
        "--min-bytes", type=int, default=0, help="--national: only templates of at least this many stored bytes"
    )
    parser.add_argument(
        "--layout",
        choices=("current", "previous"),
        default="current",
        help="--national: the stored values of every table (changelog and RocksDB): this release's or the previous",
    )
    parser.add_argument(
        "--worker-root",
        type=Path,
        default=None,
        help="run the workers from this checkout of the repository (e.g. an earlier commit, for a 'before' figure)",
    )
    parser.add_argument(
        "--previous",
        action="store_true",
        help="--national: also restart on the same children stored as the previous release did",
    )
    parser.add_argument(
        "--busy",
        type=float,
        nargs="?",
        const=10.0,
        default=None,
        metavar="YEARS",
        help="--national: templates from busy children (services/rules/core/tests/busy.py) with YEARS of history "
        "(default 10: ~25 KB stored each; 2: ~17 KB)",
    )
    parser.add_argument(
        "--crash",
        action="store_true",
        help="--national: a worker SIGKILLed mid-stream and restarted, held against a clean run (see above)",
    )
    parser.add_argument("--crash-children", type=int, default=1000, help="--crash: stored children that get new events")
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="--crash: the share of the new events processed at the kill"
    )
    args = parser.parse_args()
    if args.crash and not args.national:
        parser.error("--crash needs --national")
    if args.worker_root is not None:
        import carewatch.testing.stream as worker_module

        worker_module.REPO_ROOT = args.worker_root.resolve()  # `python -m services.rules.stream` runs from there
    if args.national:
        national(args)
        return

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


# -- national state, written straight into the tables -----------------------------------------------------
NATIONAL_START = date(2016, 4, 1)
NATIONAL_MONTHS = 120


def pseudonym(number: int) -> str:
    return "x" + hashlib.blake2b(str(number).encode(), digest_size=6).hexdigest()


def partition_of(child_id: str, partitions: int) -> int:
    """The case-events partition kafka-python's default partitioner gives the child's key."""
    return (murmur2(child_id.encode()) & 0x7FFFFFFF) % partitions


Template = tuple[bytes, list[bytes], list[bytes], list[dict[str, Any]]]


def source_events(sample: int, busy: float | None, tail_months: int) -> tuple[list[dict[str, Any]], date]:
    """The sampled children's events over ten years (``busy`` years of busy children) and ``tail_months`` more;
    the day the years end."""
    if busy is not None:
        from services.rules.core.tests.busy import START, busy_child

        years = busy + tail_months / 12
        raw = [d for c in range(sample) for d in busy_child(f"busy-{c:04d}", years=years, seed=c + 1)]
        return raw, START + timedelta(days=round(365.25 * busy))
    from services.demo.generator import generate

    raw = [d for d in generate(seed=7, children=sample, months=NATIONAL_MONTHS + tail_months, start=NATIONAL_START)
           if not d["child_id"].startswith("kp")]  # fmt: skip
    return raw, NATIONAL_START.replace(year=NATIONAL_START.year + NATIONAL_MONTHS // 12)


def templates(
    sample: int, partitions: int, min_bytes: int = 0, *, busy: float | None = None, tail_months: int = 0
) -> tuple[list[Template], date, list[int]]:
    """Per sampled child: (its id, stored bytes per partition, the previous release's value per partition, its
    events after the ten years: ``tail_months`` of them); the date replay ran to; the encoded sizes."""
    from schemas.events import parse_event

    started = time.process_time()
    raw, cut = source_events(sample, busy, tail_months)
    events = []
    tails: dict[str, list[dict[str, Any]]] = {}
    for data in raw:
        try:
            event = parse_event(data, received_at=None)
        except ValueError:
            continue  # the generator's deliberately invalid records
        if not tail_months or event.occurred_on < cut:
            events.append(event)
        else:
            tails.setdefault(event.child_id, []).append(data)
    until = max(e.occurred_on for e in events)
    states = replay(events, until, RulesConfig.default()).states
    out = []
    sizes = []
    for child_id, state in sorted(states.items()):
        if len(codec.dumps(state)) < min_bytes:
            continue
        current = [codec.dumps(state, partition=p) for p in range(partitions)]
        sizes.append(len(current[0]))
        previous = [previous_value(state, p) for p in range(partitions)]
        out.append((child_id.encode(), current, previous, tails.get(child_id, [])))
    tail = sum(len(t[3]) for t in out)
    months = NATIONAL_MONTHS if busy is None else round(busy * 12)
    print(f"templates: {len(out)} of {len(states)} {'' if busy is None else 'busy '}children x {months} months "
          f"replayed ({len(events):,} events, {time.process_time() - started:.0f} s CPU) to {until}; stored bytes "
          f"per child mean {sum(sizes) / len(sizes):,.0f}, max {max(sizes):,}"
          + (f"; {tail:,} events of theirs in the {tail_months} months after" if tail_months else ""))  # fmt: skip
    return out, until, sizes


def national_children(
    count: int, partitions: int, made: list[Template], previous: bool
) -> Iterator[tuple[str, int, bytes]]:
    for number in range(count):
        child_id = pseudonym(number)
        partition = partition_of(child_id, partitions)
        old_id, current, older, _ = made[number % len(made)]
        value = (older if previous else current)[partition]
        yield child_id, partition, value.replace(old_id, child_id.encode())


def changelog(table: str) -> str:
    return f"{APP_ID}-{table}-changelog"


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        consumer.close()


def fill_changelogs(bootstrap: str, partitions: int, children: Iterator[tuple[str, int, bytes]], clock: date,
                    keys: Any) -> int:  # fmt: skip
    """One changelog record per child and per partition's clock; returns the children sent."""
    ensure_topics(bootstrap, partitions, names=[changelog(CHILDREN_TABLE), changelog(CLOCKS_TABLE)])
    producer = kafka.producer(bootstrap, client_id="bench-changelog", linger_ms=0, batch_size=1,
                              max_request_size=8 * 2**20)  # fmt: skip
    sent = 0
    try:
        futures = []
        children_store, clocks_store = keys
        for child_id, partition, value in children:
            key = children_store._encode_key(child_id)
            futures.append(producer.send(changelog(CHILDREN_TABLE), key=key, value=value, partition=partition))
            sent += 1
        for partition in range(partitions):
            key, value = clocks_store._encode_key(partition), clocks_store._encode_value(clock.isoformat())
            futures.append(producer.send(changelog(CLOCKS_TABLE), key=key, value=value, partition=partition))
        for future in futures:
            future.get(timeout=120)
    finally:
        producer.close()
    return sent


def write_rocksdb(data: Path, bootstrap: str, partitions: int, children: Iterator[tuple[str, int, bytes]],
                  clock: date) -> tuple[int, int]:  # fmt: skip
    """Write the children and the clocks into the rocksdb:// files a worker with data directory ``data`` opens,
    each partition's persisted changelog offset at the end of that changelog partition. Returns (children,
    bytes of values)."""
    from faust.stores.rocksdb import RocksDBOptions
    from rocksdict import WriteBatch

    children_store, clocks_store = table_stores(data, partitions)
    options = RocksDBOptions()
    dbs = {}
    for store, topic in ((children_store, CHILDREN_TABLE), (clocks_store, CLOCKS_TABLE)):
        path = store.partition_path(0).parent
        path.mkdir(parents=True, exist_ok=True)
        ends = end_offsets(bootstrap, changelog(topic), partitions)
        for partition in range(partitions):
            db = dbs[store, partition] = options.open(store.partition_path(partition))
            if ends.get(partition, 0) > 0:
                db.put(store.offset_key, str(ends[partition] - 1).encode())
    count = size = 0
    batches: dict[int, Any] = {}
    for child_id, partition, value in children:
        batch = batches.setdefault(partition, WriteBatch(raw_mode=True))
        batch.put(children_store._encode_key(child_id), value)
        count += 1
        size += len(value)
        if count % 2000 == 0:
            for number, pending in batches.items():
                dbs[children_store, number].write(pending)
            batches.clear()
    for number, pending in batches.items():
        dbs[children_store, number].write(pending)
    for partition in range(partitions):
        dbs[clocks_store, partition].put(clocks_store._encode_key(partition),
                                         clocks_store._encode_value(clock.isoformat()))  # fmt: skip
    for db in dbs.values():
        db.flush()
        db.close()
    return count, size


def national(args: argparse.Namespace) -> None:
    partitions = args.partitions
    tail = CRASH_MONTHS if args.crash else 0
    made, until, _ = templates(args.sample, partitions, args.min_bytes, busy=args.busy, tail_months=tail)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        logs = args.logs or tmp
        logs.mkdir(parents=True, exist_ok=True)
        if args.crash:
            for count in args.national:
                crash_run(args, count, made, until, tmp, logs)
            return
        with EmbeddedBroker() as empty:
            ensure_topics(empty.bootstrap, partitions)
            floor = restart(empty.bootstrap, partitions, "memory://", tmp / "empty", logs / "empty.log",
                            national_probe(0, until))  # fmt: skip
        print(f"floor, no state at all (fresh broker): {floor:.1f}s launch -> first event processed")
        for count in args.national:
            national_run(args, count, made, until, tmp, logs, floor)


def national_probe(count: int, until: date, number: int = 0) -> dict[str, Any]:
    """A new event for stored child ``number`` (among those the changelog holds too)."""
    child = pseudonym(number)
    return {"event_id": f"{child}-national-restart-{number}", "type": "sdq.recorded", "child_id": child,
            "occurred_at": until.isoformat(), "score": 12}  # fmt: skip


def national_run(args: argparse.Namespace, count: int, made: Any, until: date, tmp: Path, logs: Path,
                 floor: float) -> None:  # fmt: skip
    partitions = args.partitions
    memory_count = min(count, args.memory_children)
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions)
        started = time.monotonic()
        keys = table_stores(tmp / f"keys{count}", partitions)
        older = args.layout == "previous"
        fill_changelogs(broker.bootstrap, partitions, national_children(memory_count, partitions, made, older),
                        until, keys)  # fmt: skip
        print(f"{count:,} children: changelog topics hold {memory_count:,} of them "
              f"({time.monotonic() - started:.0f}s)")  # fmt: skip
        stores = {"rocksdb://" + (" previous release" if older else ""): tmp / f"rocks{count}"}
        if args.previous and not older:
            stores["rocksdb:// previous release"] = tmp / f"previous{count}"
        for name, data in stores.items():
            started = time.monotonic()
            stored = national_children(count, partitions, made, "previous" in name)
            written, size = write_rocksdb(data, broker.bootstrap, partitions, stored, until)
            print(f"  {name}: {written:,} children written to the RocksDB files ({size / 2**30:.2f} GiB of values, "
                  f"{time.monotonic() - started:.0f}s)")  # fmt: skip
        results: dict[str, float] = {}
        for number, (name, data) in enumerate([("memory://", tmp / f"memory{count}"), *stores.items()], 1):
            store = "memory://" if name == "memory://" else "rocksdb://"
            log = logs / f"national{count}-{number}-{store[:-3]}.log"
            results[name] = restart(broker.bootstrap, partitions, store, data, log,
                                    national_probe(count, until, number))  # fmt: skip
        memory = results["memory://"]
        print(f"national {count:,} stored children, first new event processed after launch: floor {floor:.1f}s; "
              f"memory:// anchor ({memory_count:,} children from the changelog) {memory:.1f}s")  # fmt: skip
        for name in stores:
            print(f"  {name}: {results[name]:.1f}s; ratio to the memory:// anchor {results[name] / memory:.2f}x; "
                  f"above the floor {results[name] - floor:.1f}s")  # fmt: skip
        for data in (tmp / f"keys{count}", *stores.values(), tmp / f"memory{count}"):
            _remove(data)


# -- a crash: SIGKILL mid-stream, then a restart on the same files ------------------------------------------
CRASH_MONTHS = 6


def crash_feed(made: list[Template], count: int, children: int) -> list[tuple[bytes, bytes]]:
    """The new events (key, value) of the first ``children`` stored children: each its template's events of the
    months after the ten years, re-keyed as its stored state is; in date order (each child's in its own)."""
    out = []
    for number in range(min(children, count)):
        child_id = pseudonym(number)
        old_id = made[number % len(made)][0].decode()
        for index, data in enumerate(made[number % len(made)][3]):
            value = orjson.dumps(data).replace(old_id.encode(), child_id.encode())
            out.append((str(data["occurred_at"])[:10], number, index, child_id.encode(), value))
    return [(key, value) for *_, key, value in sorted(out)]


def send_records(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(bootstrap)
    try:
        for key, value in records:
            producer.send(topics.CASE_EVENTS, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def committed(bootstrap: str, partitions: int) -> int:
    """The case-events records the rules group has committed, over all partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=APP_ID, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topics.CASE_EVENTS, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def wait_committed(worker: WorkerProcess, bootstrap: str, partitions: int, total: int, timeout: float) -> None:
    """Until the group has committed every one of the ``total`` case-events records (all processed, settled)."""
    deadline = time.monotonic() + timeout
    while committed(bootstrap, partitions) < total:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{committed(bootstrap, partitions)} of {total} records committed in {timeout:.0f}s")
        time.sleep(0.5)


def persisted_lag(data: Path, bootstrap: str, partitions: int) -> tuple[int, int]:
    """(changelog records of the children table the RocksDB files have not recorded as read, records written),
    read from the files without opening them for writing (a crashed worker's files stay as it left them)."""
    from rocksdict import AccessType, Rdict

    children, _ = table_stores(data, partitions)
    ends = end_offsets(bootstrap, changelog(CHILDREN_TABLE), partitions)
    behind = 0
    for partition in range(partitions):
        path = children.partition_path(partition)
        if not path.exists():
            continue
        db = Rdict(str(path), access_type=AccessType.read_only())
        try:
            offset = db.get(children.offset_key)
        finally:
            db.close()
        behind += ends.get(partition, 0) - (int(offset) + 1 if offset is not None else 0)
    return behind, sum(ends.values())


def all_records(bootstrap: str, topic: str, partitions: int) -> list[bytes]:
    """Every record of ``topic``, canonical JSON, sorted (its end offsets read first: one record per batch)."""
    total = sum(end_offsets(bootstrap, topic, partitions).values())
    got = read_records(bootstrap, topic, lambda records: len(records) >= total, timeout=300)
    return sorted(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) for record in got)


def crash_run(args: argparse.Namespace, count: int, made: list[Template], until: date, tmp: Path,
              logs: Path) -> None:  # fmt: skip
    """The same stored children and new events on two brokers: a clean run (the worker started on the stored
    state, every event processed, stopped) and a crash (the worker SIGKILLed mid-stream, restarted); the
    restarts timed to their first event processed, the outputs and final states compared."""
    partitions = args.partitions
    feed = crash_feed(made, count, args.crash_children)
    touched = {key.decode() for key, _ in feed}
    memory_count = min(count, args.memory_children)
    print(f"{count:,} stored children; {len(feed):,} new events for {len(touched):,} of them; changelog topics hold "
          f"{memory_count:,}")  # fmt: skip
    outputs: dict[str, tuple[list[bytes], dict[str, bytes]]] = {}
    firsts: dict[str, float] = {}
    for mode in ("clean", "crash"):
        data = tmp / f"{mode}{count}"
        with EmbeddedBroker() as broker:
            bootstrap = broker.bootstrap
            ensure_topics(bootstrap, partitions)
            keys = table_stores(tmp / f"keys{count}", partitions)
            fill_changelogs(bootstrap, partitions, national_children(memory_count, partitions, made, False), until,
                            keys)  # fmt: skip
            started = time.monotonic()
            written, size = write_rocksdb(data, bootstrap, partitions, national_children(count, partitions, made,
                                          False), until)  # fmt: skip
            print(f"  {mode}: {written:,} children written to the RocksDB files ({size / 2**30:.2f} GiB of values, "
                  f"{time.monotonic() - started:.0f}s)")  # fmt: skip
            send_records(bootstrap, feed)
            log = logs / f"crash{count}-{mode}-1.log"
            worker = WorkerProcess(bootstrap, partitions, data, log, store="rocksdb://")
            launched, launched_at = time.monotonic(), time.time()
            worker.start()
            try:
                first = wait_events(worker, 1, timeout=900) - launched
                print(f"  {mode}, start on the stored state: {phases(log, launched_at)}, the first new event "
                      f"processed {first:.1f}s")  # fmt: skip
                if mode == "clean":
                    firsts[mode] = first
                    wait_committed(worker, bootstrap, partitions, len(feed), timeout=3600)
                    print(f"  clean: every event processed and committed {time.monotonic() - launched:.1f}s "
                          f"after launch")  # fmt: skip
                else:
                    wait_events(worker, args.kill_at * len(feed), timeout=3600)
                    before = worker.counter(EVENTS)
                    worker.kill()
                    done = committed(bootstrap, partitions)
                    behind, written_log = persisted_lag(data, bootstrap, partitions)
                    print(f"  crash: SIGKILL after {before:,.0f} of {len(feed):,} events processed "
                          f"({time.monotonic() - launched:.1f}s after launch); {done:,} committed; the RocksDB "
                          f"files' persisted changelog offsets {behind:,} records behind the {written_log:,} the "
                          f"children's changelog holds")  # fmt: skip
            finally:
                worker.stop()
            if mode == "crash":
                log = logs / f"crash{count}-{mode}-2.log"
                worker = WorkerProcess(bootstrap, partitions, data, log, store="rocksdb://")
                launched, launched_at = time.monotonic(), time.time()
                worker.start()
                try:
                    firsts[mode] = wait_events(worker, 1, timeout=900) - launched
                    print(f"  crash, restart: {phases(log, launched_at)}, the first event processed "
                          f"{firsts[mode]:.1f}s")  # fmt: skip
                    wait_committed(worker, bootstrap, partitions, len(feed), timeout=3600)
                    again = worker.counter(EVENTS)
                finally:
                    worker.stop()
                print(f"  crash, restart: {again:,.0f} events processed ({before + again - len(feed):,.0f} of "
                      f"them a second time), every event committed {time.monotonic() - launched:.1f}s after "
                      f"launch")  # fmt: skip
            alerts = all_records(bootstrap, topics.ALERTS, partitions)
            outputs[mode] = (alerts, stored_values(data, partitions, touched))
        _remove(data)
        _remove(tmp / f"keys{count}")
    (clean, clean_states), (crashed, crashed_states) = outputs["clean"], outputs["crash"]
    missing, extra = set(clean) - set(crashed), set(crashed) - set(clean)
    differing = sorted(c for c in touched if clean_states.get(c) != crashed_states.get(c))
    print(f"outputs: clean {len(clean):,} transitions ({len(set(clean)):,} distinct); crash {len(crashed):,} "
          f"({len(set(crashed)):,} distinct, {len(crashed) - len(set(crashed)):,} repeated); missing after the crash "
          f"{len(missing)}, extra {len(extra)}; final states of the {len(touched):,} children differing: "
          f"{len(differing)}" + (f" (e.g. {differing[:3]})" if differing else ""))  # fmt: skip
    verdict = "equal" if not missing and not extra and not differing else "NOT EQUAL"
    print(f"national {count:,} stored children, crash restart: first event processed {firsts['crash']:.1f}s after "
          f"launch; anchor, the clean run's start on the same state {firsts['clean']:.1f}s (ratio "
          f"{firsts['crash'] / firsts['clean']:.2f}x); outputs and states {verdict}")  # fmt: skip


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
