"""rhi-overdue: no return home interview within 72 hours of a missing episode ending."""

from __future__ import annotations

from datetime import date, timedelta
from math import ceil
from typing import TYPE_CHECKING, Final

from ..state import ChildState, Finding, MissingEpisode, Period
from .base import RuleParams, RuleSpec, Verdict, earliest, overdue

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "rhi-overdue"


class Params(RuleParams):
    hours: int


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """No return interview within 72 hours of a missing episode ending (one finding per episode).

    Basis: Statutory guidance on children who run away or go missing from home or care (DfE 2014): an
    independent return interview within 72 hours of return. Rules work on dates: the deadline is the
    return date + ceil(72/24) = 3 days (an interview on that day is on time), overdue from the day
    after. Applies to episodes that started while the child was looked after; the finding stays until an
    interview is recorded for that episode.
    """
    params = config.params(ID, Params)
    days = ceil(params.hours / 24)
    findings: list[Finding] = []
    next_due: date | None = None
    # An episode without a return interview stays overdue for good, and such episodes are kept for good
    # (see .horizon): their findings are remembered by episode (a new episode value when it changes), so
    # the rule's cost does not grow with the child's history. Valid while the periods and parameters are.
    before: _Memo | None = state.memo.get(_MEMO)
    valid = before is not None and before[0] is state.periods and before[1] is params and before[2] == state.child_id
    known = before[3] if before is not None and valid else {}
    remembered: dict[int, tuple[MissingEpisode, Finding]] = {}
    for episode in state.missing_episodes:
        if episode.end is None or episode.end > as_of or episode.start is None:
            continue
        entry = known.get(id(episode))
        if entry is not None and entry[0] is episode and as_of >= entry[1].since:
            remembered[id(episode)] = entry
            findings.append(entry[1])
            continue
        if state.looked_after_on(episode.start) is None:
            continue
        if any(i.on <= as_of for i in episode.return_interviews):
            continue
        verdict = overdue(
            state,
            rule=ID,
            severity=SPEC.severity,
            subject=f"episode:{episode.episode_id}",
            deadline=episode.end + timedelta(days=days),
            as_of=as_of,
            summary=(
                f"Child {state.child_id} returned from a missing episode on {episode.end.isoformat()} and "
                f"has had no return interview within {params.hours} hours."
            ),
            event_ids=[episode.start_event_id, episode.end_event_id],
            dates={"returned": episode.end},
        )
        findings.extend(verdict.findings)
        next_due = earliest(next_due, verdict.next_due)
        if verdict.findings and not episode.return_interviews:
            remembered[id(episode)] = (episode, verdict.findings[0])
    state.memo[_MEMO] = (state.periods, params, state.child_id, remembered)
    return Verdict(findings=tuple(findings), next_due=next_due)


_MEMO: Final = "rhi-overdue.findings"
_Memo = tuple[tuple[Period, ...], Params, str, dict[int, tuple[MissingEpisode, Finding]]]


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="DfE statutory guidance on children who go missing (2014): return interview within 72 hours",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "missing_episodes"),
)
