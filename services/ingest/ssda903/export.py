"""carewatch events → the SSDA903 return of a collection year (the DfE CSV layout), and the reconciliation of
a re-import with what an earlier import already sent (corrections as ``event.retracted`` + a revised event).

Pure: no broker, no clock. Only events from the SSDA903 mapping's vocabulary are read (``docs/ssda903.md``
lists what each column comes from and which columns carewatch does not carry).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from services.ingest.ssda903 import tables, years
from services.ingest.ssda903.source import SourceRow

RETRACTION: Final = "event.retracted"
SOURCE: Final = "ssda903"


def effective(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events that stand: the first of each id, without retracted ones and the retractions themselves."""
    seen: dict[str, dict[str, Any]] = {}
    retracted: set[str] = set()
    for event in events:
        if event["type"] == RETRACTION:
            retracted.add(event["retracted_event_id"])
        seen.setdefault(event["event_id"], dict(event))
    return [e for i, e in seen.items() if i not in retracted and e["type"] != RETRACTION]


def retracted_ids(events: Iterable[Mapping[str, Any]]) -> set[str]:
    return {e["retracted_event_id"] for e in events if e["type"] == RETRACTION}


def dmy(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day is not None else ""


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


@dataclass
class EpisodeOut:
    decom: date
    rne: str
    ls: str
    place: str
    provider: str | None
    dec: date | None = None
    rec: str | None = None
    reason_change: str | None = None
    need: str | None = None


@dataclass
class ChildRecord:
    child: str
    date_of_birth: date | None = None
    sex: str | None = None
    ethnicity: str | None = None
    uasc: bool = False
    uasc_ceased_on: date | None = None
    episodes: list[EpisodeOut] = field(default_factory=list)
    reviews: list[tuple[date, str | None]] = field(default_factory=list)
    missing: dict[str, list[Any]] = field(default_factory=dict)
    """episode id → [kind, start, end]"""
    sdq: dict[date, int] = field(default_factory=dict)
    outcomes: dict[date, dict[str, Any]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    social_workers: list[tuple[date, str, str]] = field(default_factory=list)
    """(SW_DECOM, SW_ID, SW_REASON or "") of each allocation, from ``social_worker.changed``."""


ORDER: Final = {"care.ended": 0, "care.started": 1, "legal_status.changed": 2, "placement.started": 3}


def records(events: Iterable[Mapping[str, Any]]) -> dict[str, ChildRecord]:
    """Each child's SSDA903 facts, walked from their (effective) events."""
    by_child: dict[str, list[dict[str, Any]]] = {}
    for event in effective(events):
        by_child.setdefault(event["child_id"], []).append(event)
    found: dict[str, ChildRecord] = {}
    for child, items in by_child.items():
        record = found[child] = ChildRecord(child)
        items.sort(key=lambda e: (_day(e["occurred_at"]), ORDER.get(e["type"], 9), e["event_id"]))
        _episodes(record, items)
        for e in items:
            kind, day = e["type"], _day(e["occurred_at"])
            if kind == "review.held":
                record.reviews.append((day, e.get("participation")))
            elif kind == "missing.started":
                record.missing.setdefault(e["episode_id"], [None, None, None])[:2] = [e.get("kind"), day]
            elif kind == "missing.ended":
                record.missing.setdefault(e["episode_id"], [None, None, None])[2] = day
            elif kind == "sdq.recorded":
                record.sdq[day] = e["score"]
            elif kind == "outcomes.recorded":
                record.outcomes[day] = e
            elif kind == "care_leaver.contact":
                record.contacts.append(e)
            elif kind == "social_worker.changed":
                record.social_workers.append((day, e["worker_id"], e.get("change_reason") or ""))
    return found


def _episodes(record: ChildRecord, items: list[dict[str, Any]]) -> None:
    current: EpisodeOut | None = None
    by_day: dict[date, dict[str, dict[str, Any]]] = {}
    for e in items:
        if e["type"] in ORDER:
            by_day.setdefault(_day(e["occurred_at"]), {}).setdefault(e["type"], e)
    for day in sorted(by_day):
        todays = by_day[day]
        started, ended = todays.get("care.started"), todays.get("care.ended")
        legal, placed = todays.get("legal_status.changed"), todays.get("placement.started")
        if ended is not None and current is not None and current.dec is None and current.decom < day:
            current.dec, current.rec = day, ended["reason"]
            current, ended = None, None
        if started is not None:
            record.date_of_birth = _day(started["date_of_birth"])
            record.sex = started["sex"]
            record.ethnicity = started.get("ethnicity") or record.ethnicity
            record.uasc = record.uasc or bool(started.get("uasc"))
            if started.get("uasc_ceased_on"):
                record.uasc_ceased_on = _day(started["uasc_ceased_on"])
            if current is not None and current.dec is None:
                current.dec, current.rec = day, "X1"
            placement = placed or {}
            current = EpisodeOut(
                day, started.get("new_episode_reason") or "S", started["legal_status"],
                placement.get("placement_type", ""), placement.get("provider"),
                need=started.get("category_of_need"),
            )  # fmt: skip
            record.episodes.append(current)
        elif (legal is not None or placed is not None) and current is not None and current.dec is None:
            if placed is not None:
                same = bool(placed.get("same_carer"))
                rne = ("U" if same else "B") if legal is not None else ("T" if same else "P")
                current.reason_change = placed.get("reason_for_change")
            else:
                rne = "L"
            current.dec, current.rec = day, "X1"
            current = EpisodeOut(
                day,
                rne,
                legal["legal_status"] if legal is not None else current.ls,
                placed["placement_type"] if placed is not None else current.place,
                placed.get("provider") if placed is not None else current.provider,
                need=current.need,
            )
            record.episodes.append(current)
        if ended is not None and current is not None and current.dec is None:
            current.dec, current.rec = day, ended["reason"]
            current = None


def _in_year(day: date | None, year: int) -> bool:
    return day is not None and years.year_start(year) <= day <= years.year_end(year)


def return_rows(events: Iterable[Mapping[str, Any]], year: int) -> dict[str, list[dict[str, str]]]:
    """The return of the collection year ending 31 March ``year``: table name → rows (DfE CSV columns).

    Episodes open at some time in the year; one still open on 31 March (or ending after it) has DEC, REC and
    REASON_PLACE_CHANGE blank, as the return made in April would have them.
    """
    out: dict[str, list[dict[str, str]]] = {
        name: [] for name in ("header", "episodes", "reviews", "uasc", "missing", "oc2", "oc3", "sw_episodes")
    }
    end = years.year_end(year)
    for child, record in sorted(records(events).items()):
        blank_row = dict.fromkeys
        episodes = [ep for ep in record.episodes if _episode_in_year(ep, year)]
        dob = dmy(record.date_of_birth)
        if episodes and record.sex is not None:
            sex = years.sex_to_return(record.sex, year)
            out["header"].append(
                blank_row(tables.HEADER.columns, "")
                | {"CHILD": child, "SEX": sex, "DOB": dob, "ETHNIC": record.ethnicity or ""}
            )
            if record.uasc or record.uasc_ceased_on is not None:
                out["uasc"].append({"CHILD": child, "SEX": sex, "DOB": dob, "DUC": dmy(record.uasc_ceased_on)})
        for ep in episodes:
            closed = ep.dec is not None and ep.dec <= end
            out["episodes"].append(
                blank_row(tables.EPISODES.columns, "")
                | {
                    "CHILD": child, "DECOM": dmy(ep.decom), "RNE": ep.rne, "LS": ep.ls, "CIN": ep.need or "",
                    "PLACE": ep.place,
                    "PLACE_PROVIDER": ep.provider or "", "DEC": dmy(ep.dec) if closed else "",
                    "REC": (ep.rec or "") if closed else "",
                    "REASON_PLACE_CHANGE": (ep.reason_change or "") if closed else "",
                }
            )  # fmt: skip
        if not episodes:  # reviews, missing episodes, OC2 and social workers: children looked after in the year
            record.reviews, record.missing, record.sdq, record.outcomes = [], {}, {}, {}
            record.social_workers = []
        out["sw_episodes"].extend(_social_workers(child, dob, record, year))
        for day, participation in sorted(record.reviews, key=lambda item: item[0]):
            if _in_year(day, year):
                out["reviews"].append(
                    {"CHILD": child, "DOB": dob, "REVIEW": dmy(day), "REVIEW_CODE": participation or ""}
                )
        for kind, start, stop in sorted(record.missing.values(), key=lambda item: item[1] or date.min):
            if _in_year(start, year):
                out["missing"].append(
                    {"CHILD": child, "DOB": dob, "MISSING": {"missing": "M", "away": "A"}.get(kind or "", ""),
                     "MIS_START": dmy(start), "MIS_END": dmy(stop) if stop is not None and stop <= end else ""}
                )  # fmt: skip
        if end in record.sdq or end in record.outcomes:
            items = record.outcomes.get(end, {})
            row = blank_row(tables.OC2.columns, "") | {"CHILD": child, "DOB": dob}
            row["SDQ_SCORE"] = str(record.sdq[end]) if end in record.sdq else ""
            row["SDQ_REASON"] = items.get("sdq_reason", "")
            for name, column in OC2_COLUMNS.items():
                if name in items:
                    row[column] = "1" if items[name] else "0"
            out["oc2"].append(row)
        for contact in record.contacts:
            day = _day(contact["occurred_at"])
            if _in_year(day, year):
                born = contact.get("date_of_birth")
                out["oc3"].append(
                    {"CHILD": child, "DOB": dmy(_day(born)) if born else dob,
                     "IN_TOUCH": contact.get("in_touch_code") or ("YES" if contact["in_touch"] else "NO"),
                     "ACTIV": contact.get("activity", ""), "ACCOM": contact.get("accommodation", "")}
                )  # fmt: skip
    return out


OC2_COLUMNS: Final = {
    "convicted": "CONVICTED",
    "health_check": "HEALTH_CHECK",
    "immunisations": "IMMUNISATIONS",
    "teeth_check": "TEETH_CHECK",
    "health_assessment": "HEALTH_ASSESSMENT",
    "substance_misuse": "SUBSTANCE_MISUSE",
    "intervention_received": "INTERVENTION_RECEIVED",
    "intervention_offered": "INTERVENTION_OFFERED",
}
FILE_NAMES: Final = {
    "header": "header.csv",
    "episodes": "episodes.csv",
    "reviews": "reviews.csv",
    "uasc": "uasc.csv",
    "missing": "missing.csv",
    "oc2": "oc2.csv",
    "oc3": "oc3.csv",
    "sw_episodes": "sw_episodes.csv",
}
TABLE_COLUMNS: Final = {table.name: table.columns for table in tables.TABLES}


def _social_workers(child: str, dob: str, record: ChildRecord, year: int) -> Iterator[dict[str, str]]:
    """The child's social-worker episodes open at some time in the year. An allocation ends when the next
    one starts, or when care ends (the DEC of the episode in progress when it started, or of a later one
    before the next allocation); SW_DEC is blank while it is open on 31 March. SW_REASON: the event's change_reason."""
    allocations = sorted(set(record.social_workers))
    ended = sorted(ep.dec for ep in record.episodes if ep.dec is not None and ep.rec not in (None, "X1"))
    first, last = years.year_start(year), years.year_end(year)
    for n, (start, worker, reason) in enumerate(allocations):
        stop = allocations[n + 1][0] if n + 1 < len(allocations) else None
        care_end = next((day for day in ended if day >= start), None)
        if care_end is not None and (stop is None or care_end < stop):
            stop = care_end
        if start > last or (stop is not None and stop < first):
            continue
        yield {"CHILD": child, "DOB": dob, "SW_ID": worker, "SW_DECOM": dmy(start),
               "SW_DEC": dmy(stop) if stop is not None and stop <= last else "", "SW_REASON": reason}  # fmt: skip


def _episode_in_year(ep: EpisodeOut, year: int) -> bool:
    return ep.decom <= years.year_end(year) and (ep.dec is None or ep.dec >= years.year_start(year))


def write_return(rows: Mapping[str, list[dict[str, str]]], directory: Path) -> dict[str, int]:
    """One CSV per table, DfE column order; returns the row count per file."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table_rows in rows.items():
        path = directory / FILE_NAMES[name]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS[name], lineterminator="\n")
            writer.writeheader()
            writer.writerows(table_rows)
        written[path.name] = len(table_rows)
    return written


def years_covered(events: Iterable[Mapping[str, Any]]) -> list[int]:
    """The collection years in which some carewatch SSDA903 fact falls."""
    found: set[int] = set()
    for event in events:
        day = _day(event["occurred_at"])
        found.add(day.year + 1 if (day.month, day.day) >= (4, 1) else day.year)
    return sorted(found)


def as_source_rows(events: list[dict[str, Any]], year: int, label: str) -> Iterator[SourceRow]:
    """Rows of the return of ``year`` rebuilt from events, for converting them again with a new return."""
    for name, table_rows in return_rows(events, year).items():
        for number, row in enumerate(table_rows, start=2):
            yield SourceRow(label, name, number, f"{name} row {number}", row)


# ---- re-import: what changed since the events an earlier import sent ------------------------------------


def base_id(event_id: str) -> str:
    return event_id.split("~", 1)[0]


def _content(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "event_id"}


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:12]


def retraction(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event_id": f"903-x-{_digest(event['event_id'])}",
        "type": RETRACTION,
        "child_id": event["child_id"],
        "occurred_at": event["occurred_at"],
        "source": SOURCE,
        "retracted_event_id": event["event_id"],
    }


@dataclass
class Reconciled:
    events: list[dict[str, Any]]
    """To send: new events, and for each change a retraction followed by the corrected event."""
    added: int = 0
    corrected: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)


def reconcile(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> Reconciled:
    """What to send so that ``previous`` (what was sent before) becomes ``current``; deterministic ids."""
    gone = retracted_ids(previous)
    standing = {base_id(e["event_id"]): e for e in effective(previous) if e.get("source") == SOURCE}
    result = Reconciled([])
    bases = set()
    for event in current:
        base = base_id(event["event_id"])
        bases.add(base)
        old = standing.get(base)
        if old is not None and _content(old) == _content(event):
            continue
        revised = event
        if old is not None or event["event_id"] in gone:
            revised = event | {"event_id": f"{base}~{_digest(sorted(_content(event).items()))}"}
        if old is not None:
            result.events.append(retraction(old))
            result.corrected.append((old, revised))
        else:
            result.added += 1
        result.events.append(revised)
    for base, old in sorted(standing.items()):
        if base not in bases:
            result.events.append(retraction(old))
            result.removed.append(old)
    return result
