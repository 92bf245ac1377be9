"""Applying an event to a child's state: dedupe, order, retraction, and the fold itself."""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import date
from enum import Enum
from typing import Any

from schemas.events import CaseEvent

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


class Change(Enum):
    DUPLICATE = "duplicate"
    """The event id was seen before: nothing changed."""
    APPENDED = "appended"
    """The event is the child's latest: applied to the current state."""
    REFOLDED = "refolded"
    """A late event or a retraction: the state was folded again from the log."""


def apply(state: ChildState | None, event: CaseEvent) -> tuple[ChildState, Change]:
    """The child's state after ``event``; an event id already processed changes nothing."""
    if state is None:
        state = ChildState(child_id=event.child_id)
    elif state.child_id != event.child_id:
        raise ValueError("event belongs to a different child than the state")
    if event.event_id in state.processed_ids:
        return state, Change.DUPLICATE

    logged = LoggedEvent.of(event)
    processed = state.processed_ids | {event.event_id}
    if logged.type == RETRACTION:
        target = logged.data["retracted_event_id"]
        log = _insert(state.events, logged)
        return _refold(state, log, processed, state.retracted_ids | {target}), Change.REFOLDED

    if event.event_id in state.retracted_ids or (state.events and logged.order < state.events[-1].order):
        return _refold(state, _insert(state.events, logged), processed, state.retracted_ids), Change.REFOLDED

    builder = _Builder.resume(state)
    builder.feed(logged)
    return builder.freeze(state, events=(*state.events, logged), processed_ids=processed), Change.APPENDED


def refold(state: ChildState) -> ChildState:
    """The state folded again from its log (what :func:`apply` does for a late event)."""
    return _refold(state, state.events, state.processed_ids, state.retracted_ids)


def _insert(log: tuple[LoggedEvent, ...], logged: LoggedEvent) -> tuple[LoggedEvent, ...]:
    orders = [entry.order for entry in log]
    index = bisect.bisect_right(orders, logged.order)
    return (*log[:index], logged, *log[index:])


def _refold(
    state: ChildState,
    log: tuple[LoggedEvent, ...],
    processed: frozenset[str],
    retracted: frozenset[str],
) -> ChildState:
    blank = ChildState(child_id=state.child_id, findings=state.findings, evaluated_as_of=state.evaluated_as_of)
    builder = _Builder.resume(blank)
    known = {entry.event_id for entry in log}
    for entry in log:
        if entry.type == RETRACTION:
            target = entry.data["retracted_event_id"]
            if target not in known:
                builder.anomaly(entry, "retracts an event not received (yet)")
            continue
        if entry.event_id in retracted:
            continue
        builder.feed(entry)
    return builder.freeze(blank, events=log, processed_ids=processed, retracted_ids=retracted)


class _Builder:
    """Mutable working copy of the folded facts; frozen back into a :class:`ChildState`."""

    def __init__(self) -> None:
        self.team: str | None = None
        self.periods: list[Period] = []
        self.legal: list[LegalStatusSpell] = []
        self.placements: list[Placement] = []
        self.workers: list[SocialWorker] = []
        self.occurrences: dict[str, list[Occurrence]] = {}
        self.sdq: list[SdqScore] = []
        self.missing: dict[str, MissingEpisode] = {}
        self.contacts: list[CareLeaverContact] = []
        self.anomalies: list[Anomaly] = []

    @classmethod
    def resume(cls, state: ChildState) -> _Builder:
        builder = cls()
        builder.team = state.team
        builder.periods = list(state.periods)
        builder.legal = list(state.legal_statuses)
        builder.placements = list(state.placements)
        builder.workers = list(state.social_workers)
        builder.occurrences = {
            "pep.completed": list(state.peps),
            "health_assessment.completed": list(state.health_assessments),
            "dental_check.completed": list(state.dental_checks),
            "visit.completed": list(state.visits),
            "review.held": list(state.reviews),
            "pathway_plan.reviewed": list(state.pathway_plan_reviews),
        }
        builder.sdq = list(state.sdq_scores)
        builder.missing = {episode.episode_id: episode for episode in state.missing_episodes}
        builder.contacts = list(state.care_leaver_contacts)
        builder.anomalies = list(state.anomalies)
        return builder

    def anomaly(self, entry: LoggedEvent, reason: str) -> None:
        self.anomalies.append(Anomaly(entry.event_id, entry.type, entry.occurred_on, reason))

    def _open_period(self) -> Period | None:
        if self.periods and self.periods[-1].end is None:
            return self.periods[-1]
        return None

    def feed(self, entry: LoggedEvent) -> None:
        data = entry.data
        kind = entry.type
        on = entry.occurred_on
        if kind in IN_CARE_TYPES and self._open_period() is None:
            self.anomaly(entry, "after care ended" if self.periods else "before care started")
        if kind in LEAVING_CARE_TYPES and not self.periods:
            self.anomaly(entry, "the child has no period of care")

        if kind == "care.started":
            if self._open_period() is not None:
                self.anomaly(entry, "care started while already looked after (ignored)")
                return
            self.periods.append(
                Period(
                    start=on,
                    start_event_id=entry.event_id,
                    date_of_birth=_date(data["date_of_birth"]),
                    sex=data["sex"],
                    uasc=bool(data.get("uasc", False)),
                    legal_status=data["legal_status"],
                )
            )
            self.legal.append(LegalStatusSpell(on, data["legal_status"], entry.event_id))
            if data.get("team"):
                self.team = data["team"]
        elif kind == "care.ended":
            period = self._open_period()
            if period is None:
                self.anomaly(entry, "care ended while not looked after (ignored)")
                return
            self.periods[-1] = replace(period, end=on, end_reason=data["reason"], end_event_id=entry.event_id)
        elif kind == "legal_status.changed":
            self.legal.append(LegalStatusSpell(on, data["legal_status"], entry.event_id))
        elif kind == "placement.started":
            self.placements.append(
                Placement(
                    event_id=entry.event_id,
                    start=on,
                    placement_type=data["placement_type"],
                    provider=data.get("provider"),
                    reason_for_change=data.get("reason_for_change"),
                    distance_miles=data.get("distance_miles"),
                    intended_until_18=data.get("intended_until_18"),
                )
            )
        elif kind == "social_worker.changed":
            self.workers.append(
                SocialWorker(entry.event_id, data["worker_id"], on, data.get("team"), data.get("employment"))
            )
            if data.get("team"):
                self.team = data["team"]
        elif kind in self.occurrences:
            self.occurrences[kind].append(Occurrence(entry.event_id, on, data.get("kind")))
        elif kind == "sdq.recorded":
            self.sdq.append(SdqScore(entry.event_id, on, int(data["score"])))
        elif kind == "missing.started":
            episode = self.missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.start_event_id is not None:
                self.anomaly(entry, "missing episode started twice (first start kept)")
                return
            self.missing[episode.episode_id] = replace(episode, start=on, start_event_id=entry.event_id)
        elif kind == "missing.ended":
            episode = self.missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.start_event_id is None:
                self.anomaly(entry, "missing episode ended before it started")
            self.missing[episode.episode_id] = replace(episode, end=on, end_event_id=entry.event_id)
        elif kind == "return_interview.completed":
            episode = self.missing.get(data["episode_id"], MissingEpisode(data["episode_id"]))
            if episode.end_event_id is None:
                self.anomaly(entry, "return interview before the missing episode ended")
            interview = Occurrence(entry.event_id, on)
            self.missing[episode.episode_id] = replace(
                episode, return_interviews=(*episode.return_interviews, interview)
            )
        elif kind == "care_leaver.contact":
            self.contacts.append(
                CareLeaverContact(
                    entry.event_id,
                    on,
                    bool(data["in_touch"]),
                    data.get("activity"),
                    data.get("accommodation"),
                )
            )

    def freeze(self, base: ChildState, **log: Any) -> ChildState:
        """The folded facts over ``base``; ``log`` sets the log fields (events, processed/retracted ids)."""
        episodes = sorted(
            self.missing.values(), key=lambda e: (e.start or e.end or e.return_interviews[0].on, e.episode_id)
        )
        occurrences = self.occurrences
        return replace(
            base,
            team=self.team,
            periods=tuple(self.periods),
            legal_statuses=tuple(self.legal),
            placements=tuple(self.placements),
            social_workers=tuple(self.workers),
            peps=tuple(occurrences["pep.completed"]),
            health_assessments=tuple(occurrences["health_assessment.completed"]),
            dental_checks=tuple(occurrences["dental_check.completed"]),
            visits=tuple(occurrences["visit.completed"]),
            reviews=tuple(occurrences["review.held"]),
            pathway_plan_reviews=tuple(occurrences["pathway_plan.reviewed"]),
            sdq_scores=tuple(self.sdq),
            missing_episodes=tuple(episodes),
            care_leaver_contacts=tuple(self.contacts),
            anomalies=tuple(self.anomalies),
            **log,
        )


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
