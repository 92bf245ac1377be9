"""How much history a child's state keeps: a re-fold log of recent events and facts over a fixed horizon.

Two horizons, both relative to the date of the child's latest event (never to the wall clock):

* **the log** (:attr:`Horizon.log_days`, 120 days by default): events dated within it are kept whole, in
  fold order, so a late event or a retraction dated within it re-folds them over :attr:`ChildState.base`
  (the facts folded from every older event) and the result is *exactly* what in-order arrival gives.
  Older events leave the log for the base; their ids leave the idempotency set with them (an id is
  still recognised while a kept fact cites it).
* **the facts**, pruned each time the log's first month moves (:meth:`Horizon.cutoffs`), by how far back
  they are read: visits, reviews, PEPs, dental checks, SDQ scores and pathway-plan reviews are read only
  through the latest one, so older ones than the log are dropped (reviews dropped are counted per period:
  the review rule numbers them); health assessments, legal statuses, social-worker allocations,
  care-leaver contacts, missing episodes and anomalies are read over 12-month windows (15 months for the
  initial health assessment) and kept :attr:`Horizon.near_months` before the log; placements and periods
  of care are read over 30 months (long-term stability) and kept :attr:`Horizon.far_months` before it.
  Always kept whatever their age: the latest occurrence of each kind, the latest social-worker
  allocation and legal status before the cutoff, the latest care-leaver contact of each kind a rule
  reads, the latest non-temporary placement before the cutoff (a stay's start and a return after a
  temporary move), every period of care still open or ended after the 14th birthday on a full order
  (the care-leaver test counts every period since then; with it the period's ``began_before_data``,
  ``uasc_ceased_on`` and ``full_care_from``, which live on the period) or covering a kept missing
  episode, and every missing episode still open or without a return interview (its alert stays raised).

The children in need and child protection facts (``ChildState.cin``) are pruned at the same cutoffs by
what the four CIN/CP rules read (:mod:`.cin.horizon`): a plan's reviews and visits through the latest,
plans ended and referrals and enquiries settled long before the log dropped.

The date of each alert's last resolution (:attr:`ChildState.resolved`, so that a finding true again is
not raised before it) is kept until it is older than the far cutoff: an alert resolved earlier still and
true again with a first day before its resolution (a child back in care after more than about three and a
half years) is raised on that first day, as it was before these dates were kept.

So the encoded state is bounded by the activity of the last few years, not by the length of the history;
what still grows with it is one id per retraction ever received (a retraction may come before its
target) and the missing episodes that never had a return interview (alerts that stay raised).

Corrections and what is exact:

* an event or retraction dated on or after :attr:`ChildState.log_from`: exact (re-fold from the base);
* an event dated before it (a *deep* correction): applied to the base as well as possible (its fact is
  inserted in date order), flagged by an anomaly and :attr:`ChildState.needs_rebuild`; a retraction of
  an event that already left the log removes the facts that event made (CIN/CP facts included, where a
  fact cites the event: :func:`.cin.horizon.without_event`), and is flagged the same way.
  Exact results then need the child rebuilt from the event archive (:func:`needs_rebuild` is the hook a
  driver checks): :func:`~services.rules.core.rebuild.rebuild` folds every archived event of the child in
  the kernel's order, without the retracted ones (a retraction dated more than the log after its target is
  deep even in date order). The stream worker does it at once from the archive reader it is given, replay
  from its own input; without an archive the state stays flagged and approximate;
* a redelivered event older than the log that no kept fact cites is taken for a deep correction too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from schemas.codes import TEMPORARY_PLACEMENTS

from .calendar import add_months, birthday
from .cin.facts import refs
from .cin.horizon import prune as prune_cin
from .state import ChildState, MissingEpisode, Period


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """The days before which facts may be dropped, by how far back they are read (all firsts of a month)."""

    recent: date
    """Read only through the latest occurrence: the month the log starts in."""
    near: date
    """Read over 12-month windows (15 months for the initial health assessment)."""
    far: date
    """Read over 30 months (long-term stability)."""


@dataclass(frozen=True, slots=True)
class Horizon:
    log_days: int = 120
    """Events dated within this many days of the child's latest event are kept for exact re-folds."""
    near_months: int = 14
    """Facts read over 12-month windows are kept this many months before the log's first month."""
    far_months: int = 36
    """Facts read over 30 months are kept this many months before the log's first month."""

    def __post_init__(self) -> None:
        if self.log_days < 1 or self.near_months < 13 or self.far_months < max(31, self.near_months):
            raise ValueError("the fact horizons must cover 13 and 31 months before the log")

    def log_start(self, latest: date) -> date:
        return latest - timedelta(days=self.log_days)

    def cutoff(self, latest: date) -> date:
        """The first of the month the log starts in: facts are pruned again each time it moves."""
        return self.log_start(latest).replace(day=1)

    def cutoffs(self, recent: date) -> Cutoffs:
        return Cutoffs(recent, add_months(recent, -self.near_months), add_months(recent, -self.far_months))


DEFAULT_HORIZON: Final = Horizon()

FACT_FIELDS: Final = (
    "team",
    "periods",
    "legal_statuses",
    "placements",
    "social_workers",
    "peps",
    "health_assessments",
    "dental_checks",
    "sdq_scores",
    "visits",
    "reviews",
    "missing_episodes",
    "care_leaver_contacts",
    "pathway_plan_reviews",
    "anomalies",
    "pruned_reviews",
    "cin",
)
"""The folded facts (what :attr:`ChildState.base` holds)."""


def needs_rebuild(state: ChildState) -> bool:
    """A deep correction reached the child: its state is approximate until rebuilt from the archive."""
    return state.needs_rebuild


def facts_of(state: ChildState | None) -> dict[str, Any]:
    """The fact fields of ``state`` (empty when None)."""
    if state is None:
        return {name: () for name in FACT_FIELDS} | {"team": None, "cin": None}
    return {name: state.__dict__[name] for name in FACT_FIELDS}


def only_facts(state: ChildState) -> ChildState:
    """``state`` reduced to its fact fields (the form of :attr:`ChildState.base`)."""
    return ChildState(child_id=state.child_id, **facts_of(state))


def _keep_latest_before(items: tuple[Any, ...], cutoff: date, day: Any) -> tuple[Any, ...]:
    """Items dated on or after ``cutoff``, and the latest one before it (items are in date order)."""
    first = 0
    while first < len(items) and day(items[first]) < cutoff:
        first += 1
    start = max(0, first - 1)
    return items if start == 0 else items[start:]


def _on(item: Any) -> date:
    on: date = item.on
    return on


def _start(item: Any) -> date:
    start: date = item.start
    return start


def _since(item: Any) -> date:
    since: date = item.since
    return since


def prune(state: ChildState, cutoffs: Cutoffs) -> dict[str, Any]:
    """The fact fields of ``state`` that change when facts nobody reads any more are dropped (a field left
    alone keeps its very tuple: the engine's verdict reuse relies on that identity)."""
    changes: dict[str, Any] = {}
    recent, near, far = cutoffs.recent, cutoffs.near, cutoffs.far

    def put(name: str, value: tuple[Any, ...]) -> None:
        if len(value) != len(state.__dict__[name]):
            changes[name] = value

    # Read through the latest one only (visits since the placement, the PEP of the period, the last
    # dental check and SDQ score, the last pathway-plan review).
    for name in ("peps", "dental_checks", "visits", "pathway_plan_reviews", "sdq_scores"):
        put(name, _keep_latest_before(state.__dict__[name], recent, _on))
    _prune_reviews(state, recent, changes)
    put("health_assessments", _keep_latest_before(state.health_assessments, near, _on))
    put("legal_statuses", _keep_latest_before(state.legal_statuses, near, _since))
    put("social_workers", _keep_latest_before(state.social_workers, near, _start))
    # Placements: from the latest non-temporary one before the cutoff on.
    placements = state.placements
    index = 0
    for position, placement in enumerate(placements):
        if placement.start >= far:
            break
        if placement.placement_type not in TEMPORARY_PLACEMENTS:
            index = position
    put("placements", placements[index:])
    # Care-leaver contacts: recent ones, and the latest of each kind a rule reads.
    contacts = state.care_leaver_contacts
    if contacts and contacts[0].on < near:
        old = [c for c in contacts if c.on < near]
        keep = {id(old[-1])}
        with_activity = next((c for c in reversed(old) if c.activity is not None), None)
        with_accommodation = next((c for c in reversed(old) if c.accommodation is not None), None)
        keep.update(id(c) for c in (with_activity, with_accommodation) if c is not None)
        put("care_leaver_contacts", tuple(c for c in contacts if c.on >= near or id(c) in keep))
    episodes = tuple(e for e in state.missing_episodes if _episode_kept(e, near))
    put("missing_episodes", episodes)
    periods = state.periods
    if periods:
        starts = [e.start for e in episodes if e.start is not None]
        kept = tuple(p for index, p in enumerate(periods) if index == len(periods) - 1 or _period_kept(p, far, starts))
        put("periods", kept)
    put("anomalies", tuple(a for a in state.anomalies if a.on >= near))
    if state.cin is not None:
        cin = prune_cin(state.cin, recent, near)
        if cin is not state.cin:
            changes["cin"] = cin
    return changes


def forget_resolutions(
    resolved: tuple[tuple[str, str, date], ...], cutoffs: Cutoffs
) -> tuple[tuple[str, str, date], ...]:
    """The alerts' last resolution dates (:attr:`ChildState.resolved`) on or after the far cutoff."""
    if not resolved or min(entry[2] for entry in resolved) >= cutoffs.far:
        return resolved
    return tuple(entry for entry in resolved if entry[2] >= cutoffs.far)


def _prune_reviews(state: ChildState, cutoff: date, changes: dict[str, Any]) -> None:
    reviews = state.reviews
    kept = _keep_latest_before(reviews, cutoff, _on)
    if len(kept) == len(reviews):
        return
    counts = dict(state.pruned_reviews)
    for review in reviews[: len(reviews) - len(kept)]:
        period = next((p for p in reversed(state.periods) if p.start <= review.on), None)
        if period is not None:
            counts[period.start] = counts.get(period.start, 0) + 1
    changes["reviews"] = kept
    changes["pruned_reviews"] = tuple(sorted((start, n) for start, n in counts.items() if start >= cutoff or n))


def _episode_kept(episode: MissingEpisode, cutoff: date) -> bool:
    if episode.end is None or not episode.return_interviews:
        return True
    days = [day for day in (episode.start, episode.end) if day is not None]
    days.extend(interview.on for interview in episode.return_interviews)
    return max(days) >= cutoff


def _period_kept(period: Period, cutoff: date, episode_starts: list[date]) -> bool:
    if period.end is None or period.end >= cutoff:
        return True
    if period.full_care_from is not None and period.end > birthday(period.date_of_birth, 14):
        return True
    return any(period.start <= day < period.end for day in episode_starts)


def cited(state: ChildState) -> set[str]:
    """Every event id a fact of ``state`` (and of its base) cites."""
    ids: set[str] = set()
    for holder in (state, state.base):
        if holder is not None:
            ids.update(*_cited_by_field(holder))
    return ids


_CITING: Final = tuple(name for name in FACT_FIELDS if name not in ("team", "pruned_reviews"))
"""The fact fields whose facts cite events (the team and the count of pruned reviews cite none)."""
_CITED: Final = "horizon.cited"


def _cited_by_field(holder: ChildState) -> list[frozenset[str]]:
    """The ids each fact field of ``holder`` cites, in :data:`_CITING` order. Kept in the memo with the
    fields they came from (carried to the states evolved from this one): a step changes one or two
    collections, so the others' ids are not gathered again."""
    values = holder.__dict__
    memo = holder.memo
    before: tuple[tuple[Any, ...], list[frozenset[str]]] | None = memo.get(_CITED)
    fields = tuple(values[name] for name in _CITING)
    if before is None:
        found = [_cited_in(name, value) for name, value in zip(_CITING, fields, strict=True)]
    else:
        found = [
            ids if value is old else _cited_in(name, value)
            for name, value, old, ids in zip(_CITING, fields, before[0], before[1], strict=True)
        ]
    memo[_CITED] = (fields, found)
    return found


def _cited_in(name: str, value: Any) -> frozenset[str]:
    if name == "periods":
        return frozenset(
            event_id
            for period in value
            for event_id in (period.start_event_id, period.end_event_id)
            if event_id is not None
        )
    if name == "missing_episodes":
        ids: set[str] = set()
        for episode in value:
            if episode.start_event_id is not None:
                ids.add(episode.start_event_id)
            if episode.end_event_id is not None:
                ids.add(episode.end_event_id)
            ids.update(interview.event_id for interview in episode.return_interviews)
        return frozenset(ids)
    if name == "cin":
        return frozenset() if value is None else frozenset(ref.event_id for ref in refs(value))
    return frozenset(item.event_id for item in value)
