"""Children a figure leaves out as not known (their period of care began before the data, counted in
``<indicator>.unknown``) are shown beside the figure: in the summary (API) and on the board page's rows."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from schemas.board import BoardSummary
from schemas.events import parse_event
from services.board.core.aggregate import Aggregate
from services.board.core.catalogue import INDICATORS, NOT_KNOWN
from services.board.core.indicators import contributions
from services.board.core.summary import build_summary
from services.board.pack import Pack, render_html, unknown_text
from services.rules.core.fold import apply
from services.rules.core.state import ChildState

AS_OF = date(2025, 6, 1)
_ids = itertools.count()


def child(child_id: str, began_before_data: bool) -> ChildState:
    state = None
    for raw in (
        {"type": "care.started", "occurred_at": "2025-01-06", "date_of_birth": "2011-03-01", "sex": "F",
         "legal_status": "C2", "period_began_before_data": began_before_data, "new_episode_reason": "P"},
        {"type": "placement.started", "occurred_at": "2025-01-06", "placement_type": "U4"},
    ):  # fmt: skip
        state, _ = apply(
            state, parse_event({"event_id": f"u{next(_ids)}", "child_id": child_id, **raw}, received_at=None)
        )
    assert state is not None
    return state


def summary_of(known: int, not_known: int, threshold: int = 5) -> dict[str, Any]:
    states = [child(f"k{n}", False) for n in range(known)] + [child(f"u{n}", True) for n in range(not_known)]
    return build_summary(Aggregate.of(contributions(s, AS_OF) for s in states), AS_OF, threshold, audience="internal")


def test_the_catalogue_marks_exactly_the_indicators_the_definitions_can_leave_not_known() -> None:
    emitted = {name.removesuffix(".unknown") for name in contributions(child("a", True), AS_OF) if ".unknown" in name}
    assert emitted == {"placements-3plus-12m", "long-term-stability"}
    assert {id_ for id_, indicator in INDICATORS.items() if indicator.may_be_unknown} == emitted


def test_the_summary_counts_the_children_not_known_beside_the_figure() -> None:
    found = summary_of(known=6, not_known=7)["indicators"]
    placements = found["placements-3plus-12m"]
    assert (placements["denominator"], placements["unknown"], placements["unknown_suppressed"]) == (6, 7, False)
    assert (found["long-term-stability"]["unknown"], found["long-term-stability"]["unknown_suppressed"]) == (7, False)
    assert found["cla-count"]["unknown"] is None  # always known: no count, not a 0
    none_unknown = summary_of(known=6, not_known=0)["indicators"]["placements-3plus-12m"]
    assert (none_unknown["unknown"], none_unknown["unknown_suppressed"]) == (0, False)
    BoardSummary.model_validate(summary_of(known=6, not_known=7))


def test_a_small_count_of_children_not_known_is_hidden_like_any_count() -> None:
    placements = summary_of(known=6, not_known=4)["indicators"]["placements-3plus-12m"]
    assert (placements["unknown"], placements["unknown_suppressed"]) == (None, True)
    at_threshold = summary_of(known=6, not_known=5)["indicators"]["placements-3plus-12m"]
    assert (at_threshold["unknown"], at_threshold["unknown_suppressed"]) == (5, False)


def _page(found: dict[str, Any]) -> str:
    return render_html(Pack("Exampleshire", found, {AS_OF: found}, "test", ()))


def test_the_board_page_shows_the_count_on_the_indicator_row_and_says_why_in_the_definitions() -> None:
    page = _page(summary_of(known=6, not_known=7))
    assert '<span class="unknown" data-unknown="placements-3plus-12m">7 not known' in page
    assert '<span class="unknown" data-unknown="long-term-stability">7 not known' in page
    assert 'data-unknown="cla-count"' not in page
    assert page.count(NOT_KNOWN) == 2  # in the definitions of the two indicators that can leave children out
    hidden = summary_of(known=6, not_known=4)["indicators"]["placements-3plus-12m"]
    assert unknown_text(hidden, 5) == "fewer than 5 not known (care began before the data)"
    assert unknown_text(summary_of(known=6, not_known=0)["indicators"]["placements-3plus-12m"], 5) == ""
