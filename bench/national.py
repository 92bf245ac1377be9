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

Prints figures only; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import gc
import resource
from datetime import date

import orjson
from kernel import cpu, parse_all  # the kernel bench beside this script: the same anchor

from services.demo.generator import generate
from services.rules.core import codec
from services.rules.core.config import RulesConfig
from services.rules.replay import replay

START = date(2016, 4, 1)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """The resident set now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", type=int, default=84_000)
    args = parser.parse_args()
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
