"""Applying an event to a child's state: dedupe, order, retraction, and the fold itself."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from enum import Enum
from typing import Any, Final

from schemas.codes import SHORT_BREAK_LEGAL_STATUSES
from schemas.events import CaseEvent

from .cin.facts import CIN_TYPES, CinFacts, Ref, apply_event
from .cin.horizon import without_event as cin_without_event
from .horizon import DEFAULT_HORIZON, Horizon, cited, facts_of, forget_resolutions, only_facts, prune
from .state import (
    IN_CARE_TYPES,
    LEAVING_CARE_TYPES,
    Anomaly,
    CareLeaverContact,
    ChildState,
    LegalStatusSpell,
    LoggedEvent,
    MissingEpisode,
    Occurrence,
    Period,
    Placement,
    SdqScore,
    SocialWorker,
)

RETRACTION = "event.retracted"
CARE_STARTED = "care.started"
CARE_ENDED = "care.ended"


class Change(Enum):
    DUPLICATE = "duplicate"
    """The event id was seen before: nothing changed."""
    APPENDED = "appended"
    """The event is the child's latest: applied to the current state."""
    REFOLDED = "refolded"
    """A late event or a retraction within the log, or the ``care.ended`` of a day whose ``care.started``
    is logged (a same-day restart folds the ending first): the state was folded again from the log."""
    DEEP = "deep"
    """An event or retraction dated before the log (see :mod:`.horizon`): applied as well as possible, and
    the state flagged for a rebuild from the event archive."""


def apply(state: ChildState | None, event: CaseEvent, horizon: Horizon = DEFAULT_HORIZON) -> tuple[ChildState, Change]:
    """The child's state after ``event``; an event id already processed changes nothing."""
    if state is None:
        state = ChildState(child_id=event.child_id)
    elif state.child_id != event.child_id:
        raise ValueError("event belongs to a different child than the state")
    if event.event_id in state.processed_ids:
        return state, Change.DUPLICATE

    logged = LoggedEvent.of(event)
    if state.log_from is not None and logged.occurred_on < state.log_from:
        if event.event_id in state.stamps or event.event_id in state.retracted_ids:
            return state, Change.DUPLICATE
        return _deep(state, logged, horizon), Change.DEEP
    processed = state.processed_ids | {event.event_id}
    if logged.type == RETRACTION:
        target = logged.data["retracted_event_id"]
        log = _insert(state.events, logged)
        folded = _refold(state, log, processed, state.retracted_ids | {target}, horizon)
        if target in state.stamps and state.logged(target) is None:
            folded = _retract_deep(folded, target, logged)
        return _advance(folded, horizon), Change.REFOLDED

    if (
        event.event_id in state.retracted_ids
        or (state.events and logged.order < state.events[-1].order)
        or _ends_a_restart_day(state.events, logged)
    ):
        folded = _refold(state, _insert(state.events, logged), processed, state.retracted_ids, horizon)
        return _advance(folded, horizon), Change.REFOLDED

    builder = _Builder(state)
    builder.feed(logged)
    appended = state.appended(logged, **builder.changes(), processed_ids=processed)
    return _advance(appended, horizon), Change.APPENDED


def refold(state: ChildState, horizon: Horizon = DEFAULT_HORIZON) -> ChildState:
    """The state folded again from its log over its base (what :func:`apply` does for a late event)."""
    return _refold(state, state.events, state.processed_ids, state.retracted_ids, horizon)


def _ends_a_restart_day(log: tuple[LoggedEvent, ...], logged: LoggedEvent) -> bool:
    """``logged`` is a ``care.ended`` on a day whose ``care.started`` is in the log already: the day's care
    events may fold in another order than the log's (see :func:`_feed`), so the log is re-folded."""
    if logged.type != CARE_ENDED:
        return False
    for entry in reversed(log):
        if entry.occurred_on != logged.occurred_on:
            return False
        if entry.type == CARE_STARTED:
            return True
    return False


def _feed(
    builder: _Builder,
    log: Sequence[LoggedEvent],
    retracted: frozenset[str],
    on_retraction: Callable[[LoggedEvent], None] | None = None,
) -> None:
    """Fold ``log`` (in fold order) into ``builder``, skipping retractions and retracted events.

    The one departure from the log's order: a day's ``care.started`` comes before its ``care.ended`` (so a
    one-day period, started and ended on the same day, folds right, as do the placement and legal status
    recorded on that day), except when a period that began on an earlier day is open as the day's
    ``care.started`` comes and a ``care.ended`` follows on the same day: then the period ended that day
    and a new one started (a same-day restart, which SSDA903 rule 431 allows), so that ``care.ended`` is
    folded first. The choice depends only on the state before the day and the day's events, never on
    the order in which they arrived.
    """
    moved: set[int] = set()
    for index, entry in enumerate(log):
        if entry.type == RETRACTION:
            if on_retraction is not None:
                on_retraction(entry)
            continue
        if entry.event_id in retracted or index in moved:
            continue
        if entry.type == CARE_STARTED:
            ending = _restart_end(builder, log, index, retracted, moved)
            if ending is not None:
                moved.add(ending)
                builder.feed(log[ending])
        builder.feed(entry)


def _restart_end(
    builder: _Builder, log: Sequence[LoggedEvent], index: int, retracted: frozenset[str], moved: set[int]
) -> int | None:
    """The index of the ``care.ended`` that makes ``log[index]`` (a ``care.started``) a same-day restart:
    the day's first ``care.ended`` still to fold, when the open period began before the day."""
    day = log[index].occurred_on
    period = builder.open_period()
    if period is None or period.start >= day:
        return None
    for later in range(index + 1, len(log)):
        entry = log[later]
        if entry.occurred_on != day:
            return None
        if entry.type == CARE_ENDED and entry.event_id not in retracted and later not in moved:
            return later
    return None


def _insert(log: tuple[LoggedEvent, ...], logged: LoggedEvent) -> tuple[LoggedEvent, ...]:
    orders = [entry.order for entry in log]
    index = bisect.bisect_right(orders, logged.order)
    return (*log[:index], logged, *log[index:])


def _refold(
    state: ChildState,
    log: tuple[LoggedEvent, ...],
    processed: frozenset[str],
    retracted: frozenset[str],
    horizon: Horizon,
) -> ChildState:
    blank = state.evolve(**facts_of(state.base))
    blank.__dict__.pop("_memo", None)
    builder = _Builder(blank)
    known = {entry.event_id for entry in log}

    def check(entry: LoggedEvent) -> None:
        target = entry.data["retracted_event_id"]
        if target not in known and target not in state.stamps:
            builder.anomaly(entry, "retracts an event not received (yet)")

    _feed(builder, log, retracted, check)
    folded = builder.freeze(events=log, processed_ids=processed, retracted_ids=retracted)
    if state.pruned_to is not None:
        changes = prune(folded, horizon.cutoffs(state.pruned_to))
        if changes:
            folded = folded.evolve(**changes)
    return folded


def _advance(state: ChildState, horizon: Horizon) -> ChildState:
    """Move the events that fell out of the log horizon into the base, and drop facts past the fact
    horizon (both relative to the child's latest event).

    ``state`` is a value the caller has just made and holds alone: it is updated in place (a step would
    otherwise copy the whole state once more on most events)."""
    if not state.events:
        return state
    latest = state.events[-1].occurred_on
    log_start = horizon.log_start(latest)
    log = state.events
    if log[0].occurred_on >= log_start:
        if state.log_from is None or state.log_from < log_start:
            state.__dict__["log_from"] = log_start
        return state
    leaving = 0
    while leaving < len(log) and log[leaving].occurred_on < log_start:
        leaving += 1
    moved, kept = log[:leaving], log[leaving:]
    base = state.base if state.base is not None else only_facts(ChildState(child_id=state.child_id))
    builder = _Builder(base)
    stamps = dict(state.stamps)
    _feed(builder, moved, state.retracted_ids)
    for entry in moved:
        if entry.type != RETRACTION and entry.event_id not in state.retracted_ids:
            stamps[entry.event_id] = (entry.type, str(entry.data["occurred_at"]))
    base = builder.freeze()
    kept_ids = frozenset(entry.event_id for entry in kept)
    # Retracted ids stay (one id per retraction, however old): a retraction can arrive before its target,
    # and the target must be skipped whenever it comes.
    changes: dict[str, Any] = {
        "events": kept,
        "base": base,
        "log_from": log_start,
        "processed_ids": kept_ids,
        "stamps": stamps,
    }
    cutoff = horizon.cutoff(latest)
    if state.pruned_to is None or cutoff > state.pruned_to:
        changes["pruned_to"] = cutoff
        cutoffs = horizon.cutoffs(cutoff)
        current = prune(state, cutoffs)
        changes.update(current)
        base_changes = prune(base, cutoffs)
        if base_changes:
            base.__dict__.update(base_changes)
        resolved = forget_resolutions(state.resolved, cutoffs)
        if len(resolved) != len(state.resolved):
            changes["resolved"] = resolved
    grown = "pruned_to" in changes or len(stamps) != len(state.stamps)
    values = state.__dict__
    values.pop("_index", None)
    values.update(changes)
    if grown:
        still = cited(state)
        values["stamps"] = {key: value for key, value in stamps.items() if key in still}
    return state


def _deep(state: ChildState, logged: LoggedEvent, horizon: Horizon) -> ChildState:
    """An event dated before the log: fold it into the base in date order, re-fold the log over it, and
    flag the child for a rebuild."""
    base = state.base if state.base is not None else only_facts(ChildState(child_id=state.child_id))
    stamps = dict(state.stamps)
    if logged.type == RETRACTION:
        target = logged.data["retracted_event_id"]
        flagged = _retract_deep(state, target, logged)
        return flagged
    builder = _Builder(base)
    builder.feed(logged)
    changes = builder.changes()
    for name, value in changes.items():
        if name in _DATED:
            changes[name] = tuple(sorted(value, key=_DATED[name]))
    base = base.evolve(**changes)
    stamps[logged.event_id] = (logged.type, str(logged.data["occurred_at"]))
    folded = _refold(
        state.evolve(base=base, stamps=stamps), state.events, state.processed_ids, state.retracted_ids, horizon
    )
    return _flag(folded, logged, "dated before the re-fold horizon: rebuild from the event archive")


def _retract_deep(state: ChildState, target: str, logged: LoggedEvent) -> ChildState:
    """A retraction of an event that left the log: drop the facts it made (current and base), flag."""

    def without(holder: ChildState) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in _DATED:
            items = holder.__dict__[name]
            kept = tuple(item for item in items if getattr(item, "event_id", None) != target)
            if len(kept) != len(items):
                changes[name] = kept
        episodes = tuple(_episode_without(episode, target) for episode in holder.missing_episodes)
        if any(new is not old for new, old in zip(episodes, holder.missing_episodes, strict=True)):
            changes["missing_episodes"] = episodes
        if holder.cin is not None:
            cin = cin_without_event(holder.cin, target)
            if cin is not holder.cin:
                changes["cin"] = cin
        return changes

    base = state.base
    if base is not None:
        base_changes = without(base)
        if base_changes:
            base = base.evolve(**base_changes)
    flagged = state.evolve(**without(state), base=base, retracted_ids=state.retracted_ids | {target})
    return _flag(flagged, logged, "retracts an event older than the re-fold horizon: rebuild from the event archive")


def _episode_without(episode: MissingEpisode, target: str) -> MissingEpisode:
    if episode.start_event_id == target:
        episode = replace(episode, start=None, start_event_id=None)
    if episode.end_event_id == target:
        episode = replace(episode, end=None, end_event_id=None)
    interviews = tuple(i for i in episode.return_interviews if i.event_id != target)
    if len(interviews) != len(episode.return_interviews):
        episode = replace(episode, return_interviews=interviews)
    return episode


def _flag(state: ChildState, logged: LoggedEvent, reason: str) -> ChildState:
    anomaly = Anomaly(logged.event_id, logged.type, logged.occurred_on, reason)
    return state.evolve(anomalies=(*state.anomalies, anomaly), needs_rebuild=True)


_DATED: Final[dict[str, Any]] = {
    "legal_statuses": lambda item: item.since,
    "placements": lambda item: item.start,
    "social_workers": lambda item: item.start,
    "peps": lambda item: item.on,
    "health_assessments": lambda item: item.on,
    "dental_checks": lambda item: item.on,
    "sdq_scores": lambda item: item.on,
    "visits": lambda item: item.on,
    "reviews": lambda item: item.on,
    "care_leaver_contacts": lambda item: item.on,
    "pathway_plan_reviews": lambda item: item.on,
}
"""The fact collections of single dated items (kept in date order), by the item's date."""


_OCCURRENCE_FIELDS: Final = {
    "pep.completed": "peps",
    "health_assessment.completed": "health_assessments",
    "dental_check.completed": "dental_checks",
    "visit.completed": "visits",
    "review.held": "reviews",
    "pathway_plan.reviewed": "pathway_plan_reviews",
}
"""Event type → the state's collection of dated occurrences it adds to."""


class _Builder:
    """Working copy of the folded facts over a base state, frozen back into a :class:`ChildState`.

    Collections are copied on first change only, so a collection the events did not touch keeps its very
    tuple: the engine relies on that identity to reuse verdicts of rules whose inputs did not change.
    """

    def __init__(self, base: ChildState) -> None:
        self.base = base
        self.team = base.team
        self._lists: dict[str, list[Any]] = {}
        self._missing: dict[str, MissingEpisode] | None = None
        self._cin: CinFacts | None = base.cin
        self._cin_changed = False

    def _list(self, name: str) -> list[Any]:
        """The working copy of the state collection ``name`` (copied from the base on first use)."""
        found = self._lists.get(name)
        if found is None:
            found = self._lists[name] = list(getattr(self.base, name))
        return found

    def _episodes(self) -> dict[str, MissingEpisode]:
        if self._missing is None:
            self._missing = {episode.episode_id: episode for episode in self.base.missing_episodes}
        return self._missing

    def anomaly(self, entry: LoggedEvent, reason: str) -> None:
        self._list("anomalies").append(Anomaly(entry.event_id, entry.type, entry.occurred_on, reason))

    def _periods(self) -> list[Period] | tuple[Period, ...]:
        found = self._lists.get("periods")
        return self.base.periods if found is None else found

    def open_period(self) -> Period | None:
        periods = self._periods()
        if periods and periods[-1].end is None:
            return periods[-1]
        return None

    def feed(self, entry: LoggedEvent) -> None:
        data = entry.data
        kind = entry.type
        on = entry.occurred_on
        if kind in IN_CARE_TYPES and self.open_period() is None:
            self.anomaly(entry, "after care ended" if self._periods() else "before care started")
        if kind in LEAVING_CARE_TYPES and not self._periods():
            self.anomaly(entry, "the child has no period of care")

        if kind == CARE_STARTED:
            if self.open_period() is not None:
                self.anomaly(entry, "care started while already looked after (ignored)")
                return
            self._list("periods").append(
                Period(
                    start=on,
                    start_event_id=entry.event_id,
                    date_of_birth=_date(data["date_of_birth"]),
                    sex=data["sex"],
                    uasc=bool(data.get("uasc", False)),
                    legal_status=data["legal_status"],
                    began_before_data=bool(data.get("period_began_before_data") or False),
                    uasc_ceased_on=_opt_date(data.get("uasc_ceased_on")),
                    full_care_from=None if data["legal_status"] in SHORT_BREAK_LEGAL_STATUSES else on,
                )
            )
            self._list("legal_statuses").append(LegalStatusSpell(on, data["legal_status"], entry.event_id))
            if data.get("team"):
                self.team = data["team"]
        elif kind == CARE_ENDED:
            period = self.open_period()
            if period is None:
                self.anomaly(entry, "care ended while not looked after (ignored)")
                return
            self._list("periods")[-1] = replace(period, end=on, end_reason=data["reason"], end_event_id=entry.event_id)
        elif kind == "legal_status.changed":
            self._list("legal_statuses").append(LegalStatusSpell(on, data["legal_status"], entry.event_id))
            period = self.open_period()
            if (
                period is not None
                and period.full_care_from is None
                and data["legal_status"] not in SHORT_BREAK_LEGAL_STATUSES
            ):
                self._list("periods")[-1] = replace(period, full_care_from=on)
        elif kind == "placement.started":
            self._list("placements").append(
                Placement(
                    event_id=entry.event_id,
                    start=on,
                    placement_type=data["placement_type"],
                    provider=data.get("provider"),
                    reason_for_change=data.get("reason_for_change"),
                    distance_miles=data.get("distance_miles"),
                    intended_until_18=data.get("intended_until_18"),
                    same_carer=data.get("same_carer"),
                )
            )
        elif kind == "social_worker.changed":
            self._list("social_workers").append(
                SocialWorker(entry.event_id, data["worker_id"], on, data.get("team"), data.get("employment"))
            )
            if data.get("team"):
                self.team = data["team"]
        elif kind in _OCCURRENCE_FIELDS:
            self._list(_OCCURRENCE_FIELDS[kind]).append(Occurrence(entry.event_id, on, data.get("kind")))
        elif kind == "sdq.recorded":
            self._list("sdq_scores").append(SdqScore(entry.event_id, on, int(data["score"])))
        elif kind == "missing.started":
            missing = self._episodes()
            episode = missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.start_event_id is not None:
                self.anomaly(entry, "missing episode started twice (first start kept)")
                return
            missing[episode.episode_id] = replace(
                episode, start=on, start_event_id=entry.event_id, kind=data.get("kind")
            )
        elif kind == "missing.ended":
            missing = self._episodes()
            episode = missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.start_event_id is None:
                self.anomaly(entry, "missing episode ended before it started")
            missing[episode.episode_id] = replace(episode, end=on, end_event_id=entry.event_id)
        elif kind == "return_interview.completed":
            missing = self._episodes()
            episode = missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.end_event_id is None:
                self.anomaly(entry, "return interview before the missing episode ended")
            interview = Occurrence(entry.event_id, on)
            missing[episode.episode_id] = replace(episode, return_interviews=(*episode.return_interviews, interview))
        elif kind in CIN_TYPES:
            self._cin = apply_event(self._cin, self.base.child_id, kind, on, data, Ref(entry.event_id, kind, on))
            self._cin_changed = True
            if kind == "referral.received" and data.get("team"):
                self.team = data["team"]
        elif kind == "care_leaver.contact":
            self._list("care_leaver_contacts").append(
                CareLeaverContact(
                    entry.event_id,
                    on,
                    bool(data["in_touch"]),
                    data.get("activity"),
                    data.get("accommodation"),
                    data.get("in_touch_code"),
                )
            )

    def freeze(self, **log: Any) -> ChildState:
        """The folded facts over the base; ``log`` sets the log fields (events, processed/retracted ids)."""
        return self.base.evolve(**self.changes(), **log)

    def changes(self) -> dict[str, Any]:
        """The state fields the fed events changed, with their new values."""
        changed: dict[str, Any] = {name: tuple(items) for name, items in self._lists.items()}
        if self._missing is not None:
            changed["missing_episodes"] = tuple(
                sorted(
                    self._missing.values(),
                    key=lambda e: (e.start or e.end or e.return_interviews[0].on, e.episode_id),
                )
            )
        if self._cin_changed:
            changed["cin"] = self._cin
        changed["team"] = self.team
        return changed


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _opt_date(value: object) -> date | None:
    return None if value is None else _date(value)
