"""Board indicators on small hand-built cohorts; expected numerators/denominators worked out by hand.

Every cohort is evaluated as of 31 Dec 2025, so "the 12 months up to it" are 1 Jan–31 Dec 2025.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from schemas.events import parse_event
from services.board.core.aggregate import Aggregate, Contribution
from services.board.core.indicators import contributions, next_change
from services.rules.core.fold import apply
from services.rules.core.state import ChildState

AS_OF = date(2025, 12, 31)
_ids = itertools.count()


def child(child_id: str, dob: str, *events: tuple[Any, ...]) -> ChildState:
    """A child's state from (type, date, fields) tuples; ``care.started`` gets the date of birth."""
    state: ChildState | None = None
    for type_, when, *rest in events:
        fields: dict[str, Any] = dict(rest[0]) if rest else {}
        if type_ == "care.started":
            fields = {"date_of_birth": dob, "sex": "F", "legal_status": "C2", **fields}
        raw = {
            "event_id": f"e{next(_ids)}",
            "type": type_,
            "child_id": child_id,
            "occurred_at": when,
            **fields,
        }
        state, _ = apply(state, parse_event(raw, received_at=None))
    assert state is not None
    return state


def start(when: str, **fields: Any) -> tuple[Any, ...]:
    return ("care.started", when, fields)


def end(when: str, reason: str = "E4A") -> tuple[Any, ...]:
    return ("care.ended", when, {"reason": reason})


def place(when: str, placement_type: str, **fields: Any) -> tuple[Any, ...]:
    return ("placement.started", when, {"placement_type": placement_type, **fields})


def total(states: list[ChildState], indicator: str, as_of: date = AS_OF) -> Contribution:
    return Aggregate.of(contributions(s, as_of) for s in states).get(indicator)


def test_counts_of_children_looked_after_entering_and_leaving() -> None:
    cohort = [
        child("a", "2012-01-01", start("2025-01-10", uasc=True)),  # looked after, UASC, entered
        child("b", "2012-01-01", start("2023-05-01"), end("2025-02-01")),  # left
        child("c", "2012-01-01", start("2025-03-01", legal_status="V3")),  # short breaks: nowhere
        child("d", "2012-01-01", start("2020-01-01"), end("2024-06-01")),  # left before the 12 months
        child("e", "2012-01-01", start("2025-12-31")),  # looked after from today, entered
        child("f", "2012-01-01", start("2025-06-01"), end("2025-12-31")),  # entered and left today
        child("g", "2012-01-01", start("2026-02-01")),  # after the date: nowhere
    ]
    assert total(cohort, "cla-count") == Contribution(2, 0)
    assert total(cohort, "uasc-count") == Contribution(1, 0)
    assert total(cohort, "entered-care-12m") == Contribution(3, 0)
    assert total(cohort, "left-care-12m") == Contribution(2, 0)


def test_short_break_legal_status_takes_a_child_out_of_the_count() -> None:
    state = child(
        "a", "2012-01-01", start("2024-01-01"), ("legal_status.changed", "2025-11-01", {"legal_status": "V4"})
    )
    assert "cla-count" in contributions(state, date(2025, 10, 31))
    assert "cla-count" not in contributions(state, date(2025, 11, 1))


def test_three_or_more_placements_in_twelve_months() -> None:
    cohort = [
        # 3: the first placement still ran in January
        child("a", "2012-01-01", start("2024-06-01"), place("2024-06-01", "U6"), place("2025-03-01", "K2"),
              place("2025-09-01", "U4")),
        # 2: the first placement's last day was 30 Dec 2024
        child("b", "2012-01-01", start("2024-06-01"), place("2024-06-01", "U6"), place("2024-12-31", "U4"),
              place("2025-09-01", "K2")),
        # 2: a holiday (T2) and the return to the same placement are not placements of their own
        child("c", "2012-01-01", start("2025-02-01"), place("2025-02-01", "U6"), place("2025-05-01", "T2"),
              place("2025-05-10", "U6"), place("2025-08-01", "K2")),
        # not looked after on the date: not in the cohort
        child("d", "2012-01-01", start("2025-01-01"), place("2025-01-01", "U6"), place("2025-02-01", "U6"),
              place("2025-03-01", "U4"), end("2025-04-01")),
    ]  # fmt: skip
    assert total(cohort, "placements-3plus-12m") == Contribution(1, 3)


def test_long_term_stability() -> None:
    cohort = [
        child("a", "2015-01-01", start("2023-01-01"), place("2023-01-01", "U4")),  # same placement 3 years
        # looked after exactly 2.5 years on 30 Dec; current placement only since 2024
        child("b", "2015-01-01", start("2023-06-30"), place("2023-06-30", "U6"), place("2024-01-01", "U4")),
        child("c", "2009-06-01", start("2020-01-01"), place("2020-01-01", "U4")),  # aged 16: out
        child("d", "2015-01-01", start("2023-07-01"), place("2023-07-01", "U4")),  # 2.5 years on 1 Jan 2026
        # placed for adoption with the foster carer of 3 years
        child("e", "2017-01-01", start("2022-01-01"), place("2022-01-01", "U4"), place("2025-06-01", "A3")),
        # in hospital (T1) now: the foster placement goes on
        child("f", "2017-01-01", start("2022-01-01"), place("2022-01-01", "U4"), place("2025-11-20", "T1")),
    ]
    assert total(cohort, "long-term-stability") == Contribution(3, 4)


def worker(when: str, worker_id: str) -> tuple[Any, ...]:
    return ("social_worker.changed", when, {"worker_id": worker_id})


def test_three_or_more_social_workers() -> None:
    cohort = [
        child("a", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-03-01", "w2"),
              worker("2025-06-01", "w3")),
        # w1 comes back: two workers
        child("b", "2012-01-01", start("2024-01-01"), worker("2024-01-01", "w1"), worker("2025-03-01", "w2"),
              worker("2025-06-01", "w1")),
        # w1's last day was 30 Dec 2024
        child("c", "2012-01-01", start("2023-01-01"), worker("2023-01-01", "w1"), worker("2024-12-31", "w2"),
              worker("2025-05-01", "w3")),
        child("d", "2012-01-01", start("2024-01-01"), worker("2025-01-01", "w1"), worker("2025-02-01", "w2"),
              worker("2025-03-01", "w3"), end("2025-04-01")),
    ]  # fmt: skip
    assert total(cohort, "social-workers-3plus-12m") == Contribution(1, 3)


def health(when: str) -> tuple[Any, ...]:
    return ("health_assessment.completed", when, {"kind": "initial"})


def test_initial_health_assessment_within_20_working_days() -> None:
    # From Mon 2 Jun 2025 the 20th working day is Mon 30 Jun. From Thu 1 May it is Mon 2 Jun, because of
    # the bank holidays of 5 and 26 May.
    cohort = [
        child("a", "2012-01-01", start("2025-06-02"), health("2025-06-30")),  # on the deadline
        child("b", "2012-01-01", start("2025-06-02"), health("2025-07-01")),  # a day late
        child("c", "2012-01-01", start("2025-06-02"), health("2025-04-01")),  # 2 months before care: counts
        child("d", "2012-01-01", start("2025-12-15")),  # deadline not passed
        child("e", "2012-01-01", start("2025-06-02"), end("2025-06-20")),  # left before the deadline
        child("f", "2012-01-01", start("2024-11-01"), health("2024-11-05")),  # started before the 12 months
        child("g", "2012-01-01", start("2025-05-01"), health("2025-06-02")),  # bank holidays skipped
    ]
    assert total(cohort, "iha-within-20wd") == Contribution(3, 4)
    assert "iha-within-20wd" not in contributions(cohort[1], date(2025, 6, 30))
    assert contributions(cohort[1], date(2025, 7, 1))["iha-within-20wd"] == Contribution(0, 1)


def test_health_and_dental_checks_in_date() -> None:
    dental = "dental_check.completed"
    cohort = [
        # under 5: 6-monthly; last on 1 Jul is in date up to 1 Jan
        child("a", "2022-05-01", start("2023-01-01"), health("2025-07-01"), (dental, "2024-12-31")),
        child("b", "2022-05-01", start("2023-01-01"), health("2025-06-30")),
        # 5 and over: yearly
        child("c", "2015-01-01", start("2020-01-01"), health("2025-01-01"), (dental, "2024-12-30")),
        child("d", "2015-01-01", start("2020-01-01"), (dental, "2025-06-01")),
        child("e", "2015-01-01", start("2025-01-01"), health("2025-01-02")),  # not yet 12 months in care
    ]
    assert total(cohort, "rha-in-date") == Contribution(2, 4)
    assert total(cohort, "dental-in-date") == Contribution(2, 4)


def pep(when: str) -> tuple[Any, ...]:
    return ("pep.completed", when, {"kind": "review"})


def test_pep_in_date() -> None:
    cohort = [
        child("a", "2015-01-01", start("2020-01-01"), pep("2025-09-01")),  # in date up to 1 Jan
        child("b", "2015-01-01", start("2020-01-01"), pep("2025-08-30")),  # lapsed 31 Dec
        # 3 on 1 Jan 2025: due from the spring term (5 Jan 2025), as the pep-overdue rule; in date
        child("c", "2022-01-01", start("2024-01-01"), pep("2025-09-01")),
        child("f", "2023-01-01", start("2024-01-01"), pep("2025-09-01")),  # aged 2: out
        child("d", "2015-01-01", start("2025-12-10")),  # first PEP not yet due
        # a PEP of the previous period of care does not count
        child("e", "2015-01-01", start("2025-01-01"), pep("2025-08-25"), end("2025-08-28"), start("2025-09-01")),
    ]
    assert total(cohort, "pep-in-date") == Contribution(2, 4)


def sdq(when: str, score: int) -> tuple[Any, ...]:
    return ("sdq.recorded", when, {"score": score})


def test_sdq_concern() -> None:
    cohort = [
        child("a", "2015-01-01", start("2020-01-01"), sdq("2025-03-01", 20)),
        child("b", "2015-01-01", start("2020-01-01"), sdq("2025-02-01", 20), sdq("2025-10-01", 12)),
        child("c", "2015-01-01", start("2020-01-01"), sdq("2024-12-31", 25)),  # too old
        child("d", "2008-06-01", start("2020-01-01"), sdq("2025-03-01", 30)),  # aged 17
        child("e", "2015-01-01", start("2025-06-01"), sdq("2025-07-01", 30)),  # under 12 months in care
    ]
    assert total(cohort, "sdq-concern") == Contribution(1, 2)


def missing(when: str, kind: str, episode: str) -> tuple[Any, ...]:
    return (f"{kind}", when, {"episode_id": episode})


def test_missing_children_and_return_interviews() -> None:
    cohort = [
        child("a", "2010-01-01", start("2020-01-01"),
              missing("2025-03-01", "missing.started", "m1"), missing("2025-03-02", "missing.ended", "m1"),
              missing("2025-03-05", "return_interview.completed", "m1"),  # on the third day: in time
              missing("2025-12-26", "missing.started", "m2"), missing("2025-12-28", "missing.ended", "m2")),
        child("b", "2010-01-01", start("2020-01-01"),
              missing("2024-12-20", "missing.started", "m1"), missing("2025-01-02", "missing.ended", "m1"),
              missing("2025-01-06", "return_interview.completed", "m1")),  # a day late
        child("c", "2010-01-01", start("2020-01-01"),
              missing("2024-12-01", "missing.started", "m1"), missing("2024-12-05", "missing.ended", "m1")),
    ]  # fmt: skip
    assert total(cohort, "missing-children-12m") == Contribution(1, 0)
    assert total(cohort, "rhi-within-72h") == Contribution(1, 2)


def contact(
    when: str, in_touch: bool, activity: str | None = None, accommodation: str | None = None
) -> tuple[Any, ...]:
    fields: dict[str, Any] = {"in_touch": in_touch}
    if activity:
        fields["activity"] = activity
    if accommodation:
        fields["accommodation"] = accommodation
    return ("care_leaver.contact", when, fields)


def test_care_leavers_aged_19_to_21() -> None:
    cohort = [
        child("a", "2005-06-01", start("2019-06-01"), end("2023-06-01", "E5"),
              contact("2025-06-01", True, "F5", "U1")),
        child("b", "2006-01-15", start("2021-01-01"), end("2023-01-15", "E5"),
              contact("2025-03-01", True, "G5", "W2")),
        child("c", "2004-03-01", start("2019-01-01"), end("2022-03-01", "E5"),
              contact("2024-11-01", True, "F5", "U1")),
        child("d", "2005-06-01", start("2021-06-01"), end("2021-07-01")),  # 30 days in care at 16
        child("e", "2003-12-01", start("2019-01-01"), end("2021-12-01", "E5")),  # 22 since 1 Dec
        child("f", "2005-06-01", start("2018-01-01"), end("2021-05-01")),  # left care at 15
    ]  # fmt: skip
    assert total(cohort, "care-leavers-in-touch") == Contribution(2, 3)
    assert total(cohort, "care-leavers-eet-19-21") == Contribution(1, 3)
    assert total(cohort, "care-leavers-suitable-accommodation-19-21") == Contribution(1, 3)


def test_placement_mix() -> None:
    cohort = [
        child("a", "2012-01-01", start("2024-01-01"), place("2024-01-01", "U6")),
        child("b", "2012-01-01", start("2024-01-01"), place("2024-01-01", "K2"), place("2025-01-01", "U4")),
        child("c", "2012-01-01", start("2024-01-01"), place("2024-01-01", "K2")),
        child("d", "2012-01-01", start("2024-01-01"), place("2024-01-01", "U4"), place("2025-12-20", "T1")),
        child("e", "2012-01-01", start("2024-01-01"), place("2024-01-01", "P1")),
        child("f", "2012-01-01", start("2024-01-01")),  # no placement recorded: not in the mix
        child("g", "2012-01-01", start("2024-01-01"), place("2024-01-01", "K2"), end("2025-06-01")),
    ]
    assert total(cohort, "placement-mix.foster") == Contribution(2, 5)
    assert total(cohort, "placement-mix.residential") == Contribution(1, 5)
    assert total(cohort, "placement-mix.temporary") == Contribution(1, 5)
    assert total(cohort, "placement-mix.with-parents") == Contribution(1, 5)
    assert total(cohort, "placement-mix.adoption") == Contribution(0, 5)


def test_next_change_finds_the_day_a_window_closes() -> None:
    state = child("a", "2012-01-01", start("2020-01-01"), sdq("2025-03-01", 20))
    # The SDQ score counts up to 28 Feb 2026 and drops out on 1 Mar 2026.
    assert contributions(state, date(2026, 2, 28))["sdq-concern"] == Contribution(1, 1)
    assert "sdq-concern" not in contributions(state, date(2026, 3, 1))
    changes = []
    day: date | None = date(2026, 1, 1)
    while day is not None and day <= date(2026, 3, 1):
        changes.append(day)
        day = next_change(state, day)
    assert date(2026, 3, 1) in changes
