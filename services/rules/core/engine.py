"""The rules engine API used by the stream adapter and by replay.

``on_event`` folds an event into the child's state and ``on_tick`` only moves time; both then evaluate
every enabled rule as of ``as_of`` and compare the findings now true with those true before
(level-triggered): a new finding is *raised*, a finding gone is *resolved*, a finding whose severity
changed is raised again under the same fingerprint (the alerts service treats it as an update).

Verdicts are reused: each evaluated state remembers, per rule, the verdict it got, the date it was
evaluated for and the state fields the rule read (:attr:`RuleSpec.reads`). A rule is evaluated again
only when one of those fields is a different object (the fold copies a collection only when an event
changes it) or its next due date has come, since a verdict stands until then by definition. A reused
verdict's findings are already among the state's findings with the same severity, so the comparison
keeps the previous ones and the output is what evaluating every rule would give.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from schemas.alerts import AlertTransition, fingerprint
from schemas.events import CaseEvent

from .config import RulesConfig
from .fold import Change, apply
from .registry import RULES
from .rules.base import RuleSpec, Verdict
from .state import ChildState, Finding


@dataclass(frozen=True)
class Outcome:
    state: ChildState
    """The child's state, with the findings now active (for the next level-triggered comparison)."""
    transitions: tuple[AlertTransition, ...]
    next_due: date | None
    """Earliest date at which a tick could change this child's findings (None: only an event can)."""


@dataclass(frozen=True, slots=True)
class _Memo:
    """A rule's verdict as of ``as_of`` over the state fields ``inputs`` (in the order of its ``reads``)."""

    as_of: date
    inputs: tuple[Any, ...]
    verdict: Verdict

    def holds(self, as_of: date, inputs: tuple[Any, ...]) -> bool:
        due = self.verdict.next_due
        return (
            self.as_of <= as_of
            and (due is None or as_of < due)
            and all(mine is theirs for mine, theirs in zip(self.inputs, inputs, strict=True))
        )


Memos = dict[str, _Memo]


class Engine:
    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self.rules: tuple[RuleSpec, ...] = tuple(
            spec for rule_id, spec in sorted(RULES.items()) if config.enabled(rule_id)
        )

    def on_event(self, state: ChildState | None, event: CaseEvent, as_of: date) -> Outcome:
        """Apply ``event`` (a repeat of a processed event id changes nothing) and evaluate as of ``as_of``.

        ``as_of`` is the stream's clock: the latest tick date, or the event's own date when later.
        A finding that clears because of the event is resolved at the event's date.
        """
        folded, change = apply(state, event)
        return self._evaluate(
            folded,
            max(as_of, event.occurred_on),
            changed_at=event.occurred_on,
            history_changed=change is Change.REFOLDED,
            memos=self._memos(state) if state is not None else {},
        )

    def on_tick(self, state: ChildState, as_of: date) -> Outcome:
        """Let time pass: findings whose clocks ran out by ``as_of`` are raised, and those whose window
        passed are resolved at ``as_of``."""
        return self._evaluate(state, as_of, changed_at=as_of, history_changed=False, memos=self._memos(state))

    def findings(self, state: ChildState, as_of: date) -> tuple[tuple[Finding, ...], date | None]:
        """The findings true for the child as of ``as_of`` (sorted by rule, subject) and the next due date."""
        found, next_due, _ = self._verdicts(state, as_of, {})
        return found, next_due

    def _memos(self, state: ChildState) -> Memos:
        memos: Memos = state.memo.get(self, {})
        return memos

    def _verdicts(
        self, state: ChildState, as_of: date, memos: Memos
    ) -> tuple[tuple[Finding, ...], date | None, Memos]:
        """Every enabled rule's verdict (reused from ``memos`` where it still holds): the findings sorted
        by (rule, subject), the earliest next due date, and the memos of this evaluation."""
        found: list[Finding] = []
        next_due: date | None = None
        kept: Memos = {}
        # A verdict stands until its next due date only for facts it saw in the past: one evaluated
        # before the child's latest event is not reused.
        latest = state.events[-1].occurred_on if state.events else None
        for spec in self.rules:
            inputs = tuple([getattr(state, name) for name in spec.reads])
            memo = memos.get(spec.id)
            if memo is None or (latest is not None and memo.as_of < latest) or not memo.holds(as_of, inputs):
                memo = _Memo(as_of, inputs, spec.evaluate(state, as_of, self.config))
            kept[spec.id] = memo
            verdict = memo.verdict
            found.extend(verdict.findings)
            if verdict.next_due is not None and (next_due is None or verdict.next_due < next_due):
                next_due = verdict.next_due
        found.sort(key=_finding_key)
        return tuple(found), next_due, kept

    def _evaluate(
        self, state: ChildState, as_of: date, *, changed_at: date, history_changed: bool, memos: Memos
    ) -> Outcome:
        """Compare the findings now true with those before.

        ``at`` of a transition, in event time: a raise takes effect on the finding's ``since`` (the first
        overdue day, the event that completed a pattern); when a late event or a retraction changed the
        child's history, not before that event's date (the alert could not be known earlier, and it may
        follow a resolution of the same alert). A severity change takes effect on ``changed_at`` (the
        event's or the tick's date). A resolution takes effect on ``changed_at`` but never before its
        raise. None of this depends on how often the child was evaluated, so replay with a deadline
        index gives the same output as evaluating every child every day.
        """
        now, next_due, kept_memos = self._verdicts(state, as_of, memos)
        before = {finding.key: finding for finding in state.findings}
        transitions: list[AlertTransition] = []
        kept: list[Finding] = []
        for finding in now:
            previous = before.get(finding.key)
            if previous is not None and previous.severity == finding.severity:
                # Unchanged alert: keep it as raised (its resolution then reports what was raised, and
                # does not depend on how often the child was evaluated in between).
                kept.append(previous)
                continue
            dated_by_change = previous is not None or history_changed
            at = max(finding.since, changed_at) if dated_by_change else finding.since
            kept.append(replace(finding, raised_at=at))
            transitions.append(self._transition(state, finding, "raised", at))
        current = {finding.key for finding in now}
        for key, finding in before.items():
            if key not in current:
                at = max(changed_at, finding.raised_at or finding.since)
                transitions.append(self._transition(state, finding, "resolved", at))
        transitions.sort(key=AlertTransition.sort_key)
        evaluated = replace(state, findings=tuple(kept), evaluated_as_of=as_of)
        evaluated.memo[self] = kept_memos
        return Outcome(state=evaluated, transitions=tuple(transitions), next_due=next_due)

    @staticmethod
    def _transition(state: ChildState, finding: Finding, kind: str, at: date) -> AlertTransition:
        summary = finding.summary if kind == "raised" else f"Resolved: {finding.summary}"
        return AlertTransition(
            fingerprint=fingerprint(finding.rule, state.child_id, finding.subject),
            rule=finding.rule,
            child_id=state.child_id,
            state="raised" if kind == "raised" else "resolved",
            at=at,
            severity=finding.severity,
            summary=summary,
            evidence=finding.evidence,
            dates=finding.dates,
            team=state.team,
        )


def _finding_key(finding: Finding) -> tuple[str, str]:
    return (finding.rule, finding.subject)
