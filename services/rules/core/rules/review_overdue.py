"""review-overdue: statutory looked-after review not held on time."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..calendar import add_months, add_working_days
from ..definitions import full_care_since, initial_clocks_unknown
from ..state import ChildState
from .base import RuleParams, RuleSpec, Verdict, looked_after, overdue, period_subject

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "review-overdue"


class Params(RuleParams):
    first_working_days: int
    second_months: int
    later_months: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """First review later than 20 working days after care started, second later than 3 months after the
    first, then later than 6 months after the previous.

    Basis: CPPCR 2010 reg 33. Boundary: the first deadline is the 20th working day after the start (start
    day not counted); the second is the first review's date plus 3 calendar months, later ones the previous
    review's date plus 6 months; a review on the deadline day is on time; overdue from the day after.
    Reviews count from the start of the current period of care. Short breaks (LS V3/V4) are excluded
    (they have their own review cycle); a child who moves from short breaks to a full order has the
    first-review clock start that day (``definitions.full_care_since``), never back-dated. For a period
    that began before the data the reviews before it are unknown: the next review is due 6 months after
    the latest one in the data, or after the data's first day when none is.
    """
    params = config.params(ID, Params)
    period = looked_after(state, as_of, include_short_breaks=False)
    since = None if period is None else full_care_since(state, period, as_of)
    if period is None or since is None:
        return Verdict()
    held = [r for r in state.reviews if since <= r.on <= as_of]
    # Reviews too old to keep are counted (the latest review is always kept, so ``held`` is not empty).
    count = len(held) + dict(state.pruned_reviews).get(period.start, 0)
    if initial_clocks_unknown(period, since):
        last_day = held[-1].on if held else since
        deadline = add_months(last_day, params.later_months)
        which, last_id = "next", held[-1].event_id if held else period.start_event_id
    elif not held:
        deadline = add_working_days(since, params.first_working_days)
        which, last_id = "first", period.start_event_id
    elif count == 1:
        deadline = add_months(held[0].on, params.second_months)
        which, last_id = "second", held[0].event_id
    else:
        deadline = add_months(held[-1].on, params.later_months)
        which, last_id = f"number {count + 1}", held[-1].event_id
    return overdue(
        state,
        rule=ID,
        severity=SPEC.severity,
        subject=period_subject(period),
        deadline=deadline,
        as_of=as_of,
        summary=(
            f"Child {state.child_id}'s {which} looked-after review was due by {deadline.isoformat()} "
            "and has not been held."
        ),
        event_ids=[last_id],
        dates={"care_started": period.start},
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="CPPCR 2010 reg 33 (20 WD, then 3 months, then 6 months)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "reviews", "pruned_reviews"),
)
