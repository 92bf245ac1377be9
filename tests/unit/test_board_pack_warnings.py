"""`carewatch board-pack` says, once and plainly, which figures it could not compute."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from services.board.cli import uncomputed_warnings
from services.board.core.aggregate import Aggregate, Contribution, Delta
from services.board.core.catalogue import INDICATORS
from services.board.core.disclosure import LINKED_TO_COUNT as LINKED_IDS
from services.board.core.summary import build_summary


def _summary(day: date, population: int | None, totals: dict[str, tuple[int, int]]) -> dict[str, Any]:
    aggregate = Aggregate()
    for indicator, (numerator, denominator) in totals.items():
        aggregate.apply(Delta("", indicator, Contribution(), Contribution(numerator, denominator)))
    return build_summary(aggregate, day, 5, population=population)


def test_a_missing_population_is_said_once_whatever_the_number_of_dates() -> None:
    days = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    trend = {day: _summary(day, None, {"cla-count": (60, 0), "rha-in-date": (20, 40)}) for day in days}
    warnings = uncomputed_warnings(trend, None)
    population = [w for w in warnings if "population" in w]
    assert len(population) == 1
    assert "CAREWATCH_BOARD_POPULATION_0_17" in population[0]
    assert "per 10,000" in population[0] or "10,000" in population[0] or "rate" in population[0].lower()


def test_nothing_is_said_when_every_figure_is_computed_or_hidden_by_disclosure() -> None:
    day = date(2026, 3, 31)
    totals = {id_: (10, 20) for id_ in INDICATORS if id_ not in LINKED_IDS}
    totals["rha-in-date"] = (2, 40)  # hidden by disclosure control: the pack explains that, not a warning
    summary = _summary(day, 40_000, totals)
    assert summary["indicators"]["rha-in-date"]["suppressed"]
    assert uncomputed_warnings({day: summary}, 40_000) == []


def test_an_empty_group_is_said_once_per_indicator_with_how_many_dates() -> None:
    days = [date(2026, 2, 28), date(2026, 3, 31)]
    trend = {day: _summary(day, 40_000, {"cla-count": (60, 0), "rha-in-date": (0, 0)}) for day in days}
    warnings = uncomputed_warnings(trend, 40_000)
    rha = [w for w in warnings if "not computed on 2 of 2 date(s)" in w]
    assert rha
    assert not any("population" in w for w in warnings)
    assert len(warnings) == len(set(warnings))


def test_board_pack_refuses_an_unknown_audience_in_one_line(tmp_path: Path) -> None:
    from carewatch.cli import app

    result = CliRunner().invoke(
        app, ["board-pack", "--as-of", "2026-03-31", "--out", str(tmp_path / "out"), "--audience", "everyone"]
    )
    assert result.exit_code == 2
    assert "--audience must be internal or public" in result.output
    assert not (tmp_path / "out").exists()
