"""How fast the synthetic authority generates events (events/s) and how much memory it holds (peak RSS).

Run: ``.venv/bin/python bench/generator.py``. Prints figures only; nothing passes or fails on time.
"""

from __future__ import annotations

import resource
import time
from datetime import date

from services.demo.generator import generate

SIZES = ((396, 12), (396, 36), (4000, 12))


def main() -> None:
    print(f"{'children':>8} {'months':>6} {'events':>9} {'seconds':>8} {'events/s':>10}")
    for children, months in SIZES:
        began = time.perf_counter()
        count = sum(1 for _ in generate(seed=1, children=children, months=months, start=date(2024, 4, 1)))
        elapsed = time.perf_counter() - began
        print(f"{children:>8} {months:>6} {count:>9} {elapsed:>8.2f} {count / elapsed:>10.0f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
