"""How fast ``carewatch ingest FILE`` loads an NDJSON file (and a CSV file) into an embedded broker.

    .venv/bin/python bench/ingest_file.py [--lines 40000] [--bad-every 20] [--csv-lines 10000]

Runs the real command in a child process; prints lines/s and the command's peak RSS (which should not
grow with the file: it is read line by line and written in acknowledged batches).

Anchor, in the same run on the same file and broker: a bare loader in a child process (this script with
``--anchor``) that reads the file line by line (CSV: ``csv.DictReader`` and ``orjson.dumps`` of each row),
takes ``child_id`` as the key, sends each record to the case-events topic with the same producer settings
(``carewatch.broker.producer``) and waits for the acknowledgements every 1,000 lines (the command's batch
size): no validation, reject file, dead letters or dedup. Process start is included in both; the ratio is
command lines/s / anchor lines/s.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carewatch.broker import EmbeddedBroker, ensure_topics
from carewatch.testing.samples import good_event, mixed_lines
from schemas import topics

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


def anchor_load(path: Path, bootstrap: str, batch: int = 1000) -> None:
    """The anchor (run in a child process): publish every record of the file, acknowledged per batch."""
    import orjson

    from carewatch import broker

    producer = broker.producer(bootstrap, client_id="bench-bare-load")
    pending: list[object] = []
    count = 0
    with path.open("rb" if path.suffix != ".csv" else "r", newline=None if path.suffix != ".csv" else "") as handle:
        rows = (orjson.dumps(row) for row in csv.DictReader(handle)) if path.suffix == ".csv" else handle
        for line in rows:
            value = line.rstrip(b"\n")
            if not value:
                continue
            try:
                key = str(orjson.loads(value).get("child_id", "")).encode() or None
            except (orjson.JSONDecodeError, AttributeError):
                key = None
            pending.append(producer.send(topics.CASE_EVENTS, key=key, value=value))
            count += 1
            if len(pending) >= batch:
                for future in pending:
                    future.get(timeout=30)  # type: ignore[attr-defined]
                pending.clear()
    for future in pending:
        future.get(timeout=30)  # type: ignore[attr-defined]
    producer.close()
    print(f"published {count}")


def run_anchor(path: Path, bootstrap: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--anchor", str(path), bootstrap], check=True, capture_output=True,
                   env={**os.environ})  # fmt: skip
    return time.perf_counter() - started


def report(label: str, path: Path, lines: int, elapsed: float, summary: str, anchor: float) -> None:
    size_mib = path.stat().st_size / 2**20
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    print(f"{label}: {lines} lines, {size_mib:.1f} MiB")
    print(f"  {summary}")
    print(f"  {elapsed:.2f} s (process start included) -> {lines / elapsed:,.0f} lines/s")
    print(f"  anchor, bare loader publishing the same lines: {anchor:.2f} s -> {lines / anchor:,.0f} lines/s; "
          f"ratio {anchor / elapsed:.2f}")  # fmt: skip
    print(f"  peak RSS of the largest child process so far: {peak_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--bad-every", type=int, default=20, help="one bad line in N (0: none)")
    parser.add_argument("--csv-lines", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=8)
        ndjson = Path(tmp) / "events.ndjson"
        write_ndjson(ndjson, args.lines, args.bad_every)
        elapsed, summary = run_command(ndjson, broker.bootstrap)
        anchor = run_anchor(ndjson, broker.bootstrap)
        report("NDJSON", ndjson, args.lines, elapsed, summary, anchor)
        if args.csv_lines:
            table = Path(tmp) / "events.csv"
            write_csv(table, args.csv_lines)
            elapsed, summary = run_command(table, broker.bootstrap)
            anchor = run_anchor(table, broker.bootstrap)
            report("CSV", table, args.csv_lines, elapsed, summary, anchor)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--anchor"]:
        anchor_load(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
