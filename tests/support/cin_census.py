"""A small generator of Children in Need census returns (the DfE XML, 2024/25 layout) for tests.

:func:`valid_return` builds children that exercise every block (referral with and without NFA,
assessments with factors, CIN plans, section 47 enquiries with and without a conference, child protection
plans with reviews, closures) with dates that satisfy the DfE validator's rules for the collection year.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from services.rules.core.calendar import add_working_days, is_working_day


@dataclass
class Cpp:
    start: date
    end: date | None
    category: str
    previous: int
    reviews: list[date] = field(default_factory=list)


@dataclass
class Episode:
    referral: date
    source: str
    need: str | None
    nfa: bool = False
    closure: date | None = None
    reason: str | None = None
    assessments: list[tuple[date, date | None, list[str]]] = field(default_factory=list)
    cin_plans: list[tuple[date, date | None]] = field(default_factory=list)
    s47: list[tuple[date, date | None, bool]] = field(default_factory=list)
    cpps: list[Cpp] = field(default_factory=list)


@dataclass
class ChildRecord:
    la_child_id: str
    born: date
    sex: str
    ethnicity: str = "WBRI"
    episodes: list[Episode] = field(default_factory=list)
    upn: str | None = None
    upn_unknown: str | None = None


CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn(la: str, year: int, serial: int) -> str:
    """A unique pupil number with its check letter: the 12 characters after it weighted 2..13, sum mod 23."""
    body = f"{la}{year % 100:02d}{serial:06d}0"
    total = sum(int(char) * weight for char, weight in zip(body, range(2, 14), strict=True))
    return CHECK_LETTERS[total % 23] + body


def _text(parent: Element, tag: str, value: object | None) -> None:
    if value is None:
        return
    node = SubElement(parent, tag)
    node.text = value.isoformat() if isinstance(value, date) else str(value)


def to_xml(children: list[ChildRecord], year: int) -> bytes:
    root = Element("Message")
    header = SubElement(root, "Header")
    details = SubElement(header, "CollectionDetails")
    _text(details, "Collection", "CIN")
    _text(details, "Year", year)
    _text(details, "ReferenceDate", date(year, 3, 31))
    source = SubElement(header, "Source")
    for tag, value in (("SourceLevel", "L"), ("LEA", "201"), ("SoftwareCode", "carewatch tests"),
                       ("Release", "1"), ("SerialNo", "1"), ("DateTime", f"{year}-04-20T10:00:00")):  # fmt: skip
        _text(source, tag, value)
    kids = SubElement(root, "Children")
    for record in children:
        child = SubElement(kids, "Child")
        ids = SubElement(child, "ChildIdentifiers")
        _text(ids, "LAchildID", record.la_child_id)
        _text(ids, "UPN", record.upn)
        _text(ids, "UPNunknown", record.upn_unknown)
        _text(ids, "PersonBirthDate", record.born)
        _text(ids, "Sex", record.sex)
        chars = SubElement(child, "ChildCharacteristics")
        _text(chars, "Ethnicity", record.ethnicity)
        disabilities = SubElement(chars, "Disabilities")
        _text(disabilities, "Disability", "NONE")
        for episode in record.episodes:
            cin = SubElement(child, "CINdetails")
            _text(cin, "CINreferralDate", episode.referral)
            _text(cin, "ReferralSource", episode.source)
            _text(cin, "PrimaryNeedCode", episode.need)
            _text(cin, "CINclosureDate", episode.closure)
            _text(cin, "ReasonForClosure", episode.reason)
            for start, end, factors in episode.assessments:
                block = SubElement(cin, "Assessments")
                _text(block, "AssessmentActualStartDate", start)
                _text(block, "AssessmentInternalReviewDate", end)
                _text(block, "AssessmentAuthorisationDate", end)
                listed = SubElement(block, "FactorsIdentifiedAtAssessment")
                for code in factors:
                    _text(listed, "AssessmentFactors", code)
            for start, end in episode.cin_plans:
                block = SubElement(cin, "CINPlanDates")
                _text(block, "CINPlanStartDate", start)
                _text(block, "CINPlanEndDate", end)
            for start, icpc, not_required in episode.s47:
                block = SubElement(cin, "Section47")
                _text(block, "S47ActualStartDate", start)
                _text(block, "InitialCPCtarget", add_working_days(start, 15))
                _text(block, "DateOfInitialCPC", icpc)
                _text(block, "ICPCnotRequired", "true" if not_required else "false")
            _text(cin, "ReferralNFA", "true" if episode.nfa else "false")
            for plan in episode.cpps:
                block = SubElement(cin, "ChildProtectionPlans")
                _text(block, "CPPstartDate", plan.start)
                _text(block, "CPPendDate", plan.end)
                _text(block, "InitialCategoryOfAbuse", plan.category)
                _text(block, "LatestCategoryOfAbuse", plan.category)
                _text(block, "NumberOfPreviousCPP", plan.previous)
                if plan.reviews:
                    reviews = SubElement(block, "Reviews")
                    for day in plan.reviews:
                        _text(reviews, "CPPreviewDate", day)
    indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="utf-8")


def _weekday(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def valid_return(year: int = 2025, children: int = 12, seed: int = 7) -> list[ChildRecord]:
    """Children whose records pass the DfE validator for the year ending 31 March ``year``."""
    rng = random.Random(seed)
    start = date(year - 1, 4, 1)
    out = []
    for number in range(1, children + 1):
        born = date(year - 1 - rng.randint(3, 14), rng.randint(1, 12), rng.randint(1, 28))
        record = ChildRecord(f"CW{year}{number:05d}", born, rng.choice("MF"))
        referral = _weekday(start + timedelta(days=rng.randint(0, 120)))
        kind = number % 4
        if kind == 0:
            record.upn_unknown = "UN7"  # no UPN needed: referral with no further action (rule 8772)
        else:
            record.upn = upn("201", born.year + 5, number)
        if kind == 0:  # referral, no further action: closed the same day
            record.episodes.append(Episode(referral, "6", None, nfa=True, closure=referral, reason="RC7"))
        elif kind == 1:  # assessed, CIN plan, still open
            done = add_working_days(referral, rng.randint(10, 40))
            plan = add_working_days(done, 1)
            record.episodes.append(
                Episode(referral, "2A", "N4", assessments=[(referral, done, ["3B", "4B"])], cin_plans=[(plan, None)])
            )
        elif kind == 2:  # assessed, no further action after assessment
            done = add_working_days(referral, rng.randint(10, 40))
            record.episodes.append(
                Episode(referral, "3A", "N9", closure=done, reason="RC8", assessments=[(referral, done, ["21"])])
            )
        else:  # section 47, conference, child protection plan with reviews, ended; then closed
            s47 = add_working_days(referral, 2)
            icpc = add_working_days(s47, rng.randint(5, 14))
            first_review = add_working_days(icpc, 40)
            end = add_working_days(first_review, 10)
            record.episodes.append(
                Episode(
                    referral,
                    "6",
                    "N1",
                    closure=end,
                    reason="RC7",
                    assessments=[(referral, add_working_days(referral, 20), ["3B", "16A"])],
                    s47=[(s47, icpc, False)],
                    cpps=[Cpp(icpc, end, "NEG", 0, [first_review])],
                )
            )
        out.append(record)
    return out
