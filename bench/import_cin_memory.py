"""Peak memory of ``carewatch import-cin`` on census returns of two sizes, beside the memory of merely
parsing the same file whole.

    .venv/bin/python bench/import_cin_memory.py [--children 20000 80000] [--tree DIR]

The returns are made by the tests' census generator (``tests/support/cin_census.py``, every block of the
census: referrals with and without no further action, assessments, CIN plans, section 47 enquiries,
conferences, child protection plans with reviews, closures) with ``--children`` children each; the XML is
written a few hundred children at a time, so the bench itself stays small.

Measured for each size, each in a child process of its own (peak resident set from ``os.wait4``, i.e.
``ru_maxrss``):

* the command: ``carewatch import-cin FILE --year 2025 --out FILE`` (events to a file, as a real import);
* the anchor: ``defusedxml.ElementTree.parse`` of the same file, the tree held (nothing converted), and the
  interpreter alone (``python -c pass``) as the floor.

Printed: both peaks, the ratio command / anchor, and the size of the file. ``--tree DIR`` runs the command
from another checkout of the project (e.g. an earlier commit, for a before/after figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.import_903_memory import peak_mib
from tests.support.cin_census import to_xml, valid_return

ANCHOR = """
import sys
import defusedxml.ElementTree as SafeET
root = SafeET.parse(sys.argv[1], forbid_dtd=True).getroot()
print(sum(1 for _ in root.iter()))
"""
BATCH = 500


def write_census(path: Path, children: int, year: int = 2025) -> None:
    """A valid return of ``children`` children (distinct LAchildIDs), written a batch of children at a time."""
    with path.open("wb") as out:
        for start in range(0, children, BATCH):
            kids = valid_return(year, children=min(BATCH, children - start), seed=start)
            for number, kid in enumerate(kids, start=start + 1):
                kid.la_child_id = f"CW{number:08d}"
            xml = to_xml(kids, year)
            opening, closing = xml.index(b"<Children>") + len(b"<Children>"), xml.rindex(b"</Children>")
            if start == 0:
                out.write(xml[:opening])
            out.write(xml[opening:closing])
        out.write(xml[closing:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, nargs="+", default=[20_000, 80_000])
    parser.add_argument("--tree", type=Path, default=None, help="run the command from this checkout")
    args = parser.parse_args()
    env = dict(os.environ, TQDM_DISABLE="1")
    tree = (args.tree or Path(__file__).resolve().parents[1]).resolve()
    env["PYTHONPATH"] = str(tree)
    command = [sys.executable, "-c", "from carewatch.cli import app; app()", "import-cin"]
    where = f" (command from {args.tree})" if args.tree else ""
    with tempfile.TemporaryDirectory() as base:
        floor = peak_mib([sys.executable, "-c", "pass"])
        print(f"interpreter alone: {floor:.1f} MiB peak RSS")
        for children in args.children:
            census = Path(base) / f"cin-{children}.xml"
            write_census(census, children)
            size = census.stat().st_size / 2**20
            anchor = peak_mib([sys.executable, "-c", ANCHOR, str(census)])
            events = Path(base) / "events.ndjson"
            ours = peak_mib([*command, str(census), "--year", "2025", "--out", str(events)], env, tree)
            produced = sum(1 for _ in events.open("rb"))
            census.unlink()
            print(f"return: {children} children in {size:.1f} MiB of XML; {produced} events")
            print(f"  anchor, defusedxml parse held whole: {anchor:7.1f} MiB peak RSS")
            print(f"  import-cin --out FILE{where}: {ours:7.1f} MiB peak RSS")
            print(
                f"  ratio import-cin / anchor: {ours / anchor:.2f}; "
                f"above the interpreter: {(ours - floor) / (anchor - floor):.2f}"
            )


if __name__ == "__main__":
    main()
