"""SSDA903 rows → carewatch events, with an outcome for every row (converted, rejected or skipped).

Pure: no broker, no clock. Every event is validated with :func:`schemas.events.parse_event`; a row whose
events fail is rejected as a whole (nothing half-converted). ``docs/ssda903.md`` is the mapping reference.

Event ids are derived from what the event states (child, date, code), not from the file or year: an
episode open across two returns yields the same ``care.started`` id in both, so importing overlapping
returns (or the same one twice) gives events the rules engine dedupes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from pydantic import ValidationError

from schemas import codes
from schemas.events import PSEUDONYM_PATTERN, event_to_json, parse_event
from services.ingest.ssda903 import tables
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


@dataclass(frozen=True)
class RowOutcome:
    file: str
    table: str
    row: int
    locator: str
    status: Status
    field: str | None = None
    reason: str | None = None
    event_ids: tuple[str, ...] = ()


@dataclass
class Tally:
    file: str
    table: str
    read: int = 0
    converted: int = 0
    rejected: int = 0
    skipped: int = 0
    events: int = 0

    @property
    def reconciles(self) -> bool:
        return self.read == self.converted + self.rejected + self.skipped


@dataclass
class ImportResult:
    events: list[dict[str, Any]]
    """Validated, JSON-ready, sorted by date then child then episode order."""
    outcomes: list[RowOutcome]

    def tallies(self) -> list[Tally]:
        by_key: dict[tuple[str, str], Tally] = {}
        for outcome in self.outcomes:
            tally = by_key.setdefault((outcome.file, outcome.table), Tally(outcome.file, outcome.table))
            tally.read += 1
            setattr(tally, outcome.status, getattr(tally, outcome.status) + 1)
            tally.events += len(outcome.event_ids)
        return [by_key[key] for key in sorted(by_key)]


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


def code(
    fields: Mapping[str, str], field_name: str, code_list: Mapping[str, str], *, required: bool
) -> str | None:
    value = fields.get(field_name, "").strip()
    if not value:
        if required:
            raise RowRejected(field_name, f"{field_name} is blank")
        return None
    if value not in code_list:
        raise RowRejected(field_name, f"unknown {field_name} code {value!r}")
    return value


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


@dataclass(frozen=True)
class Draft:
    """One event before validation, with the 903 field each event field came from (for error reports)."""

    data: dict[str, Any]
    fields: Mapping[str, str]
    anchor: date
    """Sort key within a child's day: the DECOM of the episode it came from (else its own date)."""


@dataclass
class Context:
    year: int
    children: dict[str, Child] = field(default_factory=dict)
    uasc_until: dict[str, date | None] = field(default_factory=dict)
    place_change_reasons: dict[tuple[str, date], str] = field(default_factory=dict)


def _envelope(kind: str, child: str, occurred: date, ident: str, **extra: Any) -> dict[str, Any]:
    return (
        {"event_id": ident, "type": kind, "child_id": child, "occurred_at": occurred.isoformat()}
        | {"source": SOURCE}
        | extra
    )


# ---- reference tables (first pass): header, UASC, placement-change reasons --------------------------------


def _header(fields: Mapping[str, str]) -> tuple[str, Child]:
    child = child_id(fields)
    raw_sex = fields.get("SEX", "").strip()
    sex = codes.LEGACY_SEX.get(raw_sex, raw_sex)
    if sex not in codes.SEX:
        raise RowRejected("SEX", f"unknown SEX code {raw_sex!r} (M/F/U, or legacy 1/2)")
    return child, Child(required_date(fields, "DOB"), sex)


def _uasc(fields: Mapping[str, str]) -> tuple[str, date | None]:
    return child_id(fields), parse_date(fields.get("DUC", ""), "DUC", required=False)


# ---- event tables (second pass) --------------------------------------------------------------------------

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


def _episode(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    started = required_date(fields, "DECOM")
    rne = code(fields, "RNE", codes.REASON_NEW_EPISODE, required=True)
    code(fields, "REASON_PLACE_CHANGE", codes.REASON_PLACE_CHANGE, required=False)
    ended = parse_date(fields.get("DEC", ""), "DEC", required=False)
    rec = code(fields, "REC", codes.REASON_EPISODE_CEASED, required=False)
    if ended is not None and rec is None:
        raise RowRejected("REC", "the episode has DEC but no REC")
    if rec is not None and rec != "X1" and ended is None:
        # X1 (continues in a new episode) on an open episode says nothing: tolerated; an ending without a
        # date cannot be expressed, and converting the start alone would lose it
        raise RowRejected("DEC", f"REC {rec} (care ended) given but DEC is blank")
    if ended is not None and ended < started:
        raise RowRejected("DEC", "DEC is before DECOM")
    legal_status = fields.get("LS", "")
    placement = {"placement_type": fields.get("PLACE", "")}
    if provider := fields.get("PLACE_PROVIDER", ""):
        placement["provider"] = provider
    drafts: list[Draft] = []

    def add(data: dict[str, Any], date_field: str = "DECOM") -> None:
        drafts.append(Draft(data, EPISODE_FIELDS | {"occurred_at": date_field}, started))

    if rne == "S":
        known = ctx.children.get(child)
        if known is None:
            raise RowRejected("CHILD", "no valid header row for this child (care.started needs DOB and SEX)")
        until = ctx.uasc_until.get(child, date.min)
        uasc = child in ctx.uasc_until and (until is None or started < until)
        ident = event_id("cs", child, started)
        add(
            _envelope(
                "care.started",
                child,
                started,
                ident,
                date_of_birth=known.date_of_birth.isoformat(),
                sex=known.sex,
                legal_status=legal_status,
                uasc=uasc,
            )
        )
        add(
            _envelope(
                "placement.started",
                child,
                started,
                event_id("ps", child, started, placement["placement_type"]),
                **placement,
            )
        )
    if rne in codes.LEGAL_CHANGE_RNE:
        add(
            _envelope(
                "legal_status.changed",
                child,
                started,
                event_id("ls", child, started, legal_status),
                legal_status=legal_status,
            )
        )
    if rne in codes.PLACEMENT_CHANGE_RNE:
        # REASON_PLACE_CHANGE is recorded on the episode whose placement ended, i.e. the previous one
        if reason := ctx.place_change_reasons.get((child, started)):
            placement["reason_for_change"] = reason
        add(
            _envelope(
                "placement.started",
                child,
                started,
                event_id("ps", child, started, placement["placement_type"]),
                **placement,
            )
        )
    if rec is not None and rec != "X1" and ended is not None:
        add(_envelope("care.ended", child, ended, event_id("ce", child, ended), reason=rec), "DEC")
    return drafts


def _review(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    held = required_date(fields, "REVIEW")
    code(fields, "REVIEW_CODE", codes.REVIEW_PARTICIPATION, required=False)
    data = _envelope("review.held", child, held, event_id("rv", child, held))
    return [Draft(data, {"occurred_at": "REVIEW"}, held)]


def _missing(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    code(fields, "MISSING", codes.MISSING_TYPE, required=True)
    started = required_date(fields, "MIS_START")
    ended = parse_date(fields.get("MIS_END", ""), "MIS_END", required=False)
    if ended is not None and ended < started:
        raise RowRejected("MIS_END", "MIS_END is before MIS_START")
    episode = event_id("mis", child, started)
    drafts = [
        Draft(
            _envelope("missing.started", child, started, event_id("ms", child, started), episode_id=episode),
            {"occurred_at": "MIS_START"},
            started,
        )
    ]
    if ended is not None:
        data = _envelope("missing.ended", child, ended, event_id("me", child, started), episode_id=episode)
        drafts.append(Draft(data, {"occurred_at": "MIS_END"}, started))
    return drafts


def _oc2(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    raw = fields.get("SDQ_SCORE", "").strip()
    if not raw:
        raise RowSkipped("no SDQ score; the other OC2 items (health assessment, dental check…) carry no date")
    if not re.fullmatch(r"-?\d+(\.0+)?", raw):  # "12.0": spreadsheet exports turn integers into floats
        raise RowRejected("SDQ_SCORE", f"SDQ_SCORE is not a whole number: {raw!r}")
    score = int(float(raw))
    as_at = date(ctx.year, 3, 31)
    data = _envelope("sdq.recorded", child, as_at, event_id("sdq", child, as_at), score=score)
    return [Draft(data, {"score": "SDQ_SCORE"}, as_at)]


def _oc3(fields: Mapping[str, str], ctx: Context) -> list[Draft]:
    child = child_id(fields)
    in_touch = code(fields, "IN_TOUCH", codes.IN_TOUCH, required=True)
    born = required_date(fields, "DOB")
    contact = birthday_in_year(born, ctx.year)
    age = contact.year - born.year
    if age not in CARE_LEAVER_AGES:
        raise RowRejected("DOB", f"the birthday in the year is the {age}th: OC3 covers the 17th to the 25th")
    extra: dict[str, Any] = {"in_touch": in_touch == "YES"}
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
    data = _envelope(
        "social_worker.changed", child, started, event_id("sw", child, started, worker), worker_id=worker
    )
    return [Draft(data, {"occurred_at": "SW_DECOM", "worker_id": "SW_ID"}, started)]


CONVERTERS: Final[dict[str, Callable[[Mapping[str, str], Context], list[Draft]]]] = {
    tables.EPISODES.name: _episode,
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
        located.append(
            (fields.get(event_field, None if event_field == "__model__" else event_field), error["msg"])
        )
    field_name = located[0][0] if located else None
    return RowRejected(
        field_name, "; ".join(f"{where}: {message}" if where else message for where, message in located)
    )


def convert(
    rows: Iterable[SourceRow], year: int, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Convert every row; ``year`` is the collection year ending 31 March ``year`` (2018 = 2017/18)."""
    rows = list(rows)
    ctx = Context(year)
    outcomes: dict[int, RowOutcome] = {}

    def outcome(index: int, row: SourceRow, status: Status, fld: str | None = None, reason: str | None = None,
                ids: tuple[str, ...] = ()) -> None:  # fmt: skip
        outcomes[index] = RowOutcome(row.file, row.table, row.row, row.locator, status, fld, reason, ids)

    # First pass: child details and placement-change reasons that other rows refer to.
    for index, row in enumerate(rows):
        try:
            if "__shape__" in row.fields:
                raise RowRejected(None, f"malformed row: {row.fields['__shape__']}")
            if row.table == tables.HEADER.name:
                child, details = _header(row.fields)
                if child in ctx.children:
                    raise RowRejected("CHILD", "a second header row for this child")
                ctx.children[child] = details
                outcome(index, row, "skipped", reason="child details: DOB and SEX are used by care.started")
            elif row.table == tables.UASC.name:
                child, until = _uasc(row.fields)
                ctx.uasc_until[child] = until
                outcome(index, row, "skipped", reason="sets the uasc flag of care.started")
            elif row.table == tables.EPISODES.name:
                fields = row.fields
                reason = fields.get("REASON_PLACE_CHANGE", "").strip()
                if reason in codes.REASON_PLACE_CHANGE and _CHILD_ID.match(fields.get("CHILD", "")):
                    ended = parse_date(fields.get("DEC", ""), "DEC", required=False)
                    if ended is not None:
                        ctx.place_change_reasons[(fields["CHILD"].strip(), ended)] = reason
        except RowRejected as rejection:
            outcome(index, row, "rejected", rejection.field, rejection.reason)

    # Second pass: events. Output is sorted afterwards, so file order does not matter.
    first_seen: dict[str, tuple[dict[str, Any], str]] = {}
    keyed: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for done, (index, row) in enumerate(enumerate(rows), start=1):
        if progress is not None and (done % 1000 == 0 or done == len(rows)):
            progress(done % 1000 or 1000)
        if index in outcomes:
            continue
        if row.table == tables.UNRECOGNISED:
            outcome(index, row, "rejected", None, "not part of any SSDA903 table (see the file note)")
            continue
        if row.table in NOT_IMPORTED:
            outcome(index, row, "skipped", reason=NOT_IMPORTED[row.table])
            continue
        try:
            drafts = CONVERTERS[row.table](row.fields, ctx)
            validated: list[tuple[Draft, dict[str, Any]]] = []
            for draft in drafts:
                try:
                    event = parse_event(draft.data, received_at=None)
                except ValidationError as exc:
                    raise _validation_failure(exc, draft.fields) from None
                validated.append((draft, event_to_json(event)))
            fresh: list[tuple[Draft, dict[str, Any]]] = []
            for draft, data in validated:
                seen = first_seen.get(data["event_id"])
                if seen is None:
                    fresh.append((draft, data))
                elif seen[0] != data:
                    raise RowRejected(None, f"contradicts {seen[1]}: same child and date, different values")
            if not fresh:
                raise RowSkipped(
                    f"duplicate: the same events came from {first_seen[validated[0][1]['event_id']][1]}"
                )
        except RowRejected as rejection:
            outcome(index, row, "rejected", rejection.field, rejection.reason)
            continue
        except RowSkipped as skip:
            outcome(index, row, "skipped", reason=skip.reason)
            continue
        where = f"{row.file} {row.locator}"
        for position, (draft, data) in enumerate(fresh):
            first_seen[data["event_id"]] = (data, where)
            keyed.append(
                ((data["occurred_at"], data["child_id"], draft.anchor, position, data["event_id"]), data)
            )
        outcome(index, row, "converted", ids=tuple(data["event_id"] for _, data in fresh))
    keyed.sort(key=lambda item: item[0])
    return ImportResult([data for _, data in keyed], [outcomes[index] for index in range(len(rows))])
