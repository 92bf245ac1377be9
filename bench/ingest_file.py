"""How fast ``carewatch ingest FILE`` loads an NDJSON file (and a CSV file) into an embedded broker.

    .venv/bin/python bench/ingest_file.py [--lines 200000] [--bad-every 20] [--csv-lines 50000]

Runs the real command in a child process; prints lines/s and the command's peak RSS (which should not
grow with the file: it is read line by line and written in acknowledged batches).
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.samples import good_event, mixed_lines

CAREWATCH = str(Path(sys.executable).with_name("carewatch"))


def write_ndjson(path: Path, lines: int, bad_every: int) -> None:
    with path.open("wb") as handle:
        for line, _ in mixed_lines(lines, bad_every=bad_every or lines + 1):
            handle.write(line + b"\n")


def write_csv(path: Path, lines: int) -> None:
    events = [good_event(n) for n in range(lines)]
    fields = sorted({name for event in events for name in event})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(events)


def run_command(path: Path, bootstrap: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [CAREWATCH, "ingest", str(path), "--bootstrap", bootstrap, "--allow-rejects"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"ingest failed ({result.returncode}): {result.stderr}")
    return elapsed, result.stdout.strip().splitlines()[-1]


def report(label: str, path: Path, lines: int, elapsed: float, summary: str) -> None:
    size_mib = path.stat().st_size / 2**20
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    print(f"{label}: {lines} lines, {size_mib:.1f} MiB")
    print(f"  {summary}")
    print(f"  {elapsed:.2f} s (process start included) -> {lines / elapsed:,.0f} lines/s")
    print(f"  peak RSS of the largest child process so far: {peak_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--bad-every", type=int, default=20, help="one bad line in N (0: none)")
    parser.add_argument("--csv-lines", type=int, default=50_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=8)
        ndjson = Path(tmp) / "events.ndjson"
        write_ndjson(ndjson, args.lines, args.bad_every)
        elapsed, summary = run_command(ndjson, broker.bootstrap)
        report("NDJSON", ndjson, args.lines, elapsed, summary)
        if args.csv_lines:
            table = Path(tmp) / "events.csv"
            write_csv(table, args.csv_lines)
            elapsed, summary = run_command(table, broker.bootstrap)
            report("CSV", table, args.csv_lines, elapsed, summary)


if __name__ == "__main__":
    main()
