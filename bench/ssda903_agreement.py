"""Agreement of carewatch's SSDA903 import with an independent reading of the DfE definitions.

    .venv/bin/python bench/ssda903_agreement.py [--fixture DIR] [--children 1000]

For the shared fake 2017/18 return and for a generated valid three-year return (2018/19–2020/21), prints,
per measure and day: the DfE count read straight from the return's rows (tests/unit/ssda903_support.py,
no importer code), the count walked from carewatch's events, and the children on which they differ; for
the fixture, how many of those differing children have a row import-903 rejected or reported.
Measures: looked after on the day (V3/V4 excluded, and included as cs-demand-model counts them), periods
started and ended in the 12 months to the day.

Then, when ``.venv-demand`` exists (``make demand-model``), Social Finance's cs-demand-model on the same
returns: its count of children looked after on each day (given the return without V3/V4 episodes, beside
the board's ``cla-count``; and given the whole return, beside carewatch's periods of care whatever the legal
status), the children on which they differ, and the reason for each difference (tests/support/demand_model.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.source import read_return
from tests.support import demand_model as dm
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


def demand_table(
    name: str,
    tables: dict[int, tuple[list[dict[str, str]], list[dict[str, str]]]],
    events: list[dict[str, Any]],
    days: list[date],
    problems: dict[str, set[str]],
) -> None:
    print(f"\n{name}: cs-demand-model")
    print(f"{'measure':<34} {'day':<10} {'model':>10} {'carewatch':>10} {'differ':>7}  reasons")
    ours = dm.carewatch_counts(events, days)
    by_child: dict[str, list[dict[str, str]]] = defaultdict(list)
    for year in sorted(tables):
        for row in tables[year][1]:
            by_child[row["CHILD"]].append(row)
    with tempfile.TemporaryDirectory() as base:
        for short_breaks, measure in ((False, "cla-count (V3/V4 excluded)"), (True, "in care (V3/V4 included)")):
            model = dm.model_counts(
                dm.PYTHON, dm.model_input(tables, Path(base) / measure, short_breaks=short_breaks), days
            )
            for day in days:
                found = ours[day].with_short_breaks if short_breaks else ours[day].children
                model_only, ours_only = model[day].children - found, found - model[day].children
                why = Counter(
                    dm.reason(by_child[c], problems.get(c, set()), model_only=c in model_only)
                    for c in model_only | ours_only
                )
                short = {
                    dm.OVERLAP: "overlap 501",
                    dm.TWO_OPEN: "two open 142/148",
                }
                reasons = ", ".join(f"{short.get(k, k)}: {n}" for k, n in sorted(why.items()))
                print(f"{measure:<34} {day.isoformat():<10} {model[day].count:>10} {len(found):>10} "
                      f"{len(model_only | ours_only):>7}  {reasons}")  # fmt: skip


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

    if not (dm.VENV / ".installed").exists():
        print("\ncs-demand-model: not installed (make demand-model)")
        return
    problems: dict[str, set[str]] = defaultdict(set)
    for o in result.outcomes:
        if o.file == "episodes.csv":
            problems[rows[o.row - 2]["CHILD"]].update(rule for rule, _ in o.problems)
    header = support.read_table(args.fixture / "header.csv")
    demand_table("fixture", {2018: (header, rows)}, result.events,
                 [date(2017, 4, 1), date(2017, 9, 30), date(2018, 3, 31)], problems)  # fmt: skip
    tables = {y: (t["header"], t["episodes"]) for y, t in returns.items()}
    demand_table(name, tables, generated.events, days, {})


if __name__ == "__main__":
    main()
