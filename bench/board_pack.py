"""Board pack for a large synthetic authority: time to replay, summarise and render; memory used.

    .venv/bin/python bench/board_pack.py [--children 500] [--seed 1]

Prints figures; never passes or fails on time.

Anchor, in the same run on the same events: bare ``parse_event`` of the generated dicts (the input floor
of anything that reads the events). Fold and the replay with daily ticks are given as ratios to it
(rate / anchor rate; wall time, this process).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from carewatch.testing.synthetic import authority
from schemas.events import parse_event
from services.board.core.comparators import load
from services.board.core.indicators import summarise
from services.board.core.summary import build_summary
from services.board.pack import Pack, trend_dates, write_pack
from services.board.replay import snapshots
from services.rules.core.fold import apply
from services.rules.core.state import ChildState

AS_OF = date(2026, 3, 31)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    raw = authority(args.children, args.seed, date(2016, 1, 1), AS_OF)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    events = [parse_event(item, received_at=None) for item in raw]
    parsed = time.perf_counter() - started
    anchor = len(events) / parsed
    print(f"children: {args.children:,}  events: {len(events):,}  generate: {generated:.1f} s")
    print(f"anchor: parse_event of the same events: {parsed:.1f} s ({anchor:,.0f} events/s)")

    started = time.perf_counter()
    states: dict[str, ChildState] = {}
    for event in events:
        states[event.child_id], _ = apply(states.get(event.child_id), event)
    folded = time.perf_counter() - started
    print(
        f"fold into child states: {folded:.1f} s ({len(events) / folded:,.0f} events/s; "
        f"ratio to the anchor {len(events) / folded / anchor:.3f}x)"
    )

    started = time.perf_counter()
    summary = summarise(states.values(), AS_OF, threshold=5, population=250_000)
    scratch = time.perf_counter() - started
    print(f"summary from scratch (one date): {scratch:.2f} s ({len(states) / scratch:,.0f} children/s)")

    comparators = load()
    days = trend_dates(AS_OF)
    started = time.perf_counter()
    totals = snapshots(events, days)
    replayed = time.perf_counter() - started
    span = (days[-1] - days[0]).days + 1
    print(
        f"replay with daily ticks over {span} days (13 trend dates): {replayed:.1f} s "
        f"({len(events) / replayed:,.0f} events/s; ratio to the anchor {len(events) / replayed / anchor:.3f}x)"
    )

    trend = {day: build_summary(total, day, 5, 250_000, comparators) for day, total in totals.items()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        paths = write_pack(Path(out), Pack("Benchmark authority", trend[AS_OF], trend, "synthetic events"))
        sizes = {kind: path.stat().st_size for kind, path in paths.items()}
    rendered = time.perf_counter() - started
    print(f"render pack (HTML with charts, CSV, XLSX): {rendered:.1f} s  sizes: {sizes}")
    print(f"children looked after on {AS_OF}: {summary['indicators']['cla-count']['value']}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
