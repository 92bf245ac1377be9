"""The rules engine API used by the stream adapter and by replay.

``on_event`` folds an event into the child's state and ``on_tick`` only moves time; both then evaluate
every enabled rule as of ``as_of`` and compare the findings now true with those true before
(level-triggered): a new finding is *raised*, a finding gone is *resolved*, a finding whose severity
changed is raised again under the same fingerprint (the alerts service treats it as an update).

Verdicts are reused: each evaluated state remembers every rule's verdict and the state's fact fields.
A rule is evaluated again only when a field it reads (:attr:`RuleSpec.reads`) is a different object
(the fold copies a collection only when an event changes it) or its next due date has come, since a
verdict stands until then by definition (for facts dated on or before the evaluation, which is why a
state holding later events is evaluated in full). A reused verdict's findings are already among the
state's findings with the same severity, so the comparison keeps the previous ones and the output is
what evaluating every rule would give.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from operator import attrgetter
from typing import Any

from schemas.alerts import AlertTransition, fingerprint
from schemas.events import CaseEvent

from .config import RulesConfig
from .fold import Change, apply
from .horizon import DEFAULT_HORIZON, Horizon
from .registry import RULES
from .rules.base import EVERY_FACT, RuleSpec, Verdict
from .state import ChildState, Finding


@dataclass(frozen=True)
class Outcome:
    state: ChildState
    """The child's state, with the findings now active (for the next level-triggered comparison)."""
    transitions: tuple[AlertTransition, ...]
    next_due: date | None
    """Earliest date at which a tick could change this child's findings (None: only an event can)."""


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """What an evaluation leaves on the state it produced, for the next one to reuse."""

    as_of: date
    facts: tuple[Any, ...]
    """The evaluated state's fields of :data:`EVERY_FACT`, in that order."""
    verdicts: tuple[Verdict, ...]
    """Per enabled rule (in :attr:`Engine.rules` order), its verdict; reused ones are older."""
    found: tuple[Finding, ...]
    next_due: date | None
    kept: tuple[Finding, ...]
    """The findings the evaluation stored on the state (previous copies of unchanged alerts)."""
    reusable: bool
    """Every event of the state was dated on or before ``as_of`` (see :meth:`Engine._stale`)."""


class Engine:
    def __init__(self, config: RulesConfig, *, reuse: bool = True, horizon: Horizon = DEFAULT_HORIZON) -> None:
        """``reuse=False`` evaluates every rule every time (the reference the reuse is tested against);
        ``horizon`` bounds the history each state keeps (:mod:`.horizon`)."""
        self.config = config
        self.reuse = reuse
        self.horizon = horizon
        self.rules: tuple[RuleSpec, ...] = tuple(
            spec for rule_id, spec in sorted(RULES.items()) if config.enabled(rule_id)
        )
        self._facts = attrgetter(*EVERY_FACT)
        # Fact field → the positions of the rules that read it.
        self._readers: dict[str, tuple[int, ...]] = {
            name: tuple(i for i, spec in enumerate(self.rules) if name in spec.reads) for name in EVERY_FACT
        }

    def on_event(self, state: ChildState | None, event: CaseEvent, as_of: date) -> Outcome:
        """Apply ``event`` (a repeat of a processed event id changes nothing) and evaluate as of ``as_of``.

        ``as_of`` is the stream's clock: the latest tick date, or the event's own date when later.
        A finding that clears because of the event is resolved at the event's date.
        """
        folded, change = apply(state, event, self.horizon)
        return self._evaluate(
            folded,
            max(as_of, event.occurred_on),
            changed_at=event.occurred_on,
            history_changed=change is Change.REFOLDED or change is Change.DEEP,
            previous=self._previous(state) if state is not None else None,
            owned=change is not Change.DUPLICATE,
        )

    def on_tick(self, state: ChildState, as_of: date) -> Outcome:
        """Let time pass: findings whose clocks ran out by ``as_of`` are raised, and those whose window
        passed are resolved at ``as_of``."""
        return self._evaluate(state, as_of, changed_at=as_of, history_changed=False, previous=self._previous(state))

    def findings(self, state: ChildState, as_of: date) -> tuple[tuple[Finding, ...], date | None]:
        """The findings true for the child as of ``as_of`` (sorted by rule, subject) and the next due date."""
        evaluation = self._verdicts(state, as_of, None)
        return evaluation.found, evaluation.next_due

    def _previous(self, state: ChildState) -> _Evaluation | None:
        previous: _Evaluation | None = state.memo.get(self)
        return previous

    def _stale(
        self, state: ChildState, as_of: date, previous: _Evaluation | None, facts: tuple[Any, ...]
    ) -> set[int] | None:
        """Positions of the rules whose verdict in ``previous`` may not hold for ``state`` (whose fields of
        :data:`EVERY_FACT` are ``facts``) as of ``as_of`` (None: every rule)."""
        if (
            not self.reuse
            or previous is None
            or not previous.reusable
            or as_of < previous.as_of
            or not _settled(state, as_of)
        ):
            return None  # a verdict's next due date speaks only for facts in its past
        stale: set[int] = set()
        if facts is not previous.facts:
            for name, now, before in zip(EVERY_FACT, facts, previous.facts, strict=True):
                if now is not before:
                    stale.update(self._readers[name])
        if previous.next_due is not None and as_of >= previous.next_due:
            stale.update(
                i for i, verdict in enumerate(previous.verdicts) if verdict.next_due and as_of >= verdict.next_due
            )
        return stale

    def _verdicts(self, state: ChildState, as_of: date, previous: _Evaluation | None) -> _Evaluation:
        """Every enabled rule's verdict, reused from ``previous`` where it still holds."""
        facts = self._facts(state)
        stale = self._stale(state, as_of, previous, facts)
        if previous is not None and stale is not None and not stale:
            return _Evaluation(
                as_of,
                facts,
                previous.verdicts,
                previous.found,
                previous.next_due,
                previous.kept,
                previous.reusable,
            )
        if stale is None or previous is None:
            verdicts = [spec.evaluate(state, as_of, self.config) for spec in self.rules]
            same = previous is not None and all(
                now.findings == before.findings for now, before in zip(verdicts, previous.verdicts, strict=True)
            )
        else:
            verdicts = list(previous.verdicts)
            for i in stale:
                verdicts[i] = self.rules[i].evaluate(state, as_of, self.config)
            same = all(verdicts[i].findings == previous.verdicts[i].findings for i in stale)
        next_due: date | None = None
        for verdict in verdicts:
            if verdict.next_due is not None and (next_due is None or verdict.next_due < next_due):
                next_due = verdict.next_due
        if previous is not None and same:
            # Every rule found what it found before (most often nothing): the same findings, so the
            # comparison in :meth:`_evaluate` can tell at once that nothing was raised or resolved.
            found = previous.found
        else:
            found = tuple(sorted((finding for verdict in verdicts for finding in verdict.findings), key=_finding_key))
        return _Evaluation(as_of, facts, tuple(verdicts), found, next_due, (), _settled(state, as_of))

    def _evaluate(
        self,
        state: ChildState,
        as_of: date,
        *,
        changed_at: date,
        history_changed: bool,
        previous: _Evaluation | None,
        owned: bool = False,
    ) -> Outcome:
        """Compare the findings now true with those before.

        ``at`` of a transition, in event time: a raise takes effect on the finding's ``since`` (the first
        overdue day, the event that completed a pattern); when a late event or a retraction changed the
        child's history, not before that event's date (the alert could not be known earlier, and it may
        follow a resolution of the same alert). An alert resolved on or after the finding's ``since``
        (remembered in :attr:`ChildState.resolved`) was false in between: raised again, it takes effect
        on ``changed_at`` (the evaluation that found it true again, on an event or a due date), never
        before that resolution. A severity change takes effect on ``changed_at`` (the
        event's or the tick's date). A resolution takes effect on ``changed_at`` but never before its
        raise. None of this depends on how often the child was evaluated, so replay with a deadline
        index gives the same output as evaluating every child every day.

        ``owned``: ``state`` is a value the fold has just made for this step, updated in place rather than
        copied once more.
        """
        evaluation = self._verdicts(state, as_of, previous)
        now = evaluation.found
        if previous is not None and now is previous.found and state.findings is previous.kept:
            # Same findings as the evaluation that stored these: nothing raised, nothing resolved.
            evaluated = _updated(state, owned, evaluated_as_of=as_of)
            evaluated.memo[self] = evaluation
            return Outcome(state=evaluated, transitions=(), next_due=evaluation.next_due)
        before = {finding.key: finding for finding in state.findings}
        transitions: list[AlertTransition] = []
        kept: list[Finding] = []
        for finding in now:
            previous_finding = before.get(finding.key)
            if previous_finding is not None and previous_finding.severity == finding.severity:
                # Unchanged alert: keep it as raised (its resolution then reports what was raised, and
                # does not depend on how often the child was evaluated in between).
                kept.append(previous_finding)
                continue
            dated_by_change = previous_finding is not None or history_changed
            at = max(finding.since, changed_at) if dated_by_change else finding.since
            if previous_finding is None and state.resolved:
                last = _last_resolution(state.resolved, finding.key)
                if last is not None and finding.since <= last:
                    # Resolved since it first held (care ended, say) and true again now (care started
                    # again): it holds again from this evaluation, never before that resolution.
                    at = max(at, changed_at, last)
            kept.append(replace(finding, raised_at=at))
            transitions.append(self._transition(state, finding, "raised", at))
        current = {finding.key for finding in now}
        resolutions: dict[tuple[str, str], date] = {}
        for key, finding in before.items():
            if key not in current:
                at = max(changed_at, finding.raised_at or finding.since)
                transitions.append(self._transition(state, finding, "resolved", at))
                resolutions[key] = at
        transitions.sort(key=AlertTransition.sort_key)
        if resolutions:
            evaluated = _updated(
                state,
                owned,
                findings=tuple(kept),
                evaluated_as_of=as_of,
                resolved=remember(state.resolved, resolutions),
            )
        else:
            evaluated = _updated(state, owned, findings=tuple(kept), evaluated_as_of=as_of)
        evaluated.memo[self] = _Evaluation(
            evaluation.as_of,
            evaluation.facts,
            evaluation.verdicts,
            evaluation.found,
            evaluation.next_due,
            evaluated.findings,
            evaluation.reusable,
        )
        return Outcome(state=evaluated, transitions=tuple(transitions), next_due=evaluation.next_due)

    @staticmethod
    def _transition(state: ChildState, finding: Finding, kind: str, at: date) -> AlertTransition:
        return transition(state, finding, kind, at)


def transition(state: ChildState, finding: Finding, kind: str, at: date) -> AlertTransition:
    """The ``raised`` or ``resolved`` transition of ``finding`` for the child of ``state`` at ``at``."""
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


def remember(
    resolved: tuple[tuple[str, str, date], ...], resolutions: dict[tuple[str, str], date]
) -> tuple[tuple[str, str, date], ...]:
    """``resolved`` (see :attr:`ChildState.resolved`) with the later of its date and the new one for each
    alert of ``resolutions``."""
    dates = {(rule, subject): on for rule, subject, on in resolved}
    for key, on in resolutions.items():
        known = dates.get(key)
        if known is None or on > known:
            dates[key] = on
    return tuple(sorted((rule, subject, on) for (rule, subject), on in dates.items()))


def _last_resolution(resolved: tuple[tuple[str, str, date], ...], key: tuple[str, str]) -> date | None:
    rule, subject = key
    for entry in resolved:
        if entry[0] == rule and entry[1] == subject:
            return entry[2]
    return None


def _updated(state: ChildState, owned: bool, **changes: Any) -> ChildState:
    """``state`` with ``changes``: in place when the caller owns the value (nobody else holds it yet)."""
    if not owned:
        return state.evolve(**changes)
    state.__dict__.update(changes)
    return state


def _finding_key(finding: Finding) -> tuple[str, str]:
    return (finding.rule, finding.subject)


def _settled(state: ChildState, as_of: date) -> bool:
    """No event of the state is dated after ``as_of``."""
    return not state.events or state.events[-1].occurred_on <= as_of
