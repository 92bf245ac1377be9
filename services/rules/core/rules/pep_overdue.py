"""pep-overdue: no initial personal education plan in time, or a school term passed without a PEP review."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_working_days, add_years, age_on
from ..definitions import full_care_since, initial_clocks_unknown, pep_clock_start
from ..state import ChildState
from .base import ONE_DAY, RuleParams, RuleSpec, Verdict, looked_after, overdue, period_subject

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "pep-overdue"


class Params(RuleParams):
    initial_working_days: int
    min_age: int
    max_age: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No PEP 20 working days after care started; or, after the first PEP, a school term ended with no PEP
    since the end of the term before it.

    Basis: CPPCR 2010 reg 5(b)(ii) and Sch 1 para 2 (PEP part of the care plan, in place for the first
    review); Promoting the education of looked-after children (2018): reviewed each school term.
    Boundaries: initial — the deadline is the 20th working day after the start (the start day not
    counted), any PEP on or before it is on time, overdue from the day after; the clock starts with full
    care (after short breaks: the day of the move to a full order, never back-dated), or for a child
    under ``min_age`` then, on the first day of the first school term starting on or after the
    ``min_age`` birthday (``definitions.pep_clock_start``, shared with the board's pep-in-date); none
    when the child is ``max_age`` on the deadline. Termly — the term in which (or in the holiday before
    which) the latest PEP fell is covered; the next term must have a PEP dated after the covered term's
    end and no later than its own last day; overdue from the day after that term ends, until a PEP is
    recorded. Not checked for terms starting on or after the 18th birthday. Short breaks excluded. A
    period that began before the data has no initial deadline: the data's first day counts as covered.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    since = None if period is None else full_care_since(state, period, as_of)
    if period is None or since is None:
        return Verdict()
    peps = [p for p in state.peps if period.start <= p.on <= as_of]
    subject = period_subject(period)
    if not peps and initial_clocks_unknown(period, since):
        covered, due_term = config.school_calendar.term_after_covering(since)
        if due_term.start >= add_years(period.date_of_birth, params.max_age):
            return Verdict()
        return overdue(
            state,
            rule=ID,
            severity=SPEC.severity,
            subject=f"termly:{subject}",
            deadline=due_term.end,
            as_of=as_of,
            summary=(
                f"Child {state.child_id} had no personal education plan review in the {due_term.name} term "
                f"(none recorded since {since.isoformat()})."
            ),
            event_ids=[period.start_event_id],
            dates={"term_start": due_term.start, "covered_until": covered.end + ONE_DAY},
        )
    if not peps:
        clock = pep_clock_start(since, period.date_of_birth, config.school_calendar, params.min_age)
        deadline = add_working_days(clock, params.initial_working_days)
        if age_on(period.date_of_birth, deadline) >= params.max_age:
            return Verdict()
        return overdue(
            state,
            rule=ID,
            severity=SPEC.severity,
            subject=f"initial:{subject}",
            deadline=deadline,
            as_of=as_of,
            summary=(
                f"Child {state.child_id} has no personal education plan {params.initial_working_days} "
                f"working days after the PEP became due on {clock.isoformat()}."
            ),
            event_ids=[period.start_event_id],
        )
    last = peps[-1]
    covered, due_term = config.school_calendar.term_after_covering(last.on)
    if due_term.start >= add_years(period.date_of_birth, params.max_age):
        return Verdict()
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=f"termly:{subject}",
        deadline=due_term.end,
        as_of=as_of,
        summary=(
            f"Child {state.child_id} had no personal education plan review in the {due_term.name} term "
            f"(last PEP {last.on.isoformat()})."
        ),
        event_ids=[last.event_id],
        dates={"term_start": due_term.start, "last_pep": last.on, "covered_until": covered.end + ONE_DAY},
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="CPPCR 2010 reg 5 and Sch 1 para 2; DfE statutory guidance 2018 (PEP reviewed each term)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "peps"),
)
