"""For the SSDA903 tests and the agreement bench: a generator of valid multi-year returns, and an
independent, deliberately simple reading of the DfE definitions straight from the return's rows (it shares
no code with the importer).

Looked after on a day (DfE, SSDA903 guide): some episode with DECOM on or before the day and DEC blank or
after it; children whose episode that day is under a series of short breaks (LS V3/V4) are not counted.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SHORT_BREAKS = frozenset({"V3", "V4"})
TABLES: dict[str, tuple[str, ...]] = {
    "header": ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
    "episodes": ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                 "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"),
    "reviews": ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
    "uasc": ("CHILD", "SEX", "DOB", "DUC"),
    "missing": ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    "oc2": ("CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK", "IMMUNISATIONS",
            "TEETH_CHECK", "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED",
            "INTERVENTION_OFFERED"),
    "oc3": ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
    "sw_episodes": ("CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
}  # fmt: skip


def dmy(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def parse_dmy(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    d, m, y = (int(part) for part in text.split("/"))
    return date(y, m, d)


def start_of(year: int) -> date:
    return date(year - 1, 4, 1)


def end_of(year: int) -> date:
    return date(year, 3, 31)


# ---- the oracle -------------------------------------------------------------------------------------------


def looked_after_on(episodes: Iterable[Mapping[str, str]], day: date, *, short_breaks: bool = False) -> set[str]:
    """Children looked after on ``day`` by the DfE definition, from episode rows (V3/V4 excluded unless
    ``short_breaks``, as cs-demand-model counts them)."""
    found = set()
    for row in episodes:
        decom, dec = parse_dmy(row["DECOM"]), parse_dmy(row["DEC"])
        if decom is None or decom > day or (dec is not None and dec <= day):
            continue
        if short_breaks or row["LS"] not in SHORT_BREAKS:
            found.add(row["CHILD"])
    return found


def latest_rows(returns: Mapping[int, Mapping[str, list[dict[str, str]]]]) -> list[dict[str, str]]:
    """The episodes of several returns, the latest return's row for each (child, DECOM)."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for year in sorted(returns):
        for row in returns[year]["episodes"]:
            rows[(row["CHILD"], row["DECOM"])] = row
    return list(rows.values())


def carewatch_looked_after_on(events: Iterable[Mapping[str, Any]], day: date) -> set[str]:
    """Children carewatch's events say are looked after on ``day``: walked from care.started/care.ended and
    legal_status changes (retracted events left out), V3/V4 excluded."""
    gone = {e["retracted_event_id"] for e in events if e["type"] == "event.retracted"}
    state: dict[str, tuple[bool, str]] = {}
    for e in sorted(events, key=lambda e: e["occurred_at"][:10]):
        if e["event_id"] in gone or date.fromisoformat(e["occurred_at"][:10]) > day:
            continue
        in_care, status = state.get(e["child_id"], (False, ""))
        if e["type"] == "care.started":
            state[e["child_id"]] = (True, e["legal_status"])
        elif e["type"] == "care.ended":
            state[e["child_id"]] = (False, status)
        elif e["type"] == "legal_status.changed":
            state[e["child_id"]] = (in_care, e["legal_status"])
    return {child for child, (in_care, status) in state.items() if in_care and status not in SHORT_BREAKS}


def started_in(rows: Iterable[Mapping[str, str]], first: date, last: date) -> set[str]:
    """DfE: children starting a period of care (RNE S) in the window, V3/V4 excluded."""
    return {
        r["CHILD"] for r in rows
        if r["RNE"] == "S" and r["LS"] not in SHORT_BREAKS
        and first <= (parse_dmy(r["DECOM"]) or date.min) <= last
    }  # fmt: skip


def ended_in(rows: Iterable[Mapping[str, str]], first: date, last: date) -> set[str]:
    """DfE: children ceasing to be looked after (REC other than X1) in the window, V3/V4 excluded."""
    return {
        r["CHILD"] for r in rows
        if r["REC"] not in ("", "X1") and r["DEC"] and r["LS"] not in SHORT_BREAKS
        and first <= (parse_dmy(r["DEC"]) or date.min) <= last
    }  # fmt: skip


def events_started(events: list[dict[str, Any]], first: date, last: date) -> set[str]:
    status: dict[str, str] = {}
    found = set()
    for e in sorted(events, key=lambda e: e["occurred_at"]):
        day = date.fromisoformat(e["occurred_at"][:10])
        if e["type"] == "care.started":
            status[e["child_id"]] = e["legal_status"]
            if first <= day <= last and not e.get("period_began_before_data") and e["legal_status"] not in SHORT_BREAKS:
                found.add(e["child_id"])
        elif e["type"] == "legal_status.changed":
            status[e["child_id"]] = e["legal_status"]
    return found


def events_ended(events: list[dict[str, Any]], first: date, last: date) -> set[str]:
    status: dict[str, str] = {}
    found = set()
    for e in sorted(events, key=lambda e: (e["occurred_at"], e["type"] != "care.ended")):
        day = date.fromisoformat(e["occurred_at"][:10])
        if e["type"] in {"care.started", "legal_status.changed"}:
            status[e["child_id"]] = e["legal_status"]
        elif e["type"] == "care.ended" and first <= day <= last and status.get(e["child_id"]) not in SHORT_BREAKS:
            found.add(e["child_id"])
    return found


# ---- a generator of valid returns -------------------------------------------------------------------------


@dataclass
class Episode:
    decom: date
    rne: str
    ls: str
    place: str
    provider: str
    dec: date | None = None
    rec: str | None = None
    reason: str | None = None


@dataclass
class Child:
    child: str
    dob: date
    sex: str
    ethnic: str
    need: str
    episodes: list[Episode] = field(default_factory=list)
    uasc_until: date | None = None
    reviews: list[tuple[date, str]] = field(default_factory=list)
    missing: list[tuple[str, date, date]] = field(default_factory=list)
    social_workers: list[tuple[date, str, date | None, str]] = field(default_factory=list)


PLACES = ("U1", "U3", "U4", "U6", "K2", "R1")
LEGAL = ("C1", "C2", "V2", "E1")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def generate(
    children: int, first_year: int, last_year: int, seed: int = 7, *, social_workers: bool = False
) -> dict[int, dict[str, list[dict[str, str]]]]:
    """Valid SSDA903 returns for the collection years ``first_year``..``last_year`` (one dict of tables each)
    describing one consistent history; episodes open at a return's year end have DEC/REC blank in it. With
    ``social_workers``, each period of care has a chain of social-worker episodes (its own random stream, so
    the rest of the history is the same either way)."""
    rng = random.Random(seed)
    horizon = end_of(last_year)
    begin = start_of(first_year) - timedelta(days=700)
    people: list[Child] = []
    for n in range(children):
        dob = begin + timedelta(days=rng.randint(-3000, 1500)) - timedelta(days=365 * 3)
        person = Child(f"G{n:05d}", dob, rng.choice("MF"), rng.choice(("WBRI", "WIRI", "BAFR", "MWBC", "AOTH")),
                       f"N{rng.randint(1, 8)}")  # fmt: skip
        day = begin + timedelta(days=rng.randint(0, 1200))
        short_breaks = rng.random() < 0.08
        for _period in range(rng.choice((1, 1, 1, 2))):
            if day >= horizon or day >= _add_years(dob, 16):
                break
            day = max(day, dob + timedelta(days=1))
            ls = "V3" if short_breaks else rng.choice(LEGAL)
            place = rng.choice(PLACES)
            current = Episode(day, "S", ls, place, rng.choice(("PR1", "PR4")))
            person.episodes.append(current)
            for _ in range(rng.randint(0, 4)):
                nxt = day + timedelta(days=rng.randint(20, 400))
                if nxt >= horizon:
                    break
                rne = "L" if short_breaks else rng.choice(("P", "T", "L", "B", "U"))
                if short_breaks and rng.random() < 0.5:
                    rne = "P"
                new_ls = (
                    current.ls
                    if rne in {"P", "T"} or short_breaks
                    else rng.choice([s for s in LEGAL if s != current.ls])
                )
                new_place = current.place if rne == "L" else rng.choice([p for p in PLACES if p != current.place])
                current.dec, current.rec = nxt, "X1"
                if rne != "L":
                    current.reason = rng.choice(("CARPL", "CLOSE", "CREQB", "CHILD", "OTHER"))
                current = Episode(
                    nxt,
                    rne,
                    new_ls,
                    new_place,
                    current.provider if rne in {"L", "T", "U"} else rng.choice(("PR1", "PR4")),
                )
                person.episodes.append(current)
                day = nxt
            end = day + timedelta(days=rng.randint(20, 500))
            if end < horizon and end < _add_years(dob, 17):
                current.dec, current.rec = end, rng.choice(("E4A", "E13", "E11", "E41", "E45"))
                day = end + timedelta(days=rng.randint(30, 400))
            else:
                break
        if not person.episodes:
            continue
        if rng.random() < 0.1:
            person.uasc_until = _add_years(dob, 18)
        for ep in person.episodes:
            stop = ep.dec or horizon
            review = ep.decom + timedelta(days=rng.randint(10, 60))
            while review < stop:
                person.reviews.append(
                    (review, "PN0" if review < _add_years(dob, 4) else rng.choice(("PN1", "PN2", "PN5")))
                )
                review += timedelta(days=rng.randint(120, 200))
            if rng.random() < 0.15 and (stop - ep.decom).days > 10:
                gone = ep.decom + timedelta(days=rng.randint(1, (stop - ep.decom).days - 6))
                back = gone + timedelta(days=rng.randint(0, 4))
                if start_of(_year_of(gone)) <= back <= end_of(_year_of(gone)):
                    person.missing.append((rng.choice("MA"), gone, back))
        people.append(person)
    if social_workers:
        _allocate(people, horizon, random.Random(seed + 1))
    returns: dict[int, dict[str, list[dict[str, str]]]] = {}
    for year in range(first_year, last_year + 1):
        returns[year] = _return_of(people, year, rng)
        returns[year]["oc3"] = _care_leavers(year, rng)
    return returns


def _allocate(people: list[Child], horizon: date, rng: random.Random) -> None:
    """Social workers: from each period's start, a new one every 60–400 days, the last until care ends."""
    for person in people:
        starts = [ep.decom for ep in person.episodes if ep.rne == "S"]
        ends = [ep.dec for ep in person.episodes if ep.dec is not None and ep.rec != "X1"]
        for start in starts:
            stop = next((end for end in ends if end > start), None)
            day = start
            while True:
                nxt = day + timedelta(days=rng.randint(60, 400))
                worker = f"SW{rng.randint(1, 60):03d}"
                reason = "FCONTA" if day == start else rng.choice(("MANAGE", "LEFTRL", "ORGRST", "ABSENC", "OTHERS"))
                if nxt >= (stop or horizon):
                    person.social_workers.append((day, worker, stop, reason))
                    break
                person.social_workers.append((day, worker, nxt, reason))
                day = nxt


def _year_of(day: date) -> int:
    return day.year + 1 if (day.month, day.day) >= (4, 1) else day.year


def _blank(table: str) -> dict[str, str]:
    return dict.fromkeys(TABLES[table], "")


def _return_of(people: list[Child], year: int, rng: random.Random) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {name: [] for name in TABLES}
    first, last = start_of(year), end_of(year)
    for person in people:
        episodes = [ep for ep in person.episodes if ep.decom <= last and (ep.dec is None or ep.dec >= first)]
        if not episodes:
            continue
        sex = {"M": "1", "F": "2"}[person.sex] if year < 2025 else person.sex
        dob = dmy(person.dob)
        out["header"].append(
            _blank("header") | {"CHILD": person.child, "SEX": sex, "DOB": dob, "ETHNIC": person.ethnic}
        )
        if person.uasc_until is not None:
            out["uasc"].append({"CHILD": person.child, "SEX": sex, "DOB": dob, "DUC": dmy(person.uasc_until)})
        for ep in episodes:
            closed = ep.dec is not None and ep.dec <= last
            out["episodes"].append(_blank("episodes") | {
                "CHILD": person.child, "DECOM": dmy(ep.decom), "RNE": ep.rne, "LS": ep.ls, "CIN": person.need,
                "PLACE": ep.place, "PLACE_PROVIDER": ep.provider, "DEC": dmy(ep.dec) if closed else "",
                "REC": (ep.rec or "") if closed else "", "REASON_PLACE_CHANGE": (ep.reason or "") if closed else "",
            })  # fmt: skip
        for day, code in person.reviews:
            if first <= day <= last:
                out["reviews"].append({"CHILD": person.child, "DOB": dob, "REVIEW": dmy(day), "REVIEW_CODE": code})
        for kind, gone, back in person.missing:
            if first <= gone <= last:
                out["missing"].append({"CHILD": person.child, "DOB": dob, "MISSING": kind, "MIS_START": dmy(gone),
                                       "MIS_END": dmy(back)})  # fmt: skip
        for start, worker, stop, reason in person.social_workers:
            if start <= last and (stop is None or stop >= first):
                out["sw_episodes"].append({"CHILD": person.child, "DOB": dob, "SW_ID": worker, "SW_DECOM": dmy(start),
                                           "SW_DEC": dmy(stop) if stop is not None and stop <= last else "",
                                           "SW_REASON": reason})  # fmt: skip
        year_ago = last - timedelta(days=365)
        continuous = any(ep.decom <= year_ago and ep.ls not in SHORT_BREAKS for ep in person.episodes) and _continuous(
            person, year_ago, last
        )
        if continuous:
            row = _blank("oc2") | {"CHILD": person.child, "DOB": dob}
            for column in TABLES["oc2"][4:]:
                row[column] = rng.choice(("0", "1", ""))
            if date(year - 17, 3, 31) < person.dob <= date(year - 4, 3, 31):
                row["SDQ_SCORE"] = str(rng.randint(0, 40))
            else:
                row["SDQ_REASON"] = "SDQ1"
            out["oc2"].append(row)
    return out


def _continuous(person: Child, since: date, until: date) -> bool:
    """In care without a break from ``since`` to ``until`` (walking the episodes)."""
    covered = since
    for ep in sorted(person.episodes, key=lambda e: e.decom):
        if ep.decom <= covered and (ep.dec is None or ep.dec > covered):
            if ep.dec is None or ep.dec > until:
                return True
            if ep.rec != "X1":
                return False
            covered = ep.dec
    return False


def _care_leavers(year: int, rng: random.Random) -> list[dict[str, str]]:
    rows = []
    activities = ("F1", "F2", "F3", "P3", "G5") if year <= 2021 else ("F1", "F2", "F5", "P4", "G5")
    for n in range(12):
        age = 17 + n % 5
        born = date(year - 1 - age, 4 + n % 9, 1 + n)
        touch = rng.choice(("YES", "YES", "NO", "REFU"))
        rows.append({
            "CHILD": f"L{year}{n:03d}", "DOB": dmy(born), "IN_TOUCH": touch,
            "ACTIV": rng.choice(activities) if touch == "YES" else "0",
            "ACCOM": rng.choice(("D1", "U1", "E2")) if touch == "YES" else "0",
        })  # fmt: skip
    return rows


def write_return(tables: Mapping[str, list[dict[str, str]]], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (directory / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=TABLES[name], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return directory


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))
