"""Children in Need census items → carewatch events (CIN/CP, CONTRACT §5); the mapping is in
``docs/cin-census.md``.

Every item ends converted (with the ids of its events), rejected (with the XML element at fault and the
reason) or skipped (with the reason), so that read = converted + rejected + skipped for every table.
Event ids are deterministic (a digest of the child, the kind and the item's dates), so importing the same
return twice sends the same events, which ingest and the rules then ignore as repeats.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from typing import Any, Final

from pydantic import ValidationError

from schemas import cin_codes
from schemas.events import event_to_json, parse_event
from services.ingest.cin.source import UNRECOGNISED, Census, Item
from services.ingest.ssda903.convert import ImportResult, RowOutcome

SOURCE: Final = "cin-census"
_LA_CHILD_ID = re.compile(r"^[A-Za-z0-9]{1,20}$")
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})

# event field → census element, for the error reports
FIELD_ELEMENTS: Final = {
    "child_id": "LAchildID",
    "referral_source": "ReferralSource",
    "primary_need": "PrimaryNeedCode",
    "date_of_birth": "PersonBirthDate",
    "sex": "Sex",
    "factors": "AssessmentFactors",
    "category": "InitialCategoryOfAbuse",
    "previous_plans": "NumberOfPreviousCPP",
    "reason": "ReasonForClosure",
}


class ItemRejected(Exception):
    def __init__(self, element: str | None, reason: str) -> None:
        super().__init__(reason)
        self.element = element
        self.reason = reason


def parse_date(fields: Mapping[str, str], name: str, *, required: bool = True) -> date | None:
    """xs:date (YYYY-MM-DD) as the census XSD has it; dd/mm/YYYY is accepted too."""
    value = fields.get(name, "").strip()
    if not value:
        if required:
            raise ItemRejected(name, f"{name} is missing")
        return None
    try:
        if re.match(r"^\d{2}/\d{2}/\d{4}$", value):
            day, month, year = value.split("/")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(value)
    except ValueError:
        raise ItemRejected(name, f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def parse_bool(fields: Mapping[str, str], name: str) -> bool | None:
    value = fields.get(name, "").strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ItemRejected(name, f"{name} {fields[name]!r} is not true/false/1/0")


def event_id(kind: str, *identity: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in identity).encode()).hexdigest()[:20]
    return f"cin-{kind}-{digest}"


@dataclass(frozen=True)
class ChildDetails:
    child_id: str
    date_of_birth: date | None
    sex: str | None


@dataclass
class Episode:
    referral_id: str
    referral: date
    closure_reason: str | None
    cpp_starts: frozenset[date] = frozenset()


@dataclass
class Context:
    year: int
    children: dict[int, ChildDetails | ItemRejected] = field(default_factory=dict)
    episodes: dict[tuple[int, int], Episode | ItemRejected] = field(default_factory=dict)
    plans: dict[tuple[int, int, int], str] = field(default_factory=dict)

    @property
    def census_end(self) -> date:
        return date(self.year, 3, 31)


def _event(kind: str, child: ChildDetails, on: date, ident: str, **body: Any) -> dict[str, Any]:
    data = {"event_id": ident, "type": kind, "child_id": child.child_id, "occurred_at": on.isoformat()}
    data["source"] = SOURCE
    data.update({key: value for key, value in body.items() if value is not None})
    return data


def _child_details(item: Item) -> ChildDetails:
    fields = item.fields
    raw = fields.get("LAchildID", "").strip()
    if not raw:
        raise ItemRejected("LAchildID", "LAchildID is missing")
    if not _LA_CHILD_ID.match(raw):
        raise ItemRejected("LAchildID", "LAchildID must be 1–20 letters or digits (rules 1570, 1580)")
    born = parse_date(fields, "PersonBirthDate", required=False) or parse_date(
        fields, "ExpectedPersonBirthDate", required=False
    )
    sex = fields.get("Sex", "").strip()
    if not sex and fields.get("GenderCurrent", "").strip():
        legacy = fields["GenderCurrent"].strip()
        if legacy not in cin_codes.LEGACY_GENDER:
            raise ItemRejected("GenderCurrent", f"unknown GenderCurrent code {legacy!r}")
        sex = cin_codes.LEGACY_GENDER[legacy]
    if sex and sex not in cin_codes.CIN_SEX:
        raise ItemRejected("Sex", f"Sex must be M, F or U, not {sex!r} (rule 4180)")
    return ChildDetails(raw, born, sex or None)


def _child_of(item: Item, ctx: Context) -> ChildDetails:
    found = ctx.children.get(item.child)
    if found is None:
        raise ItemRejected("ChildIdentifiers", "the child has no ChildIdentifiers")
    if isinstance(found, ItemRejected):
        raise ItemRejected(found.element, f"the child's identifiers were rejected: {found.reason}")
    return found


def _episode_of(item: Item, ctx: Context) -> Episode:
    assert item.episode is not None
    found = ctx.episodes.get((item.child, item.episode))
    if found is None or isinstance(found, ItemRejected):
        reason = found.reason if found is not None else "missing"
        raise ItemRejected("CINdetails", f"its CINdetails (the referral) was rejected: {reason}")
    return found


def _in_collection(on: date, name: str, ctx: Context) -> date:
    if on > ctx.census_end:
        raise ItemRejected(name, f"{name} {on.isoformat()} is after the census reference date {ctx.census_end}")
    return on


# ---- converters -----------------------------------------------------------------------------------------


def _cin_details(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    fields = item.fields
    referred = _in_collection(parse_date(fields, "CINreferralDate"), "CINreferralDate", ctx)  # type: ignore[arg-type]
    episode = ctx.episodes[(item.child, item.episode or 0)]
    assert isinstance(episode, Episode)
    events = [
        _event(
            "referral.received",
            child,
            referred,
            event_id("referral", child.child_id, referred),
            referral_id=episode.referral_id,
            referral_source=fields.get("ReferralSource", "").strip(),
            primary_need=fields.get("PrimaryNeedCode", "").strip() or None,
            date_of_birth=child.date_of_birth.isoformat() if child.date_of_birth else None,
            sex=child.sex,
        )
    ]
    if parse_bool(fields, "ReferralNFA"):
        events.append(
            _event(
                "referral.outcome",
                child,
                referred,
                event_id("nfa", child.child_id, referred),
                referral_id=episode.referral_id,
                outcome="no_further_action",
            )
        )
    closed = parse_date(fields, "CINclosureDate", required=False)
    if closed is not None:
        _in_collection(closed, "CINclosureDate", ctx)
        if closed < referred:
            raise ItemRejected("CINclosureDate", "CINclosureDate is before CINreferralDate")
        reason = fields.get("ReasonForClosure", "").strip()
        if not reason:
            raise ItemRejected("ReasonForClosure", "a closed episode needs its ReasonForClosure")
        events.append(
            _event("case.closed", child, closed, event_id("closed", child.child_id, referred, closed), reason=reason)
        )
    return events


def _assessment(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    episode = _episode_of(item, ctx)
    fields = item.fields
    started = _in_collection(
        parse_date(fields, "AssessmentActualStartDate"),  # type: ignore[arg-type]
        "AssessmentActualStartDate",
        ctx,
    )
    assessment_id = event_id("a", child.child_id, episode.referral, started)[4:]
    events = [
        _event(
            "assessment.started",
            child,
            started,
            event_id("assessment-start", child.child_id, started),
            assessment_id=assessment_id,
            referral_id=episode.referral_id,
        )
    ]
    authorised = parse_date(fields, "AssessmentAuthorisationDate", required=False)
    factors = item.lists.get("AssessmentFactors", ())
    if authorised is None:
        if any(factors):
            raise ItemRejected("AssessmentFactors", "factors are recorded only on completed assessments (rule 8614)")
        return events
    _in_collection(authorised, "AssessmentAuthorisationDate", ctx)
    if authorised < started:
        raise ItemRejected("AssessmentAuthorisationDate", "authorised before it started (rule 8608)")
    for code in factors:
        if code in cin_codes.RETIRED_FACTORS:
            raise ItemRejected("AssessmentFactors", f"factor {code} is retired: {cin_codes.RETIRED_FACTORS[code]}")
    events.append(
        _event(
            "assessment.completed",
            child,
            authorised,
            event_id("assessment-end", child.child_id, started, authorised),
            assessment_id=assessment_id,
            referral_id=episode.referral_id,
            child_in_need=episode.closure_reason not in cin_codes.CLOSED_AFTER_ASSESSMENT,
            factors=[code for code in factors if code] or None,
        )
    )
    return events


def _cin_plan(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    _episode_of(item, ctx)
    started = _in_collection(parse_date(item.fields, "CINPlanStartDate"), "CINPlanStartDate", ctx)  # type: ignore[arg-type]
    plan_id = event_id("p", child.child_id, "cin", started)[4:]
    events = [
        _event("cin_plan.started", child, started, event_id("cin-plan", child.child_id, started), plan_id=plan_id)
    ]
    ended = parse_date(item.fields, "CINPlanEndDate", required=False)
    if ended is not None:
        _in_collection(ended, "CINPlanEndDate", ctx)
        if ended < started:
            raise ItemRejected("CINPlanEndDate", "CINPlanEndDate is before CINPlanStartDate (rule 4011)")
        events.append(
            _event("cin_plan.ended", child, ended, event_id("cin-plan-end", child.child_id, started), plan_id=plan_id)
        )
    return events


def _section47(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    episode = _episode_of(item, ctx)
    fields = item.fields
    started = _in_collection(parse_date(fields, "S47ActualStartDate"), "S47ActualStartDate", ctx)  # type: ignore[arg-type]
    enquiry_id = event_id("s", child.child_id, started)[4:]
    events = [_event("s47.started", child, started, event_id("s47", child.child_id, started), enquiry_id=enquiry_id)]
    icpc = parse_date(fields, "DateOfInitialCPC", required=False)
    not_required = parse_bool(fields, "ICPCnotRequired")
    if icpc is not None:
        _in_collection(icpc, "DateOfInitialCPC", ctx)
        if icpc < started:
            raise ItemRejected("DateOfInitialCPC", "the ICPC is before the S47 start (rule 8615)")
        events.append(
            _event(
                "icpc.held",
                child,
                icpc,
                event_id("icpc", child.child_id, started, icpc),
                enquiry_id=enquiry_id,
                plan_decided=icpc in episode.cpp_starts,
            )
        )
    elif not_required:
        events.append(
            _event(
                "s47.completed",
                child,
                started,
                event_id("s47-end", child.child_id, started),
                enquiry_id=enquiry_id,
                outcome="other",
            )
        )
    return events


def _cp_plan(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    _episode_of(item, ctx)
    fields = item.fields
    started = _in_collection(parse_date(fields, "CPPstartDate"), "CPPstartDate", ctx)  # type: ignore[arg-type]
    plan_id = ctx.plans[(item.child, item.episode or 0, item.plan or 0)]
    previous_raw = fields.get("NumberOfPreviousCPP", "").strip()
    previous: int | None = None
    if previous_raw:
        if not previous_raw.isdigit():
            raise ItemRejected("NumberOfPreviousCPP", f"NumberOfPreviousCPP {previous_raw!r} is not a whole number")
        previous = int(previous_raw)
    events = [
        _event(
            "cp_plan.started",
            child,
            started,
            event_id("cpp", child.child_id, started),
            plan_id=plan_id,
            category=fields.get("InitialCategoryOfAbuse", "").strip(),
            previous_plans=previous,
        )
    ]
    ended = parse_date(fields, "CPPendDate", required=False)
    if ended is not None:
        _in_collection(ended, "CPPendDate", ctx)
        if ended <= started:
            raise ItemRejected("CPPendDate", "CPPendDate is not after CPPstartDate (rules 8840, 8925)")
        events.append(
            _event("cp_plan.ended", child, ended, event_id("cpp-end", child.child_id, started), plan_id=plan_id)
        )
    return events


def _review(item: Item, ctx: Context) -> list[dict[str, Any]]:
    child = _child_of(item, ctx)
    _episode_of(item, ctx)
    plan_id = ctx.plans.get((item.child, item.episode or 0, item.plan or 0))
    if plan_id is None:
        raise ItemRejected("ChildProtectionPlans", "its plan was rejected")
    if "CPPreviewDate" not in item.fields:
        raise ItemRejected(next(iter(item.fields), None), "Reviews holds only CPPreviewDate elements")
    reviewed = _in_collection(parse_date(item.fields, "CPPreviewDate"), "CPPreviewDate", ctx)  # type: ignore[arg-type]
    return [
        _event(
            "cp_review.held", child, reviewed, event_id("review", child.child_id, plan_id, reviewed), plan_id=plan_id
        )
    ]


CONVERTERS: Final[Mapping[str, Callable[[Item, Context], list[dict[str, Any]]]]] = {
    "CINdetails": _cin_details,
    "Assessments": _assessment,
    "CINPlanDates": _cin_plan,
    "Section47": _section47,
    "ChildProtectionPlans": _cp_plan,
    "Reviews": _review,
}
NOT_IMPORTED: Final = {
    "ChildCharacteristics": "ethnicity and disability are not carried by carewatch events",
}
_RANK: Final = {"referral.received": 0, "referral.outcome": 1, "case.closed": 9}


def _validation_failure(exc: ValidationError) -> ItemRejected:
    located = []
    for error in exc.errors(include_url=False):
        names = [str(part) for part in error["loc"][1:]]
        event_field = names[0] if names else None
        located.append((FIELD_ELEMENTS.get(event_field or "", event_field), error["msg"]))
    element = located[0][0] if located else None
    return ItemRejected(element, "; ".join(f"{where}: {msg}" if where else msg for where, msg in located))


Keyed = tuple[tuple[str, str, int, str], dict[str, Any]]
"""An event with its place in the output: (date, child, rank of its kind, event id)."""
Taken = Callable[[str, int], bool]
"""Whether an earlier child has this LAchildID (rule 8510): told, in child order, of every child whose
identifiers are valid, with its ordinal."""


def _first_pass(items: Sequence[Item], ctx: Context, rejected: dict[int, ItemRejected], taken: Taken) -> None:
    """Child identifiers, episodes (referral ids, closure reasons, plan start dates) and plan ids of one child."""
    for index, item in enumerate(items):
        if item.table == "ChildIdentifiers":
            try:
                if item.child in ctx.children:
                    raise ItemRejected("ChildIdentifiers", "a second ChildIdentifiers for this child")
                ctx.children[item.child] = _child_details(item)
            except ItemRejected as rejection:
                ctx.children.setdefault(item.child, rejection)
                rejected[index] = rejection
    for number, found in ctx.children.items():
        if isinstance(found, ChildDetails) and taken(found.child_id, number):
            ctx.children[number] = ItemRejected("LAchildID", "LAchildID is used by another child (rule 8510)")
    for item in items:
        if item.table != "CINdetails" or item.episode is None:
            continue
        details = ctx.children.get(item.child)
        try:
            referred = parse_date(item.fields, "CINreferralDate")
            assert referred is not None
            child_id = details.child_id if isinstance(details, ChildDetails) else str(item.child)
            ctx.episodes[(item.child, item.episode)] = Episode(
                referral_id=event_id("r", child_id, referred)[4:],
                referral=referred,
                closure_reason=item.fields.get("ReasonForClosure", "").strip() or None,
            )
        except ItemRejected as rejection:
            ctx.episodes[(item.child, item.episode)] = rejection
    for item in items:
        if item.table != "ChildProtectionPlans" or item.episode is None:
            continue
        episode = ctx.episodes.get((item.child, item.episode))
        details = ctx.children.get(item.child)
        try:
            started = parse_date(item.fields, "CPPstartDate")
        except ItemRejected:
            continue
        assert started is not None
        child_id = details.child_id if isinstance(details, ChildDetails) else str(item.child)
        ctx.plans[(item.child, item.episode, item.plan or 0)] = event_id("p", child_id, "cpp", started)[4:]
        if isinstance(episode, Episode):
            episode.cpp_starts = episode.cpp_starts | {started}


def first_claims() -> Taken:
    """The in-memory :data:`Taken`: every LAchildID seen, with the first child that had it."""
    seen: dict[str, int] = {}
    return lambda child_id, number: seen.setdefault(child_id, number) != number


def convert_child(name: str, items: Sequence[Item], year: int, taken: Taken) -> tuple[list[Keyed], list[RowOutcome]]:
    """Convert the items of one ``Child`` (of the file ``name``): its events with their output keys, and the
    outcome of every item in order. Everything but :data:`taken` is of the child alone: event ids carry the
    child's LAchildID, which no two children converted share."""
    ctx = Context(year)
    rejected: dict[int, ItemRejected] = {}
    _first_pass(items, ctx, rejected, taken)
    outcomes: list[RowOutcome] = []
    keyed: list[Keyed] = []
    emitted: dict[str, dict[str, Any]] = {}

    def record(item: Item, status: str, element: str | None = None, reason: str | None = None,
               ids: tuple[str, ...] = ()) -> None:  # fmt: skip
        outcomes.append(RowOutcome(name, item.table, item.child, item.path, status, element, reason, ids))  # type: ignore[arg-type]

    for index, item in enumerate(items):
        if index in rejected:
            record(item, "rejected", rejected[index].element, rejected[index].reason)
            continue
        if item.table == "ChildIdentifiers":
            found = ctx.children.get(item.child)
            if isinstance(found, ItemRejected):
                record(item, "rejected", found.element, found.reason)
            else:
                record(item, "skipped", reason="child details: carried by referral.received (date_of_birth, sex)")
            continue
        if item.table == UNRECOGNISED:
            record(item, "rejected", item.fields.get("element"), "not an element of the CIN census")
            continue
        if item.table in NOT_IMPORTED:
            record(item, "skipped", reason=NOT_IMPORTED[item.table])
            continue
        try:
            drafts = CONVERTERS[item.table](item, ctx)
            validated = []
            for draft in drafts:
                try:
                    validated.append(event_to_json(parse_event(draft, received_at=None)))
                except ValidationError as exc:
                    raise _validation_failure(exc) from None
            fresh = []
            for data in validated:
                before = emitted.get(data["event_id"])
                if before is None:
                    fresh.append(data)
                elif before != data:
                    raise ItemRejected(None, "conflicts with an earlier item for the same child and date")
            if validated and not fresh:
                record(item, "skipped", reason="repeats an earlier item exactly")
                continue
        except ItemRejected as rejection:
            record(item, "rejected", rejection.element, rejection.reason)
            continue
        for data in fresh:
            emitted[data["event_id"]] = data
            keyed.append(((data["occurred_at"], data["child_id"], _RANK.get(data["type"], 5), data["event_id"]), data))
        record(item, "converted", ids=tuple(data["event_id"] for data in fresh))
    return keyed, outcomes


def by_child(items: Iterable[Item]) -> Iterator[list[Item]]:
    """The items of each child in turn (items are read child by child)."""
    for _, group in groupby(items, key=lambda item: item.child):
        yield list(group)


def convert(census: Census, year: int) -> ImportResult:
    """Convert every item of the census, held in memory; ``year`` is the collection year ending 31 March
    ``year``. :func:`services.ingest.cin.stream.convert_streamed` gives the same from a file of any size."""
    taken = first_claims()
    outcomes: list[RowOutcome] = []
    keyed: list[Keyed] = []
    for items in by_child(census.items):
        events, done = convert_child(census.name, items, year, taken)
        keyed.extend(events)
        outcomes.extend(done)
    keyed.sort(key=lambda pair: pair[0])
    return ImportResult(events=[data for _, data in keyed], outcomes=outcomes)


def header_note(header: Mapping[str, str], year: int) -> str | None:
    """A note when the header's collection details disagree with ``--year``."""
    reference = header.get("ReferenceDate", "")
    collection = header.get("Collection", "")
    notes = []
    if collection and collection != "CIN":
        notes.append(f"Collection is {collection!r}, not 'CIN'")
    if reference and reference[:10] != f"{year}-03-31":
        notes.append(f"ReferenceDate {reference} is not 31 March {year}")
    return "; ".join(notes) or None
