"""Disclosure control, comparators, RAG and the summary format."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.board.core.aggregate import Aggregate, Contribution, Delta
from services.board.core.catalogue import INDICATORS, PLACEMENT_MIX_IDS
from services.board.core.comparators import (
    NATIONAL_CSV,
    ComparatorFileError,
    Comparators,
    Target,
    load,
    parse_comparators,
    parse_targets,
    rag,
)
from services.board.core.disclosure import Figure, suppress
from services.board.core.summary import build_summary


def aggregate(**totals: tuple[int, int]) -> Aggregate:
    result = Aggregate()
    for indicator, (numerator, denominator) in totals.items():
        result.apply(Delta("", indicator.replace("_", "-"), Contribution(), Contribution(numerator, denominator)))
    return result


def test_small_counts_are_hidden_zero_is_shown() -> None:
    figures = {"cla-count": Figure(4, None), "uasc-count": Figure(0, None), "left-care-12m": Figure(5, None)}
    assert suppress(figures, threshold=5) == {
        "cla-count": "small-count",
        "uasc-count": None,
        "left-care-12m": None,
    }


@pytest.mark.parametrize(
    ("numerator", "denominator", "reason"),
    [
        (3, 50, "small-count"),
        (0, 3, "small-denominator"),
        (47, 50, "small-complement"),
        (50, 50, None),
        (0, 50, None),
        (10, 50, None),
        (0, 0, None),
    ],
)
def test_percentages_hide_small_numerators_denominators_and_complements(
    numerator: int, denominator: int, reason: str | None
) -> None:
    assert suppress({"rha-in-date": Figure(numerator, denominator)}, 5)["rha-in-date"] == reason


def test_the_threshold_is_configurable() -> None:
    assert suppress({"cla-count": Figure(7, None)}, threshold=10)["cla-count"] == "small-count"
    assert suppress({"cla-count": Figure(7, None)}, threshold=5)["cla-count"] is None


def test_rates_follow_their_hidden_count() -> None:
    figures = {
        "cla-count": Figure(60, None),
        "cla-rate-per-10k": Figure(60, 10_000),
        "uasc-count": Figure(2, None),
        "uasc-share-of-child-population": Figure(2, 10_000),
    }
    reasons = suppress(figures, 5)
    assert reasons["cla-rate-per-10k"] is None
    assert reasons["uasc-count"] == "small-count"
    assert reasons["uasc-share-of-child-population"] == "linked"


def _mix(**numerators: int) -> dict[str, Figure]:
    denominator = sum(numerators.values())
    return {f"placement-mix.{group.replace('_', '-')}": Figure(n, denominator) for group, n in numerators.items()}


def test_one_hidden_placement_share_hides_the_next_smallest_too() -> None:
    figures = _mix(foster=40, residential=12, supported=3, with_parents=8, adoption=9, other=6, temporary=0)
    reasons = suppress(figures, 5)
    assert reasons["placement-mix.supported"] == "small-count"
    # temporary (0) is the smallest shown share: hiding it keeps 3 from being derived from the total
    assert reasons["placement-mix.temporary"] == "secondary"
    assert [i for i in PLACEMENT_MIX_IDS if reasons[i] is None] == [
        "placement-mix.foster",
        "placement-mix.residential",
        "placement-mix.with-parents",
        "placement-mix.adoption",
        "placement-mix.other",
    ]


def test_two_hidden_shares_need_no_secondary_suppression() -> None:
    figures = _mix(foster=40, residential=12, supported=3, with_parents=2, adoption=9, other=6, temporary=7)
    reasons = suppress(figures, 5)
    assert sorted(i for i in PLACEMENT_MIX_IDS if reasons[i] is not None) == [
        "placement-mix.supported",
        "placement-mix.with-parents",
    ]


def test_summary_drops_hidden_values_and_keeps_flags() -> None:
    totals = aggregate(cla_count=(3, 0), rha_in_date=(2, 3), dental_in_date=(20, 25))
    summary = build_summary(totals, date(2026, 3, 31), threshold=5, population=30_000)
    cla = summary["indicators"]["cla-count"]
    assert (cla["value"], cla["numerator"], cla["suppressed"], cla["suppression"]) == (
        None,
        None,
        True,
        "small-count",
    )
    rate = summary["indicators"]["cla-rate-per-10k"]
    assert (rate["value"], rate["suppression"], rate["denominator"]) == (None, "linked", 30_000)
    rha = summary["indicators"]["rha-in-date"]
    assert (rha["value"], rha["numerator"], rha["denominator"]) == (None, None, None)
    dental = summary["indicators"]["dental-in-date"]
    assert (dental["value"], dental["numerator"], dental["denominator"], dental["suppressed"]) == (
        80.0,
        20,
        25,
        False,
    )
    assert summary["as_of"] == "2026-03-31"
    assert set(summary["indicators"]) == set(INDICATORS)


def test_summary_values_rates_and_missing_population() -> None:
    totals = aggregate(cla_count=(670, 0), uasc_count=(55, 0))
    with_population = build_summary(totals, date(2026, 3, 31), 5, population=100_000)["indicators"]
    assert with_population["cla-rate-per-10k"]["value"] == 67.0
    assert with_population["uasc-share-of-child-population"]["value"] == 0.055
    without = build_summary(totals, date(2026, 3, 31), 5)["indicators"]
    assert without["cla-rate-per-10k"]["value"] is None
    assert without["cla-count"]["value"] == 670


def test_rag_against_targets_in_both_directions() -> None:
    assert rag(92.0, Target(90.0), "higher", 5.0) == "green"
    assert rag(86.0, Target(90.0), "higher", 5.0) == "amber"
    assert rag(84.9, Target(90.0), "higher", 5.0) == "red"
    assert rag(9.0, Target(10.0), "lower", 2.0) == "green"
    assert rag(11.5, Target(10.0), "lower", 2.0) == "amber"
    assert rag(12.5, Target(10.0), "lower", 2.0) == "red"
    assert rag(12.5, Target(10.0, amber_band=5.0), "lower", 2.0) == "amber"
    assert rag(50.0, Target(10.0), "neutral", 2.0) is None
    assert rag(None, Target(10.0), "higher", 2.0) is None


def test_summary_carries_comparators_and_rag() -> None:
    comparators = Comparators(
        national=parse_comparators("indicator,value,year,source\nrha-in-date,88,2025,DfE\n", "n.csv"),
        neighbours={},
        targets=parse_targets("indicator,target\nrha-in-date,90\n", "t.csv"),
        amber_band=5.0,
    )
    summary = build_summary(aggregate(rha_in_date=(40, 50)), date(2026, 3, 31), 5, comparators=comparators)
    rha = summary["indicators"]["rha-in-date"]
    assert rha["national"] == {"value": 88.0, "year": "2025", "source": "DfE"}
    assert (rha["value"], rha["target"], rha["rag"]) == (80.0, 90.0, "red")


def test_national_file_names_only_known_indicators() -> None:
    national = load().national
    assert national["cla-rate-per-10k"].value == 67
    assert national["long-term-stability"].value == 69
    assert set(national) <= set(INDICATORS)
    assert NATIONAL_CSV.is_file()


def test_bad_comparator_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(ComparatorFileError, match="line 2: unknown indicator 'nope'"):
        parse_comparators("indicator,value,year,source\nnope,1,2025,x\n", "n.csv")
    with pytest.raises(ComparatorFileError, match="line 3: target 'ninety' is not a number"):
        parse_targets("indicator,target\nrha-in-date,90\ndental-in-date,ninety\n", "t.csv")
    with pytest.raises(ComparatorFileError, match="missing column"):
        parse_targets("indicator\nrha-in-date\n", "t.csv")
    with pytest.raises(ComparatorFileError, match="listed twice"):
        parse_targets("indicator,target\nrha-in-date,90\nrha-in-date,80\n", "t.csv")
    with pytest.raises(ComparatorFileError, match="cannot be read"):
        load(targets=tmp_path / "absent.csv")
