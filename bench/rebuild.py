"""What a deep correction costs: rebuilding one child from its archived history, against anchors from the
same run, on one core:

* the anchor: bare ``parse_event`` of the child's NDJSON lines (the floor of reading the history at all);
* ``rebuild`` (``services.rules.core.rebuild``: the child's events through the kernel with its wake dates),
  in ms and as a multiple of the anchor;
* the archive read of the child (``services.archive.store.child_events`` on SQLite: query, parse, sort);
* one ordinary step (``Kernel.on_event`` of a late event within the log), for scale.

    .venv/bin/python bench/rebuild.py [--years 1 5 10] [--repeat 5]

Histories are busy children (``services.rules.core.tests.busy``: about 90 events a year). Prints figures
only; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine

from carewatch.db import make_engine, migrate
from schemas.events import parse_event
from services.archive import store
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel
from services.rules.core.rebuild import rebuild
from services.rules.core.tests.busy import START, busy_child
from services.rules.replay import replay


def best(repeat: int, run: Callable[[], object]) -> float:
    """The least CPU seconds of ``repeat`` runs of ``run()`` (least noise on a shared machine)."""
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        timings.append(time.process_time() - started)
    return min(timings)


HEADER = ("years", "events", "parse ms", "rebuild ms", "x parse", "archive ms", "step ms")


def measure(engine: Engine, kernel: Kernel, years: float, repeat: int) -> str:
    child = f"busy-{years:g}y"
    lines = [orjson.dumps(raw) for raw in busy_child(child, years=years)]
    events = [parse_event(line, received_at=None) for line in lines]
    until = events[-1].occurred_on
    store.append(engine, events, datetime(2025, 1, 1, tzinfo=UTC))
    state = replay(events, until, kernel.config).states[child]
    late = parse_event(
        {
            "event_id": "late-visit",
            "type": "visit.completed",
            "child_id": child,
            "occurred_at": (until - timedelta(days=30)).isoformat(),
        },
        received_at=None,
    )
    parse_s = best(repeat, lambda: [parse_event(line, received_at=None) for line in lines])
    rebuild_s = best(repeat, lambda: rebuild(kernel, state, events, until))
    read_s = best(repeat, lambda: store.child_events(engine, child))
    step_s = best(repeat, lambda: kernel.on_event(state, late, until))
    return (
        f"{years:>6g} {len(events):>7} {parse_s * 1e3:>9.1f} {rebuild_s * 1e3:>11.1f} "
        f"{rebuild_s / parse_s:>8.1f} {read_s * 1e3:>11.1f} {step_s * 1e3:>8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=float, nargs="+", default=[1, 5, 10])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kernel = Kernel(RulesConfig.default())
    print("{:>6} {:>7} {:>9} {:>11} {:>8} {:>11} {:>8}".format(*HEADER))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'archive.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        for years in args.years:
            print(measure(engine, kernel, years, args.repeat))
        engine.dispose()
    print(f"(busy children from {START}; CPU time, best of {args.repeat})")


if __name__ == "__main__":
    main()
