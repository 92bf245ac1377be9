"""Social Finance's ``cs-demand-model`` (in ``.venv-demand``: ``make demand-model``, created on first use) as an
independent oracle for the number of children looked after on a day, against carewatch's: import-903, each
child's events folded as the rules kernel folds them, and the board's ``cla-count`` (and one full replay).

The model counts short breaks (V3/V4); the DfE and ``cla-count`` do not. Like with like: the model is given
the return without its V3/V4 episodes for ``cla-count``, and the whole return for carewatch's periods of
care whatever the legal status."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.ingest.ssda903.convert import convert_returns
from services.ingest.ssda903.source import read_return
from tests.support import demand_model as dm
from tests.unit import ssda903_support as support

pytestmark = pytest.mark.e2e

FIXTURE_DAYS = [date(2017, 4, 1), date(2017, 9, 30), date(2018, 3, 31)]
GENERATED_DAYS = [date(2018, 9, 30), date(2019, 3, 31), date(2019, 12, 25), date(2020, 3, 31), date(2021, 3, 31)]


@pytest.fixture(scope="module")
def model_python() -> Path:
    return dm.ensure_model()


def _compare(model: dm.ModelCount, ours: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    assert model.count == len(model.children)  # the model's stock and its cleaned episodes agree
    return model.children - ours, ours - model.children


def test_generated_multi_year_return_agrees_exactly(model_python: Path, tmp_path: Path) -> None:
    returns = support.generate(250, 2019, 2021)
    directories = {y: support.write_return(t, tmp_path / "returns" / str(y)) for y, t in returns.items()}
    events = convert_returns([(y, [r for f in read_return(d) for r in f.rows]) for y, d in directories.items()]).events
    tables = {y: (t["header"], t["episodes"]) for y, t in returns.items()}
    ours = dm.carewatch_counts(events, GENERATED_DAYS)
    dfe_input = dm.model_input(tables, tmp_path / "dfe", short_breaks=False)
    without = dm.model_counts(model_python, dfe_input, GENERATED_DAYS)
    whole = dm.model_counts(model_python, dm.model_input(tables, tmp_path / "all", short_breaks=True), GENERATED_DAYS)
    for day in GENERATED_DAYS:
        assert ours[day].cla_count > 50, day
        assert _compare(without[day], ours[day].children) == (frozenset(), frozenset()), day
        assert _compare(whole[day], ours[day].with_short_breaks) == (frozenset(), frozenset()), day
    # the generator's short-break children make the two readings differ: the comparison can tell them apart
    assert whole[GENERATED_DAYS[1]].count > without[GENERATED_DAYS[1]].count
    # the board's figure as `carewatch replay --until` sums it equals the per-child reading
    assert dm.replayed_cla_count(events, GENERATED_DAYS[-1]) == ours[GENERATED_DAYS[-1]].cla_count


def test_fixture_differs_only_on_reported_rows_with_a_stated_reason(
    model_python: Path, ssda903_fixtures: Path, tmp_path: Path
) -> None:
    files = [f for f in read_return(ssda903_fixtures) if f.layout == "csv"]
    result = convert_returns([(2018, [r for f in files for r in f.rows])])
    rows = support.read_table(ssda903_fixtures / "episodes.csv")
    problems: dict[str, set[str]] = defaultdict(set)
    for o in result.outcomes:
        if o.file == "episodes.csv":
            problems[rows[o.row - 2]["CHILD"]].update(rule for rule, _ in o.problems)
    by_child: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_child[row["CHILD"]].append(row)
    tables = {2018: (support.read_table(ssda903_fixtures / "header.csv"), rows)}
    ours = dm.carewatch_counts(result.events, FIXTURE_DAYS)
    reasons: dict[str, int] = defaultdict(int)
    restarted = {child for child, rows in by_child.items() if dm.restarts_the_same_day(rows, problems[child])}
    agreed_restarts: set[str] = set()
    for short_breaks in (False, True):
        model_input = dm.model_input(tables, tmp_path / str(short_breaks), short_breaks=short_breaks)
        model = dm.model_counts(model_python, model_input, FIXTURE_DAYS)
        for day in FIXTURE_DAYS:
            found: Any = ours[day].with_short_breaks if short_breaks else ours[day].children
            model_only, ours_only = _compare(model[day], found)
            assert len(found) > 1000, day
            for child in model_only | ours_only:
                why = dm.reason(by_child[child], problems[child], model_only=child in model_only)
                assert why != dm.UNEXPLAINED, (day, short_breaks, by_child[child], problems[child])
                reasons[why] += 1
            agreed_restarts |= restarted & model[day].children & found
        # before the first problem row takes effect the two agree exactly
        assert model[FIXTURE_DAYS[0]].children == (
            ours[FIXTURE_DAYS[0]].with_short_breaks if short_breaks else ours[FIXTURE_DAYS[0]].children
        )
    assert reasons[dm.OVERLAP] > 0 and reasons[dm.TWO_OPEN] > 0
    # a period starting on the day the previous one ended (rule 431): looked after on both sides
    assert agreed_restarts, restarted
