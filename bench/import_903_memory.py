"""Peak memory of ``carewatch import-903`` on a return of many rows, beside the memory of merely reading it.

    .venv/bin/python bench/import_903_memory.py [--copies 4] [--fixture DIR] [--tree DIR]

The return is the shared fake 2017/18 return (``../shared/fixtures/ssda903``) repeated ``--copies`` times,
each copy's CHILD ids given a suffix of their own (``_c1``, ``_c2``…) so that every copy is a distinct set
of children with the fixture's mix of valid, invalid and reported rows.

Measured, each in a child process of its own (peak resident set from ``os.wait4``, i.e. ``ru_maxrss``):

* the command: ``carewatch import-903 DIR --year 2018 --out FILE`` (events to a file, as a real import);
* the anchor: a bare reader that loads every CSV file of the same return with ``csv.reader`` into one list
  of row lists (nothing converted), and the interpreter alone (``python -c pass``) as the floor.

Printed: both peaks, the ratio command / anchor, and the size of the files. ``--tree DIR`` runs the
command from another checkout of the project (e.g. an earlier commit, for a before/after figure).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "ssda903"

ANCHOR = """
import csv, sys
from pathlib import Path
held = []
for path in sorted(Path(sys.argv[1]).glob("*.csv")):
    with path.open(newline="", encoding="utf-8-sig") as handle:
        held.append(list(csv.reader(handle)))
print(sum(len(rows) for rows in held))
"""


def write_copies(fixture: Path, copies: int, target: Path) -> int:
    """The fixture's CSV files, ``copies`` times over with CHILD ids made distinct; the number of rows."""
    rows = 0
    for path in sorted(fixture.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as source:
            reader = csv.reader(source)
            header = next(reader)
            body = list(reader)
        column = [name.strip().upper() for name in header].index("CHILD")
        with (target / path.name).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            for copy in range(1, copies + 1):
                for row in body:
                    if column < len(row) and row[column].strip():
                        row = [*row[:column], f"{row[column].strip()}_c{copy}", *row[column + 1 :]]
                    writer.writerow(row)
                    rows += 1
    return rows


def peak_mib(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Peak resident set of ``command`` (run to completion in a child process), MiB."""
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, env=env, cwd=cwd)
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}): {errors.decode()[-2000:]}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--tree", type=Path, default=None, help="run the command from this checkout")
    args = parser.parse_args()
    env = dict(os.environ, TQDM_DISABLE="1")
    tree = (args.tree or Path(__file__).resolve().parents[1]).resolve()
    env["PYTHONPATH"] = str(tree)
    command = [sys.executable, "-c", "from carewatch.cli import app; app()", "import-903"]
    with tempfile.TemporaryDirectory() as base:
        directory = Path(base) / "return"
        directory.mkdir()
        rows = write_copies(args.fixture, args.copies, directory)
        size = sum(path.stat().st_size for path in directory.iterdir()) / 2**20
        floor = peak_mib([sys.executable, "-c", "pass"])
        anchor = peak_mib([sys.executable, "-c", ANCHOR, str(directory)])
        events = Path(base) / "events.ndjson"
        ours = peak_mib([*command, str(directory), "--year", "2018", "--out", str(events)], env, tree)
        produced = sum(1 for _ in events.open("rb"))
    where = f" (command from {args.tree})" if args.tree else ""
    print(f"return: {rows} rows in {size:.1f} MiB of CSV ({args.copies} copies of the fixture); {produced} events")
    print(f"interpreter alone:                  {floor:7.1f} MiB peak RSS")
    print(f"anchor, csv.reader into one list:   {anchor:7.1f} MiB peak RSS")
    print(f"import-903 --out FILE{where}: {ours:7.1f} MiB peak RSS")
    print(
        f"ratio import-903 / anchor: {ours / anchor:.2f}; "
        f"above the interpreter: {(ours - floor) / (anchor - floor):.2f}"
    )


if __name__ == "__main__":
    main()
