"""Throughput of the pure rules core on one core: Engine.on_event, Engine.on_tick, state JSON round trip,
and the stream's Processor (decode, evaluate, board contributions, table write) without a broker.

    .venv/bin/python bench/rules_core.py [--children 300] [--events-per-child 60] [--seed 7]

Prints figures (CPU time of this process, so other load on the machine does not distort them; latency
percentiles are wall time per call); never passes or fails on time.

Anchors, measured in the same run on the same input: for ``on_event``, bare ``parse_event`` of the same
events (as JSON dicts); for the processor, bare ``processor.decode`` (``orjson.loads`` and the contract's
validation) of the same record bytes. Ratios are rate / anchor rate.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from schemas.events import CaseEvent, ClockTick, event_to_json, parse_event
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.core.engine import Engine
from services.rules.core.kernel import Kernel
from services.rules.core.order import interleave
from services.rules.core.state import ChildState
from services.rules.stream.clock import event_value, tick_value
from services.rules.stream.processor import Processor, decode

START = date(2024, 4, 1)
KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("visit.completed", {}),
    ("review.held", {}),
    ("pep.completed", {"kind": "review"}),
    ("health_assessment.completed", {"kind": "review"}),
    ("dental_check.completed", {}),
    ("placement.started", {"placement_type": "U6", "distance_miles": 4.0}),
    ("social_worker.changed", {"worker_id": "w"}),
    ("sdq.recorded", {"score": 12}),
    ("missing.started", {"episode_id": "m"}),
)


def synthetic(children: int, per_child: int, rnd: random.Random) -> list[CaseEvent]:
    """A stream in date order: each child starts care and then has ``per_child`` events over two years."""
    raw: list[tuple[date, dict[str, Any]]] = []
    for c in range(children):
        child = f"child-{c:06d}"
        started = START + timedelta(days=rnd.randrange(60))
        dob = started - timedelta(days=rnd.randrange(365 * 2, 365 * 16))
        raw.append(
            (
                started,
                {
                    "type": "care.started",
                    "date_of_birth": dob.isoformat(),
                    "sex": "F",
                    "legal_status": "C2",
                    "team": f"team-{c % 7}",
                    "child_id": child,
                },
            )
        )
        for n in range(per_child):
            kind, fields = rnd.choice(KINDS)
            day = started + timedelta(days=rnd.randrange(1, 730))
            extra = dict(fields)
            if "episode_id" in extra or "worker_id" in extra:
                key = "episode_id" if "episode_id" in extra else "worker_id"
                extra[key] = f"{extra[key]}{n % 5}"
            raw.append((day, {"type": kind, "child_id": child, **extra}))
    raw.sort(key=lambda item: item[0])
    return [
        parse_event({**data, "event_id": f"ev-{i}", "occurred_at": day.isoformat()}, received_at=None)
        for i, (day, data) in enumerate(raw)
    ]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--events-per-child", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    events = synthetic(args.children, args.events_per_child, random.Random(args.seed))
    as_json = [event_to_json(event) for event in events]
    began = time.process_time()
    for item in as_json:
        parse_event(item, received_at=None)
    parse_rate = len(as_json) / (time.process_time() - began)
    print(f"anchor: parse_event of the same {len(as_json)} events = {parse_rate:,.0f} events/s CPU")
    engine = Engine(RulesConfig.default())
    states: dict[str, ChildState] = {}
    transitions = 0
    latencies: list[int] = []
    began = time.process_time()
    for event in events:
        called = time.perf_counter_ns()
        outcome = engine.on_event(states.get(event.child_id), event, event.occurred_on)
        latencies.append(time.perf_counter_ns() - called)
        states[event.child_id] = outcome.state
        transitions += len(outcome.transitions)
    elapsed = time.process_time() - began
    print(
        f"on_event: {len(events)} events, {len(states)} children, {transitions} transitions "
        f"in {elapsed:.2f} s CPU = {len(events) / elapsed:,.0f} events/s "
        f"({elapsed / len(events) * 1e6:.1f} µs/event; {percentiles(latencies)}); "
        f"ratio to parse_event {len(events) / elapsed / parse_rate:.3f}x"
    )

    tick_day = START + timedelta(days=800)
    began = time.process_time()
    for child_id, state in states.items():
        states[child_id] = engine.on_tick(state, tick_day).state
    elapsed = time.process_time() - began
    print(f"on_tick: {len(states)} children in {elapsed:.2f} s CPU = {len(states) / elapsed:,.0f} ticks/s")

    sample = list(states.values())[: min(500, len(states))]
    began = time.process_time()
    for state in sample:
        codec.loads(codec.dumps(state))
    elapsed = time.process_time() - began
    print(
        f"state dumps+loads: {len(sample) / elapsed:,.0f} round trips/s ({args.events_per_child + 1} events per child)"
    )
    records = list(stream(events))
    began = time.process_time()
    for _, _, raw in records:
        decode(raw)
    decode_rate = len(records) / (time.process_time() - began)
    print(f"anchor: decode of the same {len(records)} stream records = {decode_rate:,.0f} records/s CPU")
    processor = Processor(Kernel(RulesConfig.default()), {}, {})
    latencies = []
    began = time.process_time()
    for partition, key, raw in records:
        called = time.perf_counter_ns()
        processor.commit(processor.plan(partition, key, raw))
        latencies.append(time.perf_counter_ns() - called)
    elapsed = time.process_time() - began
    print(
        f"processor (no broker): {len(records)} records ({len(events)} events, the rest ticks) in {elapsed:.2f} s "
        f"CPU = {len(records) / elapsed:,.0f} records/s ({percentiles(latencies)}); "
        f"ratio to decode {len(records) / elapsed / decode_rate:.3f}x"
    )
    print(f"max RSS: {rss_mib():.0f} MiB")


PARTITIONS = 8


def stream(events: list[CaseEvent]) -> Iterator[tuple[int, bytes | None, bytes]]:
    """The events as stream records in replay order, a tick per day to each of 8 partitions."""
    for item in interleave(events, max(event.occurred_on for event in events)):
        if isinstance(item, ClockTick):
            for partition in range(PARTITIONS):
                yield partition, None, tick_value(item.as_of)
        else:
            yield zlib.crc32(item.child_id.encode()) % PARTITIONS, item.child_id.encode(), event_value(item)


def percentiles(nanoseconds: list[int]) -> str:
    ordered = sorted(nanoseconds)
    picks = (("p50", 0.50), ("p99", 0.99), ("max", 1.0))
    return ", ".join(
        f"{name} {ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1000:,.0f} µs" for name, share in picks
    )


if __name__ == "__main__":
    main()
