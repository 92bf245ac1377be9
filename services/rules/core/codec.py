"""The stored form of a child's state: a compact, versioned list of plain values (JSON-safe), encoded and
decoded by hand-written functions (no pydantic, no reflection on the hot path).

Layout: ``[STATE_FORMAT, child_id, team, <fact collections>, log, retracted ids, findings, <kernel
fields>, base facts, log_from, pruned_to, stamps, needs_rebuild, resolved, trailer]``; every record inside is a
positional list, dates are proleptic ordinals (``date.toordinal()``), and the idempotency set is not stored (it
is the ids of the log). ``orjson.dumps`` of the list is the bytes a table stores; :func:`dumps` /
:func:`loads` do both steps. A record of another format raises :class:`StateFormatError` (a
``ValueError``), as does a malformed one.

The trailer, the last value, is a fixed-size ASCII string: the state's wake date (:func:`.state.wake_at`), a
digest of its catalogue version and the stream partition the driver keeps it in. Its JSON form is always the
last :data:`TRAILER_SIZE` bytes of the stored bytes, so :func:`trailer` reads it, and :func:`knows` tells a
value of this format and of a given catalogue, without decoding the state: a driver that only needs every
child's next wake date (a restarted stream worker building its wake index) reads the stored values' tails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Final

import orjson

from schemas.alerts import EvidenceEvent

from .cin.facts import Assessment, CarePeriod, CinFacts, CinPlan, Closure, CpPlan, Enquiry, Ref, Referral
from .state import (
    Anomaly,
    CareLeaverContact,
    ChildState,
    Finding,
    LegalStatusSpell,
    LoggedEvent,
    MissingEpisode,
    Occurrence,
    Period,
    Placement,
    SdqScore,
    SocialWorker,
    wake_at,
)

STATE_FORMAT: Final = 6
"""Version of the stored layout (1 was the field-by-field JSON object of earlier releases; 3 added the
period's ``began_before_data``, ``uasc_ceased_on`` and ``full_care_from``, the placement's
``same_carer``, the missing episode's ``kind`` and the care-leaver contact's ``in_touch_code``; 4 added
the children in need and child protection facts, ``cin``; 5 added the alerts' last resolution dates,
``resolved``, at the end; 6 added the fixed-size trailer after them)."""

READABLE_FORMATS: Final = frozenset({4, 5, STATE_FORMAT})
"""Formats :func:`decode` reads: a format-5 state is format 6 without its trailer (nothing in the state is
lost: the trailer repeats what the state holds, for reading without a decode); a format-4 state has no
resolution dates either (read as none: a finding true again after a resolution made before the upgrade is
raised on its own first day, as format 4 did)."""

_VALUES: Final = {4: 16, 5: 17, STATE_FORMAT: 18}
"""How many values a stored list of each readable format holds."""

_TRAILER_TAG: Final = f"cw{STATE_FORMAT}:"
_NO_WAKE: Final = 0
"""The trailer's wake ordinal for no wake date (ordinals of real dates start at 1)."""
_WAKE_DIGITS: Final = 7  # date.max.toordinal() is 3,652,059
_CATALOGUE_DIGITS: Final = 16
_PARTITION_DIGITS: Final = 5
MAX_PARTITION: Final = 10**_PARTITION_DIGITS - 1
_TRAILER_TEXT: Final = len(_TRAILER_TAG) + _WAKE_DIGITS + 1 + _CATALOGUE_DIGITS + 1 + _PARTITION_DIGITS
TRAILER_SIZE: Final = _TRAILER_TEXT + 4
"""Bytes at the end of :func:`dumps`' output that hold the trailer: ``,"cw6:WWWWWWW:CCCCCCCCCCCCCCCC:PPPPP"]``
(wake ordinal, catalogue digest, partition; all fixed-width ASCII, so its JSON form never varies in size)."""
_HEAD: Final = f"[{STATE_FORMAT},".encode()
_HEX: Final = frozenset(b"0123456789abcdef")
_COLON: Final = ord(":")
_MAX_ORDINAL: Final = date.max.toordinal()
_TAIL_OPEN: Final = f',"{_TRAILER_TAG}'.encode()


@dataclass(frozen=True, slots=True)
class Trailer:
    """What the trailer of a stored state says, read without decoding the state."""

    wake: date | None
    """The state's wake date (:func:`.state.wake_at`)."""
    catalogue: str
    """:func:`catalogue_digest` of the state's catalogue version."""
    partition: int
    """The partition its driver keeps it in (0 when the driver has none)."""


class StateFormatError(ValueError):
    """A stored state this code cannot read (another format, or malformed)."""


_ord = date.toordinal
_day = date.fromordinal


def _opt_ord(day: date | None) -> int | None:
    return None if day is None else day.toordinal()


def _opt_day(value: int | None) -> date | None:
    return None if value is None else date.fromordinal(value)


# -- facts -------------------------------------------------------------------------------------------
def _facts(state: ChildState) -> list[Any]:
    return [
        state.team,
        [
            [
                _ord(p.start),
                p.start_event_id,
                _ord(p.date_of_birth),
                p.sex,
                p.uasc,
                p.legal_status,
                _opt_ord(p.end),
                p.end_reason,
                p.end_event_id,
                p.began_before_data,
                _opt_ord(p.uasc_ceased_on),
                _opt_ord(p.full_care_from),
            ]
            for p in state.periods
        ],
        [[_ord(s.since), s.code, s.event_id] for s in state.legal_statuses],
        [
            [
                p.event_id,
                _ord(p.start),
                p.placement_type,
                p.provider,
                p.reason_for_change,
                p.distance_miles,
                p.intended_until_18,
                p.same_carer,
            ]
            for p in state.placements
        ],
        [[w.event_id, w.worker_id, _ord(w.start), w.team, w.employment] for w in state.social_workers],
        _occurrences(state.peps),
        _occurrences(state.health_assessments),
        _occurrences(state.dental_checks),
        [[s.event_id, _ord(s.on), s.score] for s in state.sdq_scores],
        _occurrences(state.visits),
        _occurrences(state.reviews),
        [
            [
                e.episode_id,
                _opt_ord(e.start),
                e.start_event_id,
                _opt_ord(e.end),
                e.end_event_id,
                _occurrences(e.return_interviews),
                e.kind,
            ]
            for e in state.missing_episodes
        ],
        [
            [c.event_id, _ord(c.on), c.in_touch, c.activity, c.accommodation, c.in_touch_code]
            for c in state.care_leaver_contacts
        ],
        _occurrences(state.pathway_plan_reviews),
        [[a.event_id, a.type, _ord(a.on), a.reason] for a in state.anomalies],
        [[_ord(start), count] for start, count in state.pruned_reviews],
        None if state.cin is None else _cin(state.cin),
    ]


def _ref(ref: Ref | None) -> list[Any] | None:
    return None if ref is None else [ref.event_id, ref.type, _ord(ref.on)]


def _read_ref(row: list[Any] | None) -> Ref | None:
    return None if row is None else Ref(row[0], row[1], _day(row[2]))


def _the_ref(row: list[Any]) -> Ref:
    return Ref(row[0], row[1], _day(row[2]))


def _later_ref(row: list[Any], index: int) -> Ref | None:
    """A reference field added to a CIN/CP record after its first stored form (absent there: None)."""
    return _read_ref(row[index]) if len(row) > index else None


def _cin(facts: CinFacts) -> list[Any]:
    return [
        _opt_ord(facts.date_of_birth),
        facts.sex,
        facts.team,
        [
            [
                r.referral_id,
                _ord(r.on),
                r.source,
                _ref(r.ref),
                r.primary_need,
                r.outcome,
                _opt_ord(r.outcome_on),
                _ref(r.outcome_ref),
            ]
            for r in facts.referrals
        ],
        [
            [
                a.assessment_id,
                a.referral_id,
                _opt_ord(a.start),
                _ref(a.start_ref),
                _opt_ord(a.completed),
                _ref(a.completed_ref),
                a.child_in_need,
                list(a.factors),
            ]
            for a in facts.assessments
        ],
        [
            [
                e.enquiry_id,
                _opt_ord(e.start),
                _ref(e.start_ref),
                _opt_ord(e.completed),
                e.outcome,
                _opt_ord(e.icpc),
                _ref(e.icpc_ref),
                e.plan_decided,
                _ref(e.completed_ref),
            ]
            for e in facts.enquiries
        ],
        [
            [
                p.plan_id,
                _ord(p.start),
                p.category,
                _ref(p.ref),
                p.previous_plans,
                _opt_ord(p.end),
                [_ref(r) for r in p.reviews],
                [_ref(v) for v in p.visits],
                p.last_seen_alone,
                _ref(p.end_ref),
            ]
            for p in facts.cp_plans
        ],
        [[p.plan_id, _ord(p.start), _opt_ord(p.end), _ref(p.start_ref), _ref(p.end_ref)] for p in facts.cin_plans],
        [[_ord(c.on), c.reason, _ref(c.ref)] for c in facts.closures],
        [[_ord(c.start), _opt_ord(c.end), c.end_reason] for c in facts.care_periods],
        list(facts.anomalies),
    ]


def _read_cin(child_id: str, data: list[Any]) -> CinFacts:
    dob, sex, team, referrals, assessments, enquiries, cp_plans, cin_plans, closures, care, anomalies = data
    return CinFacts(
        child_id=child_id,
        date_of_birth=_opt_day(dob),
        sex=sex,
        team=team,
        referrals=tuple(
            Referral(r[0], _day(r[1]), r[2], _the_ref(r[3]), r[4], r[5], _opt_day(r[6]), _later_ref(r, 7))
            for r in referrals
        ),
        assessments=tuple(
            Assessment(r[0], r[1], _opt_day(r[2]), _read_ref(r[3]), _opt_day(r[4]), _read_ref(r[5]), r[6], tuple(r[7]))
            for r in assessments
        ),
        enquiries=tuple(
            Enquiry(
                r[0],
                _opt_day(r[1]),
                _read_ref(r[2]),
                _opt_day(r[3]),
                r[4],
                _opt_day(r[5]),
                _read_ref(r[6]),
                r[7],
                _later_ref(r, 8),
            )
            for r in enquiries
        ),
        cp_plans=tuple(
            CpPlan(
                r[0],
                _day(r[1]),
                r[2],
                _the_ref(r[3]),
                r[4],
                _opt_day(r[5]),
                tuple(_the_ref(x) for x in r[6]),
                tuple(_the_ref(x) for x in r[7]),
                r[8],
                _later_ref(r, 9),
            )
            for r in cp_plans
        ),
        cin_plans=tuple(
            CinPlan(r[0], _day(r[1]), _opt_day(r[2]), _later_ref(r, 3), _later_ref(r, 4)) for r in cin_plans
        ),
        closures=tuple(Closure(_day(r[0]), r[1], _the_ref(r[2])) for r in closures),
        care_periods=tuple(CarePeriod(_day(r[0]), _opt_day(r[1]), r[2]) for r in care),
        anomalies=tuple(anomalies),
    )


def _occurrences(items: tuple[Occurrence, ...]) -> list[Any]:
    return [[o.event_id, _ord(o.on), o.kind] for o in items]


def _read_occurrences(rows: list[Any]) -> tuple[Occurrence, ...]:
    return tuple(Occurrence(r[0], _day(r[1]), r[2]) for r in rows)


def _read_facts(child_id: str, data: list[Any]) -> dict[str, Any]:
    (
        team,
        periods,
        legal,
        placements,
        workers,
        peps,
        health,
        dental,
        sdq,
        visits,
        reviews,
        missing,
        contacts,
        pathway,
        anomalies,
        pruned,
        cin,
    ) = data
    return {
        "team": team,
        "periods": tuple(
            Period(
                _day(r[0]),
                r[1],
                _day(r[2]),
                r[3],
                r[4],
                r[5],
                _opt_day(r[6]),
                r[7],
                r[8],
                r[9],
                _opt_day(r[10]),
                _opt_day(r[11]),
            )
            for r in periods
        ),
        "legal_statuses": tuple(LegalStatusSpell(_day(r[0]), r[1], r[2]) for r in legal),
        "placements": tuple(Placement(r[0], _day(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in placements),
        "social_workers": tuple(SocialWorker(r[0], r[1], _day(r[2]), r[3], r[4]) for r in workers),
        "peps": _read_occurrences(peps),
        "health_assessments": _read_occurrences(health),
        "dental_checks": _read_occurrences(dental),
        "sdq_scores": tuple(SdqScore(r[0], _day(r[1]), r[2]) for r in sdq),
        "visits": _read_occurrences(visits),
        "reviews": _read_occurrences(reviews),
        "missing_episodes": tuple(
            MissingEpisode(r[0], _opt_day(r[1]), r[2], _opt_day(r[3]), r[4], _read_occurrences(r[5]), r[6])
            for r in missing
        ),
        "care_leaver_contacts": tuple(CareLeaverContact(r[0], _day(r[1]), r[2], r[3], r[4], r[5]) for r in contacts),
        "pathway_plan_reviews": _read_occurrences(pathway),
        "anomalies": tuple(Anomaly(r[0], r[1], _day(r[2]), r[3]) for r in anomalies),
        "pruned_reviews": tuple((_day(r[0]), r[1]) for r in pruned),
        "cin": None if cin is None else _read_cin(child_id, cin),
    }


# -- the rest ----------------------------------------------------------------------------------------
def _finding(f: Finding) -> list[Any]:
    return [
        f.rule,
        f.subject,
        f.severity,
        f.summary,
        _ord(f.since),
        [[e.event_id, e.type, e.occurred_at] for e in f.evidence],
        {key: _ord(day) for key, day in f.dates.items()},
        _opt_ord(f.raised_at),
    ]


def _read_finding(r: list[Any]) -> Finding:
    evidence = tuple(EvidenceEvent.model_construct(event_id=e[0], type=e[1], occurred_at=e[2]) for e in r[5])
    return Finding(
        rule=r[0],
        subject=r[1],
        severity=r[2],
        summary=r[3],
        since=_day(r[4]),
        evidence=evidence,
        dates={key: _day(day) for key, day in r[6].items()},
        raised_at=_opt_day(r[7]),
    )


@lru_cache(maxsize=64)
def catalogue_digest(catalogue: str) -> str:
    """The fixed-size form of a catalogue version that a trailer holds (16 hexadecimal digits)."""
    return hashlib.blake2b(catalogue.encode(), digest_size=_CATALOGUE_DIGITS // 2).hexdigest()


def _trailer(state: ChildState, partition: int) -> str:
    if not 0 <= partition <= MAX_PARTITION:
        raise ValueError(f"a stored state's partition must be 0-{MAX_PARTITION}, not {partition}")
    wake = wake_at(state)
    ordinal = _NO_WAKE if wake is None else wake.toordinal()
    digest = catalogue_digest(state.catalogue)
    return f"{_TRAILER_TAG}{ordinal:0{_WAKE_DIGITS}d}:{digest}:{partition:0{_PARTITION_DIGITS}d}"


def trailer(raw: bytes) -> Trailer | None:
    """The trailer of stored bytes of this format (:func:`dumps`), read from their last
    :data:`TRAILER_SIZE` bytes and their first ones; None for bytes of another format or layout (a value a
    previous release stored: decode it to know it). Malformed bytes that end like a trailer are not
    detected here: :func:`loads` still rejects them."""
    if len(raw) < len(_HEAD) + TRAILER_SIZE or not raw.startswith(_HEAD) or not raw.endswith(b'"]'):
        return None
    tail = raw[-TRAILER_SIZE:]
    if not tail.startswith(_TAIL_OPEN):
        return None
    text = tail[len(_TAIL_OPEN) : -2]
    wake, catalogue, partition = (
        text[:_WAKE_DIGITS],
        text[_WAKE_DIGITS + 1 : -_PARTITION_DIGITS - 1],
        text[-_PARTITION_DIGITS:],
    )
    if not (
        wake.isdigit()
        and partition.isdigit()
        and _HEX.issuperset(catalogue)
        and text[_WAKE_DIGITS] == _COLON
        and text[-_PARTITION_DIGITS - 1] == _COLON
    ):
        return None
    ordinal = int(wake)
    if ordinal > _MAX_ORDINAL:
        return None
    return Trailer(
        None if ordinal == _NO_WAKE else date.fromordinal(ordinal), catalogue.decode("ascii"), int(partition)
    )


def knows(raw: bytes, catalogue: str) -> bool:
    """``raw`` holds a state of this format computed with ``catalogue`` (so its :func:`trailer` says all a
    wake index needs); False for another format or catalogue version: decode it, or re-evaluate it."""
    found = trailer(raw)
    return found is not None and found.catalogue == catalogue_digest(catalogue)


def encode(state: ChildState, *, partition: int = 0) -> list[Any]:
    """The stored form of ``state`` (plain lists, strings, numbers, booleans and None); ``partition``: the
    driver's partition of the child, kept in the trailer."""
    return [
        STATE_FORMAT,
        state.child_id,
        _facts(state),
        [[_ord(e.occurred_on), e.rank, e.recorded_at, e.event_id, e.type, e.data] for e in state.events],
        sorted(state.retracted_ids),
        [_finding(f) for f in state.findings],
        _opt_ord(state.evaluated_as_of),
        [list(row) for row in state.contributions],
        _opt_ord(state.rules_due),
        _opt_ord(state.indicators_due),
        state.catalogue,
        None if state.base is None else _facts(state.base),
        _opt_ord(state.log_from),
        _opt_ord(state.pruned_to),
        [[key, kind, at] for key, (kind, at) in state.stamps.items()],
        state.needs_rebuild,
        [[rule, subject, _ord(on)] for rule, subject, on in state.resolved],
        _trailer(state, partition),
    ]


def decode(data: Any) -> ChildState:
    """The state whose :func:`encode` is ``data``."""
    if not isinstance(data, list) or not data or data[0] not in READABLE_FORMATS:
        found = data[0] if isinstance(data, list) and data else type(data).__name__
        raise StateFormatError(f"not a stored child state of format {STATE_FORMAT} (found {found!r})")
    try:
        if len(data) != _VALUES[data[0]]:
            raise ValueError(f"expected {_VALUES[data[0]]} values, found {len(data)}")
        resolved: list[Any] = data[16] if data[0] >= 5 else []
        (
            _,
            child_id,
            facts,
            log,
            retracted,
            findings,
            evaluated,
            contributions,
            rules_due,
            indicators_due,
            catalogue,
            base,
            log_from,
            pruned_to,
            stamps,
            needs_rebuild,
        ) = data[:16]
        events = tuple(
            LoggedEvent(occurred_on=_day(r[0]), rank=r[1], recorded_at=r[2], event_id=r[3], type=r[4], data=r[5])
            for r in log
        )
        values: dict[str, Any] = _read_facts(child_id, facts)
        values.update(
            child_id=child_id,
            events=events,
            processed_ids=frozenset(e.event_id for e in events),
            retracted_ids=frozenset(retracted),
            findings=tuple(_read_finding(r) for r in findings),
            evaluated_as_of=_opt_day(evaluated),
            contributions=tuple((r[0], r[1], r[2]) for r in contributions),
            rules_due=_opt_day(rules_due),
            indicators_due=_opt_day(indicators_due),
            catalogue=catalogue,
            base=None if base is None else ChildState(child_id=child_id, **_read_facts(child_id, base)),
            log_from=_opt_day(log_from),
            pruned_to=_opt_day(pruned_to),
            stamps={r[0]: (r[1], r[2]) for r in stamps},
            needs_rebuild=bool(needs_rebuild),
            resolved=tuple((r[0], r[1], _day(r[2])) for r in resolved),
        )
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        raise StateFormatError(f"malformed stored child state: {type(exc).__name__}: {exc}") from None
    return ChildState(**values)


def dumps(state: ChildState, *, partition: int = 0) -> bytes:
    """The state's stored bytes (``orjson`` of :func:`encode`), ending with its trailer."""
    return orjson.dumps(encode(state, partition=partition))


def loads(raw: bytes | str) -> ChildState:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StateFormatError(f"stored child state is not JSON: {exc}") from None
    return decode(data)
