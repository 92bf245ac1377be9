"""How fast the synthetic authority generates events (events/s) and how much memory it holds (peak RSS).

Run: ``.venv/bin/python bench/generator.py``. Prints figures only; nothing passes or fails on time.

Anchor, measured in the same run on the same records: stdlib ``json.dumps`` of each generated event (the
least a producer of these records as JSON text must do). Both in CPU time of this process; the ratio is
generator rate / anchor rate.
"""

from __future__ import annotations

import json
import resource
import time
from datetime import date

from services.demo.generator import generate

SIZES = ((396, 12), (396, 36), (4000, 12))


def main() -> None:
    print(f"{'children':>8} {'months':>6} {'events':>9} {'CPU s':>7} {'events/s':>10} {'anchor/s':>10} {'ratio':>6}")
    for children, months in SIZES:
        began = time.process_time()
        events = list(generate(seed=1, children=children, months=months, start=date(2024, 4, 1)))
        elapsed = time.process_time() - began
        began = time.process_time()
        for event in events:
            json.dumps(event)
        anchor = time.process_time() - began
        rate, anchor_rate = len(events) / elapsed, len(events) / anchor
        print(
            f"{children:>8} {months:>6} {len(events):>9} {elapsed:>7.2f} {rate:>10,.0f} {anchor_rate:>10,.0f} "
            f"{rate / anchor_rate:>6.2f}"
        )
    print("anchor: stdlib json.dumps of the same events; ratio = generator events/s / anchor events/s")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB (the events are held in a list here, for the anchor)")


if __name__ == "__main__":
    main()
