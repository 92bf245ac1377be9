"""Authority indicators of workforce stability, statutory timescales and care leavers aged 17–18, on small
hand-built cohorts; numerators and denominators worked out by hand, each window's edge from both sides.

As in ``test_board_indicators``, every cohort is read as of Wednesday 31 December 2025, so "the 12 months up
to it" are 1 January–31 December 2025; 25 and 26 December 2025 are bank holidays.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from services.board.core.aggregate import Contribution
from services.board.core.catalogue import INDICATORS
from services.board.core.indicators import contributions, next_change, summarise
from services.board.pack import render_html, write_xlsx
from tests.unit.test_board_indicators import AS_OF, child, contact, end, place, start, total
from tests.unit.test_board_pack import pack


def worker(when: str, worker_id: str, employment: str | None = None) -> tuple[Any, ...]:
    fields: dict[str, Any] = {"worker_id": worker_id}
    if employment is not None:
        fields["employment"] = employment
    return ("social_worker.changed", when, fields)


def visit(when: str) -> tuple[Any, ...]:
    return ("visit.completed", when, {})


def review(when: str) -> tuple[Any, ...]:
    return ("review.held", when, {})


def plan_review(when: str) -> tuple[Any, ...]:
    return ("pathway_plan.reviewed", when, {})


def test_change_of_social_worker_in_the_12_months() -> None:
    cohort = [
        # w1 → w2 on the window's first day: a change
        child("a", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-01-01", "w2")),
        # the change a day before the window: none in it
        child("b", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2024-12-31", "w2")),
        # the first allocation is not a change
        child("c", "2012-01-01", start("2025-03-01"), worker("2025-03-01", "w1")),
        # the same worker named again is not a change
        child("d", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-06-01", "w1")),
        # a change on the date itself counts
        child("e", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-12-31", "w2")),
        # a change after the date is not seen yet
        child("f", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2026-01-01", "w2")),
        # changed, but no longer looked after: not in the cohort
        child("g", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-02-01", "w2"),
              end("2025-06-01")),
    ]  # fmt: skip
    assert total(cohort, "social-worker-changed-12m") == Contribution(2, 6)
    # a day later, a's change has left the 12 months and f's has come in
    assert total(cohort, "social-worker-changed-12m", date(2026, 1, 1)) == Contribution(2, 6)
    assert "social-worker-changed-12m" in contributions(cohort[0], AS_OF)
    assert contributions(cohort[0], date(2026, 1, 1))["social-worker-changed-12m"] == Contribution(0, 1)


def test_agency_share_of_allocated_social_workers() -> None:
    cohort = [
        # allocated an agency worker on the date
        child("a", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1", "permanent"),
              worker("2025-12-31", "w2", "agency")),
        # a permanent worker from the date
        child("b", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1", "agency"),
              worker("2025-12-31", "w2", "permanent")),
        # the permanent worker comes the day after: still the agency worker on the date
        child("c", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1", "agency"),
              worker("2026-01-01", "w2", "permanent")),
        # employment not recorded: left out
        child("d", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1")),
        # no worker allocated: left out
        child("e", "2012-01-01", start("2024-01-01")),
        # agency, but left care
        child("f", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1", "agency"), end("2025-06-01")),
    ]  # fmt: skip
    assert total(cohort, "agency-sw-share") == Contribution(2, 3)
    assert total(cohort, "agency-sw-share", date(2026, 1, 1)) == Contribution(1, 3)


def test_visits_in_timescale_at_the_rule_boundaries() -> None:
    cohort = [
        # placed 24 Dec, first visit due by 31 Dec (7 days): not yet overdue
        child("a", "2012-01-01", start("2025-12-24"), place("2025-12-24", "U1")),
        # placed 23 Dec, due by 30 Dec: overdue from the 31st
        child("b", "2012-01-01", start("2025-12-23"), place("2025-12-23", "U1")),
        # last visit 19 Nov, next due by 31 Dec (6 weeks): in timescale
        child("c", "2012-01-01", start("2025-06-01"), place("2025-06-01", "U1"), visit("2025-11-19")),
        # last visit 18 Nov, due by 30 Dec: overdue
        child("d", "2012-01-01", start("2025-06-01"), place("2025-06-01", "U1"), visit("2025-11-18")),
        # intended until 18, past its first year: 3-monthly; 30 Sep + 3 months = 30 Dec: overdue
        child("e", "2012-01-01", start("2024-01-01"), place("2024-01-01", "U1", intended_until_18=True),
              visit("2025-09-30")),
        # 1 Oct + 3 months = 1 Jan: in timescale
        child("f", "2012-01-01", start("2024-01-01"), place("2024-01-01", "U1", intended_until_18=True),
              visit("2025-10-01")),
        # no placement recorded: left out
        child("g", "2012-01-01", start("2025-06-01")),
        # short breaks: left out (their own cycle)
        child("h", "2012-01-01", start("2025-06-01", legal_status="V3"), place("2025-06-01", "U1")),
    ]  # fmt: skip
    assert total(cohort, "visits-in-timescale") == Contribution(3, 6)
    # the day before, b, d and e were still in timescale (due that day)
    assert total(cohort, "visits-in-timescale", date(2025, 12, 30)) == Contribution(6, 6)


def test_reviews_in_timescale_at_the_rule_boundaries() -> None:
    # From Mon 1 Dec 2025 the 20th working day is Wed 31 Dec (25 and 26 Dec skipped); from Fri 28 Nov it
    # is Tue 30 Dec.
    cohort = [
        child("a", "2012-01-01", start("2025-12-01")),  # first review due by 31 Dec: in timescale
        child("b", "2012-01-01", start("2025-11-28")),  # due by 30 Dec: overdue
        # first review 30 Sep, second due 3 months on, 30 Dec: overdue
        child("c", "2012-01-01", start("2025-09-01"), review("2025-09-30")),
        # first review 1 Oct, second due 1 Jan: in timescale
        child("d", "2012-01-01", start("2025-09-01"), review("2025-10-01")),
        # third and later every 6 months: 30 Jun + 6 months = 30 Dec: overdue
        child("e", "2012-01-01", start("2024-01-01"), review("2024-01-20"), review("2024-04-20"),
              review("2025-06-30")),
        # 1 Jul + 6 months = 1 Jan: in timescale
        child("f", "2012-01-01", start("2024-01-01"), review("2024-01-20"), review("2024-04-20"),
              review("2025-07-01")),
        child("g", "2012-01-01", start("2025-06-01", legal_status="V3")),  # short breaks: left out
        child("h", "2012-01-01", start("2024-01-01"), end("2025-06-01")),  # left care: left out
    ]  # fmt: skip
    assert total(cohort, "reviews-in-timescale") == Contribution(3, 6)
    assert total(cohort, "reviews-in-timescale", date(2025, 12, 30)) == Contribution(6, 6)


def test_pathway_plans_in_date() -> None:
    cohort = [
        # left care 30 Jun at 18, no review since: due 30 Dec, overdue
        child("a", "2007-01-01", start("2022-01-01"), end("2025-06-30", "E5")),
        # left 1 Jul: due 1 Jan, in date
        child("b", "2007-01-01", start("2022-01-01"), end("2025-07-01", "E5")),
        # reviewed 30 Jun: due 30 Dec, overdue
        child("c", "2007-01-01", start("2022-01-01"), end("2024-01-01", "E5"), plan_review("2025-06-30")),
        # reviewed 1 Jul: in date
        child("d", "2007-01-01", start("2022-01-01"), end("2024-01-01", "E5"), plan_review("2025-07-01")),
        # 21 on the date: no longer counted
        child("e", "2004-12-31", start("2020-01-01"), end("2022-12-31", "E5")),
        # 20 on the date (21 tomorrow), reviewed 1 Jul: in date
        child("f", "2005-01-01", start("2020-01-01"), end("2023-01-01", "E5"), plan_review("2025-07-01")),
        # adopted: not a care leaver
        child("g", "2007-01-01", start("2022-01-01"), end("2025-06-30", "E11")),
        # still looked after
        child("h", "2007-01-01", start("2022-01-01")),
    ]  # fmt: skip
    assert total(cohort, "pathway-plans-in-date") == Contribution(3, 5)
    # the day before: a and c due that day, and e still 20 (long overdue)
    assert total(cohort, "pathway-plans-in-date", date(2025, 12, 30)) == Contribution(5, 6)


def test_care_leavers_aged_17_and_18() -> None:
    cohort = [
        # 17 on the date; in touch, in education, suitably housed
        child("a", "2008-12-31", start("2023-01-01"), end("2025-06-01", "E5"), contact("2025-06-01", True, "F5", "U1")),
        # 17 only tomorrow: not yet counted
        child("b", "2009-01-01", start("2023-01-01"), end("2025-06-01", "E5"), contact("2025-06-01", True, "F5", "U1")),
        # 18, in touch but NEET and unsuitably housed
        child("c", "2007-01-01", start("2022-01-01"), end("2025-01-01", "E5"), contact("2025-03-01", True, "G5", "W2")),
        # 18, last contact a day before the 12 months: no contact, counted against every measure
        child("d", "2007-01-01", start("2022-01-01"), end("2024-06-01", "E5"),
              contact("2024-12-31", True, "F5", "U1")),
        # 19 on the date: the 19–21 band
        child("e", "2006-12-31", start("2021-01-01"), end("2024-06-01", "E5"), contact("2025-06-01", True, "F5", "U1")),
    ]  # fmt: skip
    assert total(cohort, "care-leavers-in-touch-17-18") == Contribution(2, 3)
    assert total(cohort, "care-leavers-eet-17-18") == Contribution(1, 3)
    assert total(cohort, "care-leavers-suitable-accommodation-17-18") == Contribution(1, 3)
    assert total(cohort, "care-leavers-in-touch") == Contribution(1, 1)
    # a day later b is 17 and joins, and c and d are 19 and leave for the older band
    assert total(cohort, "care-leavers-in-touch-17-18", date(2026, 1, 1)) == Contribution(2, 2)
    assert total(cohort, "care-leavers-in-touch", date(2026, 1, 1)) == Contribution(2, 3)


def test_the_in_timescale_indicators_wake_on_the_day_after_each_deadline() -> None:
    placed = child("b", "2012-01-01", start("2025-12-23"), place("2025-12-23", "U1"))
    assert contributions(placed, date(2025, 12, 30))["visits-in-timescale"] == Contribution(1, 1)
    assert next_change(placed, date(2025, 12, 30)) == date(2025, 12, 31)
    reviewed = child("f", "2012-01-01", start("2024-01-01"), review("2024-01-20"), review("2024-04-20"),
                     review("2025-07-01"))  # fmt: skip
    changes = []
    day = date(2025, 12, 1)
    while (following := next_change(reviewed, day)) is not None and following <= date(2026, 1, 5):
        changes.append(following)
        day = following
    assert date(2026, 1, 2) in changes  # due by 1 Jan: overdue from the 2nd
    assert contributions(reviewed, date(2026, 1, 2))["reviews-in-timescale"] == Contribution(0, 1)


NEW = (
    "social-worker-changed-12m",
    "agency-sw-share",
    "visits-in-timescale",
    "reviews-in-timescale",
    "pathway-plans-in-date",
    "care-leavers-in-touch-17-18",
    "care-leavers-eet-17-18",
    "care-leavers-suitable-accommodation-17-18",
)


def test_the_new_indicators_reach_the_summary_the_html_and_the_xlsx(tmp_path: Path) -> None:
    cohort = [
        child(name, "2012-01-01", start("2025-06-01"), place("2025-06-01", "U1"), visit(day))
        for name, day in (("a", "2025-11-19"), ("b", "2025-11-18"))
    ]
    found = summarise(cohort, AS_OF, threshold=1)["indicators"]["visits-in-timescale"]
    assert (found["numerator"], found["denominator"], found["value"]) == (1, 2, 50.0)
    html = render_html(pack())
    path = tmp_path / "pack.xlsx"
    write_xlsx(path, pack())
    data = load_workbook(path)["Data"]
    column = [cell.value for cell in data[1]].index("indicator")
    in_xlsx = {row[column] for row in data.iter_rows(min_row=2, values_only=True)}
    for indicator_id in NEW:
        assert INDICATORS[indicator_id].unit == "percent"
        assert INDICATORS[indicator_id].title in html
        assert indicator_id in in_xlsx
