"""The per-child kernel against its input floor, on one core, from one run:

* the anchor: bare ``parse_event`` of the same NDJSON lines (events/s);
* replay (``services.rules.replay.replay``: kernel, wake index, daily ticks, indicator deltas) of the parsed
  events, in events/s of CPU time, and the ratio to the anchor;
* per-event cost for short and long histories of busy children (flat is the goal);
* the encoded state (``services.rules.core.codec.dumps``) of a busy child after 1, 5 and 10 years;
* peak RSS.

    .venv/bin/python bench/kernel.py [--children 2000] [--months 60] [--seed 7] [--profile]

Histories come from the demo generator (``services.demo.generator.generate``), as in ``carewatch demo``.
Prints figures only; never passes or fails on time. ``--profile`` prints the top of a cProfile of replay (by
own time, then the kernel's functions by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time
from datetime import date

import orjson
from pydantic import ValidationError

from schemas.events import CaseEvent, parse_event
from services.demo.generator import generate
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.core.fold import apply
from services.rules.core.state import ChildState
from services.rules.core.tests.busy import busy_child
from services.rules.replay import replay

START = date(2021, 4, 1)


def cpu() -> float:
    return time.process_time()


def lines_of(children: int, months: int, seed: int) -> list[bytes]:
    return [orjson.dumps(raw) for raw in generate(seed=seed, children=children, months=months, start=START)]


def parse_all(lines: list[bytes]) -> list[CaseEvent]:
    events: list[CaseEvent] = []
    for line in lines:
        try:
            events.append(parse_event(line, received_at=None))
        except ValidationError:
            continue  # the generator's deliberately invalid records
    return events


def busy_replay(children: int, years: int, config: RulesConfig) -> tuple[int, float]:
    """(events, CPU seconds) of replaying ``children`` busy children over ``years``."""
    events = [
        parse_event(raw, received_at=None)
        for c in range(children)
        for raw in busy_child(f"busy-{c}", years=years, seed=c)
    ]
    until = max(e.occurred_on for e in events)
    began = cpu()
    replay(events, until, config)
    return len(events), cpu() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    config = RulesConfig.default()

    lines = lines_of(args.children, args.months, args.seed)
    began = cpu()
    events = parse_all(lines)
    parse_seconds = cpu() - began
    parse_rate = len(lines) / parse_seconds
    until = max(e.occurred_on for e in events)
    print(f"history: {args.children} children x {args.months} months = {len(lines):,} lines, {len(events):,} events")
    print(f"anchor  parse_event: {parse_rate:>10,.0f} lines/s ({parse_seconds:.2f} s CPU)")

    began = cpu()
    result = replay(events, until, config)
    replay_seconds = cpu() - began
    replay_rate = len(events) / replay_seconds
    print(
        f"replay (kernel):      {replay_rate:>10,.0f} events/s ({replay_seconds:.2f} s CPU, {result.ticks:,} tick "
        f"touches, {len(result.transitions):,} transitions); ratio to the anchor {replay_rate / parse_rate:.3f}x"
    )
    print(
        f"parse + replay:       {len(events) / (parse_seconds + replay_seconds):>10,.0f} events/s "
        f"(ratio {len(events) / (parse_seconds + replay_seconds) / parse_rate:.3f}x)"
    )

    for years in (1, 10):
        count, seconds = busy_replay(20, years, config)
        print(f"busy children, {years:>2} years: {count:>7,} events, {seconds / count * 1e6:6.1f} µs CPU per event")

    print("encoded state of a busy child (bytes):")
    for label, kwargs in (
        ("busy (~90 events/year)", {}),
        ("very busy (~900/year)", {"visit_every": 1, "missing_every": 2}),
    ):
        sizes = []
        for years in (1, 5, 10):
            state: ChildState | None = None
            history = busy_child(years=years, **kwargs)  # type: ignore[arg-type]
            for raw in history:
                state, _ = apply(state, parse_event(raw, received_at=None))
            assert state is not None
            sizes.append(f"{years:>2} y ({len(history):>5} events): {len(codec.dumps(state)):>7,}")
        print(f"  {label:24} " + "; ".join(sizes))

    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        replay(events, until, config)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(r"services/rules", 30)


if __name__ == "__main__":
    main()
