"""Agreement of carewatch's SSDA903 import with an independent reading of the DfE definitions.

    .venv/bin/python bench/ssda903_agreement.py [--fixture DIR] [--children 1000]

For the shared fake 2017/18 return and for a generated valid three-year return (2018/19–2020/21), prints,
per measure and day: the DfE count read straight from the return's rows (tests/unit/ssda903_support.py,
no importer code), the count walked from carewatch's events, and the children on which they differ; for
the fixture, how many of those differing children have a row import-903 rejected or reported.
Measures: looked after on the day (V3/V4 excluded, and included as cs-demand-model counts them), periods
started and ended in the 12 months to the day.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.source import read_return
from tests.unit import ssda903_support as support


def with_short_breaks(events: list[dict[str, Any]], day: date) -> set[str]:
    relabelled = [e | {"legal_status": "C2"} if "legal_status" in e else e for e in events]
    return support.carewatch_looked_after_on(relabelled, day)


def table(
    name: str, rows: list[dict[str, str]], events: list[dict[str, Any]], days: list[date], reported: set[str] | None
) -> None:
    print(f"\n{name}")
    header = f"{'measure':<34} {'day':<10} {'DfE (rows)':>10} {'carewatch':>10} {'differ':>7}"
    print(header + (f" {'differ, unreported':>19}" if reported is not None else ""))
    for day in days:
        year_ago = day - timedelta(days=364)
        for measure, expected, found in (
            (
                "looked after (V3/V4 excluded)",
                support.looked_after_on(rows, day),
                support.carewatch_looked_after_on(events, day),
            ),
            (
                "looked after (V3/V4 included)",
                support.looked_after_on(rows, day, short_breaks=True),
                with_short_breaks(events, day),
            ),
            (
                "started in the 12 months to",
                support.started_in(rows, year_ago, day),
                support.events_started(events, year_ago, day),
            ),
            (
                "ended in the 12 months to",
                support.ended_in(rows, year_ago, day),
                support.events_ended(events, year_ago, day),
            ),
        ):
            differ = expected ^ found
            line = f"{measure:<34} {day.isoformat():<10} {len(expected):>10} {len(found):>10} {len(differ):>7}"
            if reported is not None:
                line += f" {len(differ - reported):>19}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixture", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "ssda903"
    )
    parser.add_argument("--children", type=int, default=1000)
    args = parser.parse_args()

    files = [f for f in read_return(args.fixture) if f.layout == "csv"]
    result = convert_returns([(2018, [r for f in files for r in f.rows])])
    rows = support.read_table(args.fixture / "episodes.csv")
    reported = {
        rows[o.row - 2]["CHILD"]
        for o in result.outcomes
        if o.file == "episodes.csv" and (o.status == "rejected" or o.problems)
    }
    table(f"fixture {args.fixture} (2017/18, fake and mostly invalid data)", rows, result.events,
          [date(2017, 4, 1), date(2017, 9, 30), date(2018, 3, 31)], reported)  # fmt: skip

    returns = support.generate(args.children, 2019, 2021)
    with tempfile.TemporaryDirectory() as base:
        dirs = {y: support.write_return(t, Path(base) / str(y)) for y, t in returns.items()}
        generated = convert_returns([(y, [r for f in read_return(d) for r in f.rows]) for y, d in dirs.items()])
    days = [date(2018, 9, 30), date(2019, 3, 31), date(2020, 3, 31), date(2021, 3, 31)]
    name = f"generated valid returns 2018/19-2020/21, {args.children} children"
    table(name, support.latest_rows(returns), generated.events, days, None)
    print("\nrows not converted on the generated returns:", sum(o.status == "rejected" for o in generated.outcomes))


if __name__ == "__main__":
    main()
