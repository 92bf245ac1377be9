"""Disclosure control per audience: the authority's own board sees near-100% figures, public papers do not."""

from __future__ import annotations

from datetime import date

import pytest

from services.board.core.aggregate import Aggregate, Contribution, Delta
from services.board.core.disclosure import Figure, footnote, suppress
from services.board.core.summary import build_summary
from services.board.pack import Pack, render_html


def _aggregate(**totals: tuple[int, int]) -> Aggregate:
    result = Aggregate()
    for indicator, (numerator, denominator) in totals.items():
        result.apply(Delta("", indicator.replace("_", "-"), Contribution(), Contribution(numerator, denominator)))
    return result


def test_a_98_percent_figure_is_shown_to_the_internal_board_and_hidden_in_public_papers() -> None:
    figures = {"rha-in-date": Figure(49, 50)}
    assert suppress(figures, 5, "internal")["rha-in-date"] is None
    assert suppress(figures, 5, "public")["rha-in-date"] == "small-complement"
    assert suppress(figures, 5)["rha-in-date"] == "small-complement"  # the core's default is the strict one


@pytest.mark.parametrize(
    ("numerator", "denominator", "reason"),
    [(3, 50, "small-count"), (0, 3, "small-denominator"), (2, 3, "small-count")],
)
def test_small_counts_and_groups_stay_hidden_for_both_audiences(numerator: int, denominator: int, reason: str) -> None:
    for audience in ("internal", "public"):
        assert suppress({"rha-in-date": Figure(numerator, denominator)}, 5, audience)["rha-in-date"] == reason


def test_the_summary_says_its_audience_and_keeps_the_figure_for_the_internal_board() -> None:
    totals = _aggregate(rha_in_date=(49, 50))
    internal = build_summary(totals, date(2026, 3, 31), 5, audience="internal")
    public = build_summary(totals, date(2026, 3, 31), 5, audience="public")
    assert internal["audience"] == "internal"
    assert public["audience"] == "public"
    shown, hidden = internal["indicators"]["rha-in-date"], public["indicators"]["rha-in-date"]
    assert (shown["value"], shown["numerator"], shown["suppressed"]) == (98.0, 49, False)
    assert (hidden["value"], hidden["numerator"], hidden["suppression"]) == (None, None, "small-complement")


def test_the_notes_name_the_rule_that_hid_a_figure() -> None:
    assert footnote("small-complement", 5).startswith("small-complement rule: ")
    totals = _aggregate(rha_in_date=(49, 50), cla_count=(3, 0))
    as_of = date(2026, 3, 31)
    public = build_summary(totals, as_of, 5, audience="public")
    html = render_html(Pack("Example Council", public, {as_of: public}, "test"))
    assert "small-complement rule:" in html
    assert "small-count rule:" in html
    internal = build_summary(totals, as_of, 5, audience="internal")
    html = render_html(Pack("Example Council", internal, {as_of: internal}, "test"))
    assert "small-complement rule:" not in html
    assert "small-count rule:" in html
    assert "for the authority&#39;s own board" in html or "for the authority's own board" in html
