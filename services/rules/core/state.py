"""Per-child state: the child's accepted events, and the facts the rules and the board read, folded from them.

The state is derived by folding the child's accepted events in the order (occurred date, same-day rank,
recorded_at, event_id), where the same-day rank puts ``care.started`` first and ``care.ended`` last so a
placement recorded on the day care starts belongs to that period, and a period can start and end on one
day. One exception, decided by the fold (:func:`.fold._feed`) from the state before the day: when a period
begun earlier is open and the day has both, the day's ``care.ended`` comes before its ``care.started`` (a
same-day restart: one period ends and the next begins that day). A late (out-of-order) event or a
retraction therefore simply re-folds; the common case, an event later than every other, is applied to the
current state without re-folding.

Cost: the events of the last few months are kept whole (a late event re-folds them over the base of
older facts); older facts are kept only as long as a rule or an indicator can read them.

Everything here is immutable; :mod:`.codec` stores it as compact plain lists. How much history a state
keeps is :mod:`.horizon`'s business: a log of recent events and facts over a few years, not every event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any, Final

from schemas.alerts import EvidenceEvent, Severity
from schemas.events import CaseEvent, EventBase, event_to_json, parse_event

from .cin.facts import SAME_DAY_RANK as _CIN_SAME_DAY_RANK
from .cin.facts import CinFacts

IN_CARE_TYPES: Final = frozenset(
    {
        "legal_status.changed",
        "placement.started",
        "pep.completed",
        "health_assessment.completed",
        "dental_check.completed",
        "sdq.recorded",
        "visit.completed",
        "review.held",
        "missing.started",
    }
)
"""Events that only make sense while the child is looked after (flagged when outside a period of care)."""

LEAVING_CARE_TYPES: Final = frozenset({"care_leaver.contact", "pathway_plan.reviewed"})
"""Events that need a period of care to have started (flagged when the child was never looked after)."""

_SAME_DAY_RANK: Final = {**_CIN_SAME_DAY_RANK, "care.started": 0, "care.ended": 2}


@dataclass(frozen=True)
class Period:
    """One period of care: from ``care.started`` to ``care.ended`` (``end`` None while looked after)."""

    start: date
    start_event_id: str
    date_of_birth: date
    sex: str
    uasc: bool
    legal_status: str
    end: date | None = None
    end_reason: str | None = None
    end_event_id: str | None = None
    began_before_data: bool = False
    """The child was already looked after when this, the first episode in the data, began: the real start
    is earlier and unknown (measures needing earlier history say *not known*, see ``definitions``)."""
    uasc_ceased_on: date | None = None
    """The day the child's UASC status ceased (SSDA903 DUC), when known."""
    full_care_from: date | None = None
    """The first day of the period on a full order (not short breaks V3/V4); None while only on short
    breaks. Kept with the period so that it survives the pruning of old legal statuses."""


@dataclass(frozen=True)
class LegalStatusSpell:
    since: date
    code: str
    event_id: str


@dataclass(frozen=True)
class Placement:
    event_id: str
    start: date
    placement_type: str
    provider: str | None = None
    reason_for_change: str | None = None
    distance_miles: float | None = None
    intended_until_18: bool | None = None
    same_carer: bool | None = None
    """A change of placement with the same carer(s) (SSDA903 RNE T/U): not a move."""


@dataclass(frozen=True)
class SocialWorker:
    event_id: str
    worker_id: str
    start: date
    team: str | None = None
    employment: str | None = None


@dataclass(frozen=True)
class Occurrence:
    """A dated happening with an optional kind: PEPs, health assessments, dental checks, visits, reviews,
    pathway-plan reviews."""

    event_id: str
    on: date
    kind: str | None = None


@dataclass(frozen=True)
class SdqScore:
    event_id: str
    on: date
    score: int


@dataclass(frozen=True)
class MissingEpisode:
    episode_id: str
    start: date | None = None
    start_event_id: str | None = None
    end: date | None = None
    end_event_id: str | None = None
    return_interviews: tuple[Occurrence, ...] = ()
    kind: str | None = None
    """``missing`` or ``away`` (SSDA903 M/A); None when the source did not say (counted as missing)."""


@dataclass(frozen=True)
class CareLeaverContact:
    event_id: str
    on: date
    in_touch: bool
    activity: str | None = None
    accommodation: str | None = None
    in_touch_code: str | None = None


@dataclass(frozen=True)
class Anomaly:
    """An accepted event that does not fit the child's history (kept, never fatal)."""

    event_id: str
    type: str
    on: date
    reason: str


@dataclass(frozen=True)
class Finding:
    """A condition now true for the child (one rule, one subject). Level-triggered: compared between
    evaluations to produce raised/resolved transitions."""

    rule: str
    subject: str
    severity: Severity
    summary: str
    since: date
    evidence: tuple[EvidenceEvent, ...] = ()
    dates: dict[str, date] = field(default_factory=dict)
    raised_at: date | None = field(default=None, compare=False)
    """Set by the engine: the ``at`` of the raised transition (kept so a resolution is never before it)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


@dataclass(frozen=True)
class LoggedEvent:
    """An accepted event as kept in the state: its fold-order key and its JSON form."""

    occurred_on: date
    rank: int
    recorded_at: str
    event_id: str
    type: str
    data: dict[str, Any]

    @property
    def order(self) -> tuple[date, int, str, str]:
        return (self.occurred_on, self.rank, self.recorded_at, self.event_id)

    @staticmethod
    def order_of(event: EventBase) -> tuple[date, int, str, str]:
        """The fold-order key of an event (the :attr:`order` its logged form will have)."""
        recorded = event.recorded_at
        return (
            event.occurred_on,
            _SAME_DAY_RANK.get(_type_of(event), 1),
            _utc_iso(recorded) if recorded is not None else "",
            event.event_id,
        )

    @classmethod
    def of(cls, event: EventBase) -> LoggedEvent:
        kind = _type_of(event)
        recorded = event.recorded_at
        return cls(
            occurred_on=event.occurred_on,
            rank=_SAME_DAY_RANK.get(kind, 1),
            recorded_at=_utc_iso(recorded) if recorded is not None else "",
            event_id=event.event_id,
            type=kind,
            data=event_to_json(event),
        )

    def event(self) -> CaseEvent:
        return parse_event(self.data, received_at=None)

    # Derived forms are cached in the instance's __dict__ by hand (functools.cached_property takes a
    # lock on every access in Python 3.11, which shows in profiles of the engine).
    def evidence(self) -> EvidenceEvent:
        """This event as evidence of a finding: built once per logged event (the record is immutable and
        shared by every finding citing the event)."""
        found: EvidenceEvent | None = self.__dict__.get("_evidence")
        if found is None:
            found = self.__dict__["_evidence"] = EvidenceEvent(
                event_id=self.event_id, type=self.type, occurred_at=str(self.data["occurred_at"])
            )
        return found


def _type_of(event: EventBase) -> str:
    # Every concrete event model declares its ``type`` literal; the base class does not.
    return str(getattr(event, "type"))  # noqa: B009


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ChildState:
    """Everything carewatch knows about one child, in date order within each collection."""

    child_id: str
    team: str | None = None
    periods: tuple[Period, ...] = ()
    legal_statuses: tuple[LegalStatusSpell, ...] = ()
    placements: tuple[Placement, ...] = ()
    social_workers: tuple[SocialWorker, ...] = ()
    peps: tuple[Occurrence, ...] = ()
    health_assessments: tuple[Occurrence, ...] = ()
    dental_checks: tuple[Occurrence, ...] = ()
    sdq_scores: tuple[SdqScore, ...] = ()
    visits: tuple[Occurrence, ...] = ()
    reviews: tuple[Occurrence, ...] = ()
    missing_episodes: tuple[MissingEpisode, ...] = ()
    care_leaver_contacts: tuple[CareLeaverContact, ...] = ()
    pathway_plan_reviews: tuple[Occurrence, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    pruned_reviews: tuple[tuple[date, int], ...] = ()
    """Per period of care (by its start), how many of its reviews were dropped as too old to read (the
    review rule numbers the next review)."""
    cin: CinFacts | None = None
    """The child's children in need and child protection facts (:mod:`.cin.facts`), None before the first
    CIN/CP event; the CIN/CP rules read only this."""
    events: tuple[LoggedEvent, ...] = ()
    """Every accepted event in fold order, retractions and retracted events included (the fold skips
    them); a retraction of a retraction is not supported (it is kept and has no effect)."""
    processed_ids: frozenset[str] = frozenset()
    """Every event id ever received for the child, retractions included: the idempotency set."""
    retracted_ids: frozenset[str] = frozenset()
    findings: tuple[Finding, ...] = ()
    """The findings active after the last evaluation, sorted by (rule, subject)."""
    evaluated_as_of: date | None = None
    resolved: tuple[tuple[str, str, date], ...] = ()
    """Per alert (rule, subject), the date of its last resolution, sorted by alert: a finding true again
    after it is raised no earlier than that day (see :meth:`.engine.Engine._evaluate`). Dates older
    than the far fact horizon are dropped with the facts (:mod:`.horizon`)."""
    # -- kept by the kernel (services.rules.core.kernel), never read by a rule -------------------------
    contributions: tuple[tuple[str, int, int], ...] = ()
    """The child's last published indicator contributions: (indicator, numerator, denominator), sorted."""
    rules_due: date | None = None
    """The rules' next due date after the last evaluation (None: only an event can change a finding)."""
    indicators_due: date | None = None
    """The first date after the last contribution check on which a contribution may change."""
    catalogue: str = ""
    """The rule and indicator catalogue version the findings and contributions were computed with."""
    # -- the bounded history (services.rules.core.horizon) ---------------------------------------------
    base: ChildState | None = None
    """The facts folded from every event no longer in :attr:`events` (a late event re-folds the log over
    it); only its fact fields are set."""
    log_from: date | None = None
    """Events dated before this day have left the log for :attr:`base`: a later-arriving event dated before
    it is a deep correction (applied as well as possible, and :attr:`needs_rebuild` set)."""
    pruned_to: date | None = None
    """Facts dated before this day that no rule or indicator can read any more were dropped."""
    stamps: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Event id → (type, occurred_at) of events cited by kept facts but no longer in the log (evidence)."""
    needs_rebuild: bool = False
    """A deep correction reached this child: rebuild it from the event archive for an exact state."""

    # -- derived views -------------------------------------------------------------------------------
    @property
    def current_period(self) -> Period | None:
        """The latest period of care (ended or not); None if the child was never looked after."""
        return self.periods[-1] if self.periods else None

    @property
    def date_of_birth(self) -> date | None:
        period = self.current_period
        return period.date_of_birth if period else None

    def looked_after_on(self, day: date) -> Period | None:
        """The period of care covering ``day`` (the end date itself is not looked after)."""
        for period in reversed(self.periods):
            if period.start <= day and (period.end is None or day < period.end):
                return period
        return None

    def current_placement(self) -> Placement | None:
        period = self.current_period
        if period is None or period.end is not None:
            return None
        in_period = [p for p in self.placements if p.start >= period.start]
        return in_period[-1] if in_period else None

    def legal_status_on(self, day: date) -> str | None:
        for spell in reversed(self.legal_statuses):  # the last one (in the tuple's order) since on or before
            if spell.since <= day:
                return spell.code
        return None

    def logged(self, event_id: str) -> LoggedEvent | None:
        return self._events_by_id().get(event_id)

    def evidence_of(self, event_id: str) -> EvidenceEvent | None:
        """The event as evidence of a finding: from the log, or from the stamps of events that left it."""
        logged = self._events_by_id().get(event_id)
        if logged is not None:
            return logged.evidence()
        stamp = self.stamps.get(event_id)
        if stamp is None:
            return None
        cache: dict[str, tuple[tuple[str, str], EvidenceEvent]] | None = self.__dict__.get("_stamped")
        if cache is None:
            cache = self.__dict__["_stamped"] = {}
        found = cache.get(event_id)
        if found is None or found[0] != stamp:
            found = cache[event_id] = (stamp, EvidenceEvent(event_id=event_id, type=stamp[0], occurred_at=stamp[1]))
        return found[1]

    # Derived data is cached in the instance's __dict__ by hand: states are immutable, and
    # functools.cached_property takes a lock on every access in Python 3.11.
    @property
    def memo(self) -> dict[Any, Any]:
        """Scratch space for results derived from this very state value, never stored nor compared (the
        engine keeps each rule's last verdict here)."""
        found: dict[Any, Any] | None = self.__dict__.get("_memo")
        if found is None:
            found = self.__dict__["_memo"] = {}
        return found

    def _events_by_id(self) -> dict[str, LoggedEvent]:
        # Built once per state value: evidence lookups run on every evaluation.
        found: dict[str, LoggedEvent] | None = self.__dict__.get("_index")
        if found is None:
            found = self.__dict__["_index"] = {logged.event_id: logged for logged in self.events}
        return found

    def appended(self, logged: LoggedEvent, **changes: Any) -> ChildState:
        """This state with ``changes`` (dataclass fields) whose log is this one's plus ``logged``: like
        :func:`dataclasses.replace`, and it extends this state's event index instead of rebuilding it."""
        state = self.evolve(events=(*self.events, logged), **changes)
        index: dict[str, LoggedEvent] | None = self.__dict__.get("_index")
        if index is not None:
            state.__dict__["_index"] = {**index, logged.event_id: logged}
        return state

    def evolve(self, **changes: Any) -> ChildState:
        """:func:`dataclasses.replace` without re-running ``__init__`` (the fields are already typed
        values): a new state runs on every event and every evaluation. Cached derived data that checks
        itself against the fields (the memo, the JSON forms of fields) is carried over, and the event
        index while the log is unchanged."""
        if not changes.keys() <= _FIELD_SET:
            raise TypeError(f"not fields of ChildState: {sorted(changes.keys() - _FIELD_SET)}")
        current = self.__dict__
        values = current.copy()
        values.update(changes)
        # Of the cached data (the underscored keys): the event index stays while the log does, the memo
        # is copied. The evidence built from the stamps is checked against the stamp on use, so it stays
        # (stamps change on most events as old ones leave the log) while it is not much larger than them.
        stamped = values.get("_stamped")
        if stamped is not None and "stamps" in changes and len(stamped) > 2 * len(values["stamps"]) + 16:
            del values["_stamped"]
        if "events" in changes and "_index" in values:
            del values["_index"]
        found = current.get("_memo")
        if found is not None:
            values["_memo"] = found.copy()
        state = object.__new__(ChildState)
        object.__setattr__(state, "__dict__", values)
        return state


_FIELD_NAMES: Final = tuple(f.name for f in fields(ChildState))
_FIELD_SET: Final = frozenset(_FIELD_NAMES)


def wake_at(state: ChildState) -> date | None:
    """When a tick must next look at the child: the earlier of its rules' and its indicators' due dates
    (None: only an event can change anything). The kernel's wake date, and the one the stored form carries
    in its trailer (:mod:`.codec`)."""
    rules, board = state.rules_due, state.indicators_due
    if rules is None:
        return board
    if board is None or rules <= board:
        return rules
    return board
