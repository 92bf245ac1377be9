"""SSDA903 rows → carewatch events, with an outcome for every row (converted, rejected or skipped).

Pure: no broker, no clock. Every event is validated with :func:`schemas.events.parse_event`; a row whose
events fail is rejected as a whole (nothing half-converted). ``docs/ssda903.md`` is the mapping reference.

Several returns (several collection years) convert together into one history: episodes are merged by
(child, DECOM), a later return's row replacing an earlier one (the change is reported), and each child's
episodes are walked in date order so that a period of care is one chain however many returns it spans.

Event ids are derived from what the event states (child, date, code), not from the file or year: an
episode open across two returns yields the same ``care.started`` id in both, so importing overlapping
returns (or the same one twice) gives events the rules engine dedupes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from pydantic import ValidationError

from schemas import codes
from schemas.events import PSEUDONYM_PATTERN, event_to_json, parse_event
from services.ingest.ssda903 import tables, years
from services.ingest.ssda903.source import SourceRow

SOURCE: Final = "ssda903"
Status = Literal["converted", "rejected", "skipped"]

_CHILD_ID = re.compile(PSEUDONYM_PATTERN)
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
CARE_LEAVER_AGES: Final = range(17, 26)
"""OC3 covers the 17th–21st birthdays in the year, and 22–25 for those in touch."""

NOT_IMPORTED: Final = {
    tables.AD1.name: "adoption decision dates (AD1) have no carewatch event",
    tables.PLACED_FOR_ADOPTION.name: "'should be placed for adoption' decisions have no carewatch event",
    tables.PREVIOUS_PERMANENCE.name: "previous permanence has no carewatch event",
}


class RowRejected(Exception):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class RowSkipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RowOutcome:
    file: str
    table: str
    row: int
    locator: str
    status: Status
    field: str | None = None
    reason: str | None = None
    event_ids: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()
    """Chronology or coding problems found on a row that was still converted: (DfE rule, message)."""


@dataclass
class Tally:
    file: str
    table: str
    read: int = 0
    converted: int = 0
    rejected: int = 0
    skipped: int = 0
    events: int = 0
    problems: int = 0

    @property
    def reconciles(self) -> bool:
        return self.read == self.converted + self.rejected + self.skipped


@dataclass
class ImportResult:
    events: list[dict[str, Any]]
    """Validated, JSON-ready, sorted by date then child then episode order."""
    outcomes: list[RowOutcome]
    changes: list[str] = field(default_factory=list)
    """What a re-import changed in events sent before (corrections and removals), for the report."""

    def tallies(self) -> list[Tally]:
        by_key: dict[tuple[str, str], Tally] = {}
        for outcome in self.outcomes:
            count(by_key, outcome)
        return [by_key[key] for key in sorted(by_key)]


def count(counts: dict[tuple[str, str], Tally], outcome: RowOutcome) -> None:
    """Add ``outcome`` to the closing counts of its file and table."""
    tally = counts.setdefault((outcome.file, outcome.table), Tally(outcome.file, outcome.table))
    tally.read += 1
    setattr(tally, outcome.status, getattr(tally, outcome.status) + 1)
    tally.events += len(outcome.event_ids)
    tally.problems += len(outcome.problems)


def parse_date(value: str, field_name: str, *, required: bool = True) -> date | None:
    """dd/mm/YYYY as the DfE layout has it; ISO YYYY-MM-DD accepted too (some exports use it)."""
    text = value.strip()
    if not text:
        if required:
            raise RowRejected(field_name, f"{field_name} is blank")
        return None
    match = _DMY.match(text)
    parts = (match.group(3), match.group(2), match.group(1)) if match else None
    if parts is None and (iso := _ISO.match(text)):
        parts = (iso.group(1), iso.group(2), iso.group(3))
    if parts is None:
        raise RowRejected(field_name, f"not a date (dd/mm/YYYY expected): {text!r}")
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise RowRejected(field_name, f"no such date: {text!r}") from None


def required_date(fields: Mapping[str, str], field_name: str) -> date:
    day = parse_date(fields.get(field_name, ""), field_name)
    assert day is not None  # required=True never returns None
    return day


def child_id(fields: Mapping[str, str]) -> str:
    value = fields.get("CHILD", "").strip()
    if not value:
        raise RowRejected("CHILD", "CHILD is blank")
    if not _CHILD_ID.match(value):
        # the value is not echoed: a malformed id may be a name or an NHS number
        raise RowRejected("CHILD", "CHILD is not a pseudonymous id (1–64 of A-Z a-z 0-9 _ -)")
    return value


def code(fields: Mapping[str, str], field_name: str, code_list: Mapping[str, str], *, required: bool) -> str | None:
    value = fields.get(field_name, "").strip()
    if not value:
        if required:
            raise RowRejected(field_name, f"{field_name} is blank")
        return None
    if value not in code_list:
        label = CODE_LABELS.get(field_name)
        raise RowRejected(field_name, f"unknown {field_name} code {value!r}" + (f" ({label})" if label else ""))
    return value


CODE_LABELS: Final = {"LS": "legal status", "PLACE": "placement type", "PLACE_PROVIDER": "placement provider"}


def event_id(kind: str, *identity: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in identity).encode()).hexdigest()[:20]
    return f"903-{kind}-{digest}"


def birthday_in_year(born: date, year: int) -> date:
    """The birthday falling in the collection year 1 April ``year-1`` – 31 March ``year``."""
    calendar_year = year if (born.month, born.day) <= (3, 31) else year - 1
    try:
        return born.replace(year=calendar_year)
    except ValueError:  # 29 February in a non-leap year: taken as 1 March
        return date(calendar_year, 3, 1)


@dataclass(frozen=True)
class Child:
    date_of_birth: date
    sex: str
    ethnicity: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """One event before validation, with the 903 field each event field came from (for error reports)."""

    data: dict[str, Any]
    fields: Mapping[str, str]
    anchor: date
    """Sort key within a child's day: the DECOM of the episode it came from (else its own date)."""


@dataclass(frozen=True, slots=True)
class Episode:
    """An episodes row, its fields checked one by one (the chain is checked later)."""

    index: int
    year: int
    child: str
    decom: date
    rne: str
    ls: str
    place: str
    provider: str | None
    dec: date | None
    rec: str | None
    reason_change: str | None
    problems: tuple[tuple[str, str], ...] = ()
    need: str | None = None

    def carried(self) -> tuple[Any, ...]:
        return (self.decom, self.rne, self.ls, self.place, self.provider, self.dec, self.rec, self.reason_change)

    def in_return(self, year: int) -> bool:
        """Whether the return of ``year`` must hold this episode: open at some time in that year."""
        return self.decom <= years.year_end(year) and (self.dec is None or self.dec >= years.year_start(year))


EPISODE_COLUMNS: Final = ("DECOM", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE")


@dataclass
class Context:
    year: int
    children: dict[str, Child] = field(default_factory=dict)
    uasc_until: dict[str, date | None] = field(default_factory=dict)
    header_year: dict[str, tuple[int, int]] = field(default_factory=dict)
    """child → (year, row index) of the header row in use."""
    uasc_year: dict[str, int] = field(default_factory=dict)


def _envelope(event_type: str, child: str, occurred: date, ident: str, **extra: Any) -> dict[str, Any]:
    return (
        {"event_id": ident, "type": event_type, "child_id": child, "occurred_at": occurred.isoformat()}
        | {"source": SOURCE}
        | extra
    )


# ---- reference tables (first pass): header, UASC ---------------------------------------------------------


def _header(fields: Mapping[str, str], year: int) -> tuple[str, Child, str | None]:
    child = child_id(fields)
    raw_sex = fields.get("SEX", "").strip()
    sex = codes.LEGACY_SEX.get(raw_sex, raw_sex)
    if sex not in codes.SEX:
        raise RowRejected("SEX", f"unknown SEX code {raw_sex!r} (M/F/U, or legacy 1/2)")
    problem = None
    if raw_sex not in years.sex_codes(year):
        expected = "/".join(sorted(years.sex_codes(year)))
        problem = f"SEX {raw_sex!r} is not a code of the {year - 1}/{year % 100:02d} return ({expected})"
    ethnic = fields.get("ETHNIC", "").strip().upper()
    if ethnic and not re.fullmatch(r"[A-Z]{4}", ethnic):
        raise RowRejected("ETHNIC", f"ETHNIC is not a four-letter code: {ethnic!r}")
    return child, Child(required_date(fields, "DOB"), sex, ethnic or None), problem


def _uasc(fields: Mapping[str, str]) -> tuple[str, date | None]:
    return child_id(fields), parse_date(fields.get("DUC", ""), "DUC", required=False)


def _parse_episode(index: int, year: int, fields: Mapping[str, str]) -> Episode:
    child = child_id(fields)
    started = required_date(fields, "DECOM")
    rne = code(fields, "RNE", codes.REASON_NEW_EPISODE, required=True)
    assert rne is not None
    legal_status = code(fields, "LS", codes.LEGAL_STATUS, required=True)
    assert legal_status is not None
    place = code(fields, "PLACE", codes.PLACEMENT_TYPE, required=True)
    assert place is not None
    if place not in years.placement_types(year):
        raise RowRejected("PLACE", f"placement type {place} is not a code of the {year - 1}/{year % 100:02d} return")
    provider = code(fields, "PLACE_PROVIDER", codes.PLACEMENT_PROVIDER, required=False)
    reason_change = code(fields, "REASON_PLACE_CHANGE", codes.REASON_PLACE_CHANGE, required=False)
    ended = parse_date(fields.get("DEC", ""), "DEC", required=False)
    rec = code(fields, "REC", codes.REASON_EPISODE_CEASED, required=False)
    if ended is not None and rec is None:
        raise RowRejected("REC", "the episode has DEC but no REC")
    problems: tuple[tuple[str, str], ...] = ()
    if rec is not None and ended is None:
        # an ending without a date cannot be expressed: the episode is taken as open, as the DfE counts do
        what = "a new episode begins" if rec == "X1" else "care ended"
        problems = (("148", f"REC {rec} ({what}) given but DEC is blank: taken as still open"),)
        rec = None
    if ended is not None and ended < started:
        raise RowRejected("DEC", "DEC is before DECOM (DfE rule 356)")
    if ended is not None and ended > years.year_end(year):
        problems += (
            ("354", f"DEC {_show(ended)} is after the end of the {year - 1}/{year % 100:02d} collection year"),
        )
    need = fields.get("CIN", "").strip() or None
    if need is not None and need not in CATEGORIES_OF_NEED:
        raise RowRejected("CIN", f"unknown CIN code {need!r} (N1–N8)")
    return Episode(
        index,
        year,
        child,
        started,
        rne,
        legal_status,
        place,
        provider,
        ended,
        rec,
        reason_change,
        problems,
        need,
    )


CATEGORIES_OF_NEED: Final = frozenset(f"N{n}" for n in range(1, 9))


def _describe_change(old: Episode, new: Episode) -> str:
    changed = [
        f"{name} {_show(a)!r}→{_show(b)!r}"
        for name, a, b in zip(EPISODE_COLUMNS, old.carried(), new.carried(), strict=True)
        if a != b
    ]
    return ", ".join(changed) if changed else "no change"


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


# ---- episodes: one chain per child -----------------------------------------------------------------------

EPISODE_FIELDS: Final = {
    "occurred_at": "DECOM",
    "date_of_birth": "DOB",
    "sex": "SEX",
    "legal_status": "LS",
    "placement_type": "PLACE",
    "provider": "PLACE_PROVIDER",
    "reason_for_change": "REASON_PLACE_CHANGE",
    "reason": "REC",
    "__model__": "DOB",  # the only model-level check on these events is the child's age at care.started
}


def _episode_drafts(ep: Episode, ctx: Context, *, starts: bool, before_data: bool, reason: str | None) -> list[Draft]:
    """The events of one episode. ``starts``: the episode starts a period of care (RNE S, or the first
    episode in the data, or an episode after care ended); ``reason``: REASON_PLACE_CHANGE of the episode
    whose placement ended on this DECOM."""
    child, started = ep.child, ep.decom
    placement: dict[str, Any] = {"placement_type": ep.place}
    if ep.provider:
        placement["provider"] = ep.provider
    drafts: list[Draft] = []

    def add(data: dict[str, Any], date_field: str = "DECOM") -> None:
        drafts.append(Draft(data, EPISODE_FIELDS | {"occurred_at": date_field}, started))

    def placement_started(**extra: Any) -> None:
        ident = event_id("ps", child, started, ep.place)
        add(_envelope("placement.started", child, started, ident, **placement, **extra))

    if starts:
        known = ctx.children.get(child)
        if known is None:
            raise RowRejected("CHILD", "no valid header row for this child (care.started needs DOB and SEX)")
        until = ctx.uasc_until.get(child, date.min)
        extra: dict[str, Any] = {}
        if before_data:
            extra = {"period_began_before_data": True, "new_episode_reason": ep.rne}
        if child in ctx.uasc_until and until is not None:
            extra["uasc_ceased_on"] = until.isoformat()
        if ep.need:
            extra["category_of_need"] = ep.need
        if known.ethnicity:
            extra["ethnicity"] = known.ethnicity
        add(
            _envelope(
                "care.started",
                child,
                started,
                event_id("cs", child, started),
                date_of_birth=known.date_of_birth.isoformat(),
                sex=known.sex,
                legal_status=ep.ls,
                uasc=child in ctx.uasc_until and (until is None or started < until),
                **extra,
            )
        )
        placement_started()
    else:
        rne = "B" if ep.rne == "S" else ep.rne  # S inside a period: taken as a change of both (reported)
        if rne in codes.LEGAL_CHANGE_RNE:
            ident = event_id("ls", child, started, ep.ls)
            add(_envelope("legal_status.changed", child, started, ident, legal_status=ep.ls))
        if rne in codes.PLACEMENT_CHANGE_RNE:
            extra = {"reason_for_change": reason} if reason else {}
            if rne in {"T", "U"}:
                extra["same_carer"] = True
            placement_started(**extra)
    if ep.rec is not None and ep.rec != "X1" and ep.dec is not None:
        add(_envelope("care.ended", child, ep.dec, event_id("ce", child, ep.dec), reason=ep.rec), "DEC")
    return drafts


FINAL_ENDINGS: Final = frozenset({"E2", "E15"})
"""REC codes after which no episode can follow (died; age assessment found the person 18 or over)."""


def _chain(
    episodes: list[Episode], ctx: Context, validate: Callable[[list[Draft], Episode], list[dict[str, Any]]]
) -> dict[int, tuple[Status, str | None, str | None, list[dict[str, Any]], list[tuple[str, str]]]]:
    """Walk one child's episodes in date order: which start a period, and the chronology problems."""
    results: dict[int, tuple[Status, str | None, str | None, list[dict[str, Any]], list[tuple[str, str]]]] = {}
    last: Episode | None = None
    for ep in sorted(episodes, key=lambda e: (e.decom, e.year, e.index)):
        problems: list[tuple[str, str]] = list(ep.problems)
        in_care = False
        if last is not None:
            prior = f"the previous episode (DECOM {_show(last.decom)})"
            if last.dec is None:
                problems.append(("142", f"a new episode starts but {prior} has no DEC: taken as ending here"))
                in_care = True
            elif last.dec > ep.decom:
                problems.append(("501", f"starts before {prior} ended on {_show(last.dec)}"))
                in_care = last.rec == "X1"
            elif last.rec in FINAL_ENDINGS:
                problems.append(("437", f"{prior} ended {last.rec} (died, or aged 18 or over) but episodes follow"))
            elif last.rec != "X1" and last.dec == ep.decom and ep.rne == "S":
                problems.append(("431", f"RNE S, but {prior} ended care ({last.rec}) the same day"))
            elif last.rec == "X1":
                in_care = True
                if last.dec < ep.decom:
                    problems.append(
                        ("433", f"{prior} ended X1 on {_show(last.dec)} but this one starts on {_show(ep.decom)}")
                    )
        before_data = False
        if ep.rne == "S":
            starts = not in_care
            if in_care:
                problems.append(("431", "RNE S (started to be looked after) but the child is already looked after"))
        elif in_care:
            starts = False
        else:
            starts = True
            before_data = last is None
            if last is not None and len(problems) == len(ep.problems):  # an overlap is reported already
                problems.append(
                    (
                        "433",
                        f"RNE {ep.rne} continues a period of care, but care ended on {_show(last.dec)} "
                        f"(REC {last.rec}): taken as a new period",
                    )
                )
        reason = last.reason_change if (last is not None and in_care and last.dec == ep.decom) else None
        try:
            drafts = _episode_drafts(ep, ctx, starts=starts, before_data=before_data, reason=reason)
            data = validate(drafts, ep)
        except RowRejected as rejection:
            results[ep.index] = ("rejected", rejection.field, rejection.reason, [], [])
            continue
        except RowSkipped as skip:
            results[ep.index] = ("skipped", None, skip.reason, [], [])
            last = ep
            continue
        results[ep.index] = ("converted", None, None, data, problems)
        last = ep
    if last is not None and last.rec == "X1":
        results[last.index][4].append(("388", "REC X1 (a new episode begins) but there is no next episode"))
    return results


# ---- event tables ----------------------------------------------------------------------------------------


def _review(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    held = required_date(fields, "REVIEW")
    participation = code(fields, "REVIEW_CODE", codes.REVIEW_PARTICIPATION, required=False)
    extra = {"participation": participation} if participation else {}
    data = _envelope("review.held", child, held, event_id("rv", child, held), **extra)
    return [Draft(data, {"occurred_at": "REVIEW", "participation": "REVIEW_CODE"}, held)]


MISSING_KINDS: Final = {"M": "missing", "A": "away"}


def _missing(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    kind = code(fields, "MISSING", codes.MISSING_TYPE, required=True)
    assert kind is not None
    started = required_date(fields, "MIS_START")
    ended = parse_date(fields.get("MIS_END", ""), "MIS_END", required=False)
    if ended is not None and ended < started:
        raise RowRejected("MIS_END", "MIS_END is before MIS_START")
    episode = event_id("mis", child, started)
    drafts = [
        Draft(
            _envelope(
                "missing.started",
                child,
                started,
                event_id("ms", child, started),
                episode_id=episode,
                kind=MISSING_KINDS[kind],
            ),
            {"occurred_at": "MIS_START"},
            started,
        )
    ]
    if ended is not None:
        data = _envelope("missing.ended", child, ended, event_id("me", child, started), episode_id=episode)
        drafts.append(Draft(data, {"occurred_at": "MIS_END"}, started))
    return drafts


OC2_FLAGS: Final = {
    "convicted": "CONVICTED",
    "health_check": "HEALTH_CHECK",
    "immunisations": "IMMUNISATIONS",
    "teeth_check": "TEETH_CHECK",
    "health_assessment": "HEALTH_ASSESSMENT",
    "substance_misuse": "SUBSTANCE_MISUSE",
    "intervention_received": "INTERVENTION_RECEIVED",
    "intervention_offered": "INTERVENTION_OFFERED",
}
SDQ_REASONS: Final = frozenset({"SDQ1", "SDQ2", "SDQ3", "SDQ4", "SDQ5"})


def _oc2(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    as_at = years.year_end(ctx.year)
    items: dict[str, Any] = {}
    for name, column in OC2_FLAGS.items():
        value = fields.get(column, "").strip()
        if value in {"0", "1"}:
            items[name] = value == "1"
        elif value:
            raise RowRejected(column, f"{column} must be 0, 1 or blank: {value!r}")
    if reason := fields.get("SDQ_REASON", "").strip():
        if reason not in SDQ_REASONS:
            raise RowRejected("SDQ_REASON", f"unknown SDQ_REASON code {reason!r}")
        items["sdq_reason"] = reason
    raw = fields.get("SDQ_SCORE", "").strip()
    drafts = []
    if raw:
        if not re.fullmatch(r"-?\d+(\.0+)?", raw):  # "12.0": spreadsheet exports turn integers into floats
            raise RowRejected("SDQ_SCORE", f"SDQ_SCORE is not a whole number: {raw!r}")
        score = int(float(raw))
        data = _envelope("sdq.recorded", child, as_at, event_id("sdq", child, as_at), score=score)
        drafts.append(Draft(data, {"score": "SDQ_SCORE"}, as_at))
    if items:
        data = _envelope("outcomes.recorded", child, as_at, event_id("oc2", child, as_at), **items)
        drafts.append(Draft(data, {"sdq_reason": "SDQ_REASON"}, as_at))
    if not drafts:
        raise RowSkipped("no OC2 item recorded (every field blank)")
    return drafts


def _oc3(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    in_touch = code(fields, "IN_TOUCH", codes.IN_TOUCH, required=True)
    born = required_date(fields, "DOB")
    contact = birthday_in_year(born, ctx.year)
    age = contact.year - born.year
    if age not in CARE_LEAVER_AGES:
        raise RowRejected("DOB", f"the birthday in the year is the {age}th: OC3 covers the 17th to the 25th")
    extra: dict[str, Any] = {
        "in_touch": in_touch == "YES",
        "in_touch_code": in_touch,
        "date_of_birth": born.isoformat(),
    }
    activity = fields.get("ACTIV", "").strip()
    if activity and activity in codes.ACTIVITY and activity not in years.activities(ctx.year):
        raise RowRejected(
            "ACTIV", f"activity {activity} is not a code of the {ctx.year - 1}/{ctx.year % 100:02d} return"
        )
    for event_field, column in (("activity", "ACTIV"), ("accommodation", "ACCOM")):
        if value := fields.get(column, "").strip():
            extra[event_field] = value
    data = _envelope("care_leaver.contact", child, contact, event_id("cl", child, contact), **extra)
    return [Draft(data, {"activity": "ACTIV", "accommodation": "ACCOM", "occurred_at": "DOB"}, contact)]


def _sw_episode(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    worker = fields.get("SW_ID", "").strip()
    if not worker:
        raise RowRejected("SW_ID", "SW_ID is blank")
    if not _CHILD_ID.match(worker):
        raise RowRejected("SW_ID", "SW_ID is not an id of 1–64 of A-Z a-z 0-9 _ -")
    started = required_date(fields, "SW_DECOM")
    ended = parse_date(fields.get("SW_DEC", ""), "SW_DEC", required=False)
    if ended is not None and ended < started:
        raise RowRejected("SW_DEC", "SW_DEC is before SW_DECOM")
    reason = code(fields, "SW_REASON", codes.SW_CHANGE_REASON, required=False)
    extra = {"change_reason": reason} if reason else {}
    data = _envelope(
        "social_worker.changed", child, started, event_id("sw", child, started, worker), worker_id=worker, **extra
    )
    return [Draft(data, {"occurred_at": "SW_DECOM", "worker_id": "SW_ID", "change_reason": "SW_REASON"}, started)]


CONVERTERS: Final[dict[str, Callable[[Mapping[str, str], Context], list[Draft]]]] = {
    tables.REVIEWS.name: _review,
    tables.MISSING.name: _missing,
    tables.OC2.name: _oc2,
    tables.OC3.name: _oc3,
    tables.SW_EPISODES.name: _sw_episode,
}


def _validation_failure(exc: ValidationError, fields: Mapping[str, str]) -> RowRejected:
    errors = exc.errors(include_url=False)
    located = []
    for error in errors:
        # the union tag comes first in the location: ('care.started', 'legal_status')
        names = [str(part) for part in error["loc"][1:]]
        event_field = names[0] if names else "__model__"
        located.append((fields.get(event_field, None if event_field == "__model__" else event_field), error["msg"]))
    field_name = located[0][0] if located else None
    return RowRejected(field_name, "; ".join(f"{where}: {message}" if where else message for where, message in located))


Keyed = tuple[str, str, date, int, str, dict[str, Any], int, int]
"""An event as held until sorted: (occurred_at, child id, anchor, position, event id, the event, row index, year)."""
KEYED_EVENT: Final = 5
KEYED_ROW: Final = 6
KEYED_YEAR: Final = 7


def _pooled(data: dict[str, Any], pool: dict[str, str]) -> dict[str, Any]:
    """``data`` with its text values (but the event id, never repeated) taken from ``pool``."""
    held = pool.setdefault
    return {k: held(v, v) if type(v) is str and k != "event_id" else v for k, v in data.items()}


def convert(rows: Iterable[SourceRow], year: int, progress: Callable[[int], None] | None = None) -> ImportResult:
    """Convert every row of one return; ``year`` is the collection year ending 31 March ``year``."""
    return convert_returns([(year, rows)], progress)


def convert_returns(
    returns: Sequence[tuple[int, Iterable[SourceRow]]], progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Convert several returns (collection year, rows) into one history; a later year's row wins.

    Everything is held in memory; :func:`services.ingest.ssda903.stream.convert_streamed` gives the same
    events and outcomes with memory bounded whatever the size of the returns."""
    # rows and their years side by side (a pair per row would cost a tuple each)
    rows: list[SourceRow | None] = []
    row_years: list[int] = []
    for year, source in returns:
        for row in source:
            rows.append(row)
            row_years.append(year)
    ctx_year = max((year for year, _ in returns), default=0)
    keyed, outcomes = convert_part(rows, row_years, ctx_year, None, progress)
    events = [entry[KEYED_EVENT] for entry in keyed]
    keyed.clear()
    return ImportResult(events, outcomes)


def has_episode(row: SourceRow, year: int) -> bool:
    """Whether ``row`` is an episode the conversion keeps (one whose fields all pass, checked alone)."""
    if row.table != tables.EPISODES.name or "__shape__" in row.fields or "__error__" in row.fields:
        return False
    try:
        _parse_episode(0, year, row.fields)
    except RowRejected:
        return False
    return True


def convert_part(
    rows: list[SourceRow | None],
    row_years: list[int],
    ctx_year: int,
    episode_years: Iterable[int] | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Keyed], list[RowOutcome]]:
    """Convert ``rows`` (of ``row_years``, in the order read): the events with their sort keys, sorted, and
    every row's outcome in the order of ``rows``.

    The rows may be part of the returns only, as long as each child's rows are all in the same part (a
    row's outcome depends on its own child's rows alone); then ``ctx_year`` is the latest year of all the
    returns and ``episode_years`` the years in which some episode is kept (:func:`has_episode`), both of
    the whole (None: worked out from ``rows``). Each row is let go (set to None) once converted."""
    outcomes: list[RowOutcome | None] = [None] * len(rows)

    def where(index: int) -> str:  # made when reported, not held for every row
        held = rows[index] or outcomes[index]
        assert held is not None  # a row is let go only once its outcome is set
        return f"{held.file} {held.locator}"

    def outcome(
        index: int,
        status: Status,
        fld: str | None = None,
        reason: str | None = None,
        ids: tuple[str, ...] = (),
        problems: tuple[tuple[str, str], ...] = (),
    ) -> None:
        row = rows[index]
        assert row is not None  # every outcome is set before its row is let go
        outcomes[index] = RowOutcome(row.file, row.table, row.row, row.locator, status, fld, reason, ids, problems)

    ctx = Context(ctx_year)
    header_problems: dict[int, tuple[tuple[str, str], ...]] = {}
    episodes: list[Episode] = []
    # First pass: child details (the latest return's), and every episode checked field by field.
    for index, (year, held) in enumerate(zip(row_years, rows, strict=True)):
        assert held is not None  # none is let go before the third pass
        row = held
        try:
            if "__shape__" in row.fields:
                raise RowRejected(None, f"malformed row: {row.fields['__shape__']}")
            if "__error__" in row.fields:
                raise RowRejected(row.fields.get("__field__") or None, row.fields["__error__"])
            if row.table == tables.HEADER.name:
                child, details, sex_problem = _header(row.fields, year)
                seen = ctx.header_year.get(child)
                if seen is not None and seen[0] == year:
                    raise RowRejected("CHILD", "a second header row for this child")
                if seen is None or seen[0] < year:
                    if seen is not None:
                        outcome(
                            seen[1],
                            "skipped",
                            reason=f"child details superseded by the {year} return ({where(index)})",
                        )
                    ctx.children[child] = details
                    ctx.header_year[child] = (year, index)
                    if sex_problem:
                        header_problems[index] = (("101", sex_problem),)
                    outcome(
                        index,
                        "skipped",
                        reason="child details: DOB and SEX are used by care.started",
                        problems=header_problems.get(index, ()),
                    )
                else:
                    outcome(index, "skipped", reason=f"child details superseded by the {seen[0]} return")
            elif row.table == tables.UASC.name:
                child, until = _uasc(row.fields)
                if ctx.uasc_year.get(child, 0) <= year:
                    ctx.uasc_until[child] = until
                    ctx.uasc_year[child] = year
                outcome(index, "skipped", reason="sets uasc and uasc_ceased_on of care.started")
            elif row.table == tables.EPISODES.name:
                episodes.append(_parse_episode(index, year, row.fields))
        except RowRejected as rejection:
            outcome(index, "rejected", rejection.field, rejection.reason)

    # Episodes: one row per (child, DECOM), the latest return's; earlier ones reported as changed.
    kept: dict[tuple[str, date], Episode] = {}
    for ep in sorted(episodes, key=lambda e: (-e.year, e.index)):
        key = (ep.child, ep.decom)
        first = kept.get(key)
        if first is None:
            kept[key] = ep
        elif first.year == ep.year:
            if first.carried() == ep.carried():
                outcome(ep.index, "skipped", reason=f"duplicate: the same episode is at {where(first.index)}")
            else:
                outcome(
                    ep.index,
                    "rejected",
                    None,
                    f"contradicts {where(first.index)}: same child and DECOM, different values",
                )
        elif first.carried() == ep.carried():
            outcome(ep.index, "skipped", reason=f"repeated in the {first.year} return ({where(first.index)})")
        else:
            outcome(
                ep.index,
                "skipped",
                reason=f"changed by the {first.year} return ({where(first.index)}): {_describe_change(ep, first)}",
            )
    with_episodes = sorted({ep.year for ep in episodes} if episode_years is None else set(episode_years))
    by_child: dict[str, list[Episode]] = {}
    for ep in kept.values():
        later = [y for y in with_episodes if y > ep.year and ep.in_return(y)]
        if later:
            outcome(
                ep.index,
                "skipped",
                reason=f"not in the {later[-1]} return, which covers its dates: taken as removed by it",
            )
            continue
        by_child.setdefault(ep.child, []).append(ep)

    pool: dict[str, str] = {}
    """One copy of each repeated value of the events (child ids, dates, codes) however many events hold it."""
    keyed: list[Keyed] = []
    """Each event once, with its sort key in front (the event id ends the key: the event is never compared)."""
    first_seen: dict[str, Keyed] = {}
    """event id → its entry in ``keyed``, which also names the row it came from first."""

    def check(drafts: list[Draft], index: int, year: int) -> list[tuple[Draft, dict[str, Any]]]:
        validated: list[tuple[Draft, dict[str, Any]]] = []
        for draft in drafts:
            try:
                event = parse_event(draft.data, received_at=None)
            except ValidationError as exc:
                raise _validation_failure(exc, draft.fields) from None
            validated.append((draft, _pooled(event_to_json(event), pool)))
        fresh: list[tuple[Draft, dict[str, Any]]] = []
        for draft, data in validated:
            seen = first_seen.get(data["event_id"])
            if seen is None:
                fresh.append((draft, data))
            elif seen[KEYED_EVENT] != data:
                if seen[KEYED_YEAR] > year:
                    raise RowSkipped(f"changed by the {seen[KEYED_YEAR]} return ({where(seen[KEYED_ROW])})")
                raise RowRejected(None, f"contradicts {where(seen[KEYED_ROW])}: same child and date, different values")
        if validated and not fresh:
            origin = first_seen[validated[0][1]["event_id"]][KEYED_ROW]
            raise RowSkipped(f"duplicate: the same events came from {where(origin)}")
        for position, (draft, data) in enumerate(fresh):
            entry = (data["occurred_at"], data["child_id"], draft.anchor, position, data["event_id"], data, index, year)
            first_seen[data["event_id"]] = entry
            keyed.append(entry)
        return fresh

    # Second pass: each child's episodes as one chain.
    for child in sorted(by_child):
        results = _chain(by_child[child], ctx, lambda drafts, ep: [d for _, d in check(drafts, ep.index, ep.year)])
        for index, (status, fld, why, data, problems) in results.items():
            outcome(index, status, fld, why, tuple(d["event_id"] for d in data), tuple(problems))

    def convert_other(index: int) -> None:
        year, row = row_years[index], rows[index]
        assert row is not None
        if row.table == tables.UNRECOGNISED:
            outcome(index, "rejected", None, "the file or element matches no SSDA903 table")
            return
        if row.table in NOT_IMPORTED:
            outcome(index, "skipped", reason=NOT_IMPORTED[row.table])
            return
        converter = CONVERTERS.get(row.table)
        if converter is None:  # pragma: no cover - every table has a converter or a skip reason
            outcome(index, "rejected", None, f"no converter for table {row.table}")
            return
        try:
            fresh = check(converter(row.fields, Context(year, ctx.children, ctx.uasc_until)), index, year)
        except RowRejected as rejection:
            outcome(index, "rejected", rejection.field, rejection.reason)
            return
        except RowSkipped as skip:
            outcome(index, "skipped", reason=skip.reason)
            return
        outcome(index, "converted", ids=tuple(data["event_id"] for _, data in fresh))

    # Third pass: the other tables, latest return first (so a later return's value wins).
    order = sorted(range(len(rows)), key=lambda i: (-row_years[i], i))
    for done, index in enumerate(order, start=1):
        if progress is not None and (done % 1000 == 0 or done == len(rows)):
            progress(done % 1000 or 1000)
        if outcomes[index] is None:
            convert_other(index)
        rows[index] = None  # the row is done with: its memory goes to the events that follow
    first_seen.clear()
    keyed.sort()  # the event ids are distinct: comparison stops at them, never reaching the events
    done_outcomes = [o for o in outcomes if o is not None]
    assert len(done_outcomes) == len(rows)  # every row has its outcome
    return keyed, done_outcomes
