"""A synthetic local authority: reproducible case events for the demo, tests and benchmarks.

``generate(seed, children, months, start)`` yields event dicts (the CONTRACT §1 format) in occurred order.
``children`` is the number looked after at any one time (the default county has 396), kept roughly steady:
children enter and leave care through the window. The simulation begins a lead-in year before ``start``
(entrants, leavers and placement moves in it as in the window), so every 12-month measure is already steady
on ``start``; those in care when the lead-in begins arrive with a short history dated before it (when their
care and current placement began, their latest review, health and dental checks, PEP, SDQ, social worker
and visit), so statutory clocks start from a believable state.

Rates are set so board indicators land near the national figures of reference §3 (about 10% of children
with 3+ placements in a year, 24% with 3+ social workers, 10% missing, 63% of return interviews within
72 hours, about one leaver in eleven adopted, leavers in a year 0.42 of those in care, care leavers in touch,
in education, employment or training and suitably accommodated as in §3.7) and the placement mix near the
county in the seed minutes. Every missing episode gets a return interview, a share of them late, and every
leaver aged 16 or over (not adopted) has leaving-care contacts: so no alert from the early history stays
open for want of an event a real authority would have recorded, and the care-leaver measures do not drift
as the leavers of the simulation replace the cohort the lead-in starts with.

Legal status moves as it does in care proceedings: police protection or an emergency protection order for
days, then an interim care order or section 20; an interim order becomes a full care order (or, for a young
child, a placement order) after the proceedings; some section 20 children come into proceedings; older
children remanded stay weeks and leave when the remand ends (E14); a placement order leads to adoption. A
small cohort of disabled children is on an agreed series of short breaks (V4), which every DfE figure
leaves out. A ``bad_share`` of extra records is
deliberately invalid (unknown code, SDQ 41, an unknown field) for ingest to reject.

With ``cin=True`` the authority also has its children in need and child protection flow
(:mod:`services.demo.cin_flow`), from its own random stream and event ids, so the care histories are the
same with or without it. With ``turn=True`` the number of children starting to be looked after rises by
:data:`TURN_RISE` for :data:`TURN_MONTHS` months from the fourth month of the window: a deliberate special
cause for the board's early-warning chart and its authority alert.

Randomness comes only from ``random.Random(seed)``; nothing reads the clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from services.rules.core.calendar import add_months, add_years

from .cin_flow import LOOKED_AFTER_PER_10K, CinFlow

DEFAULT_CHILDREN: Final = 396
TEAMS: Final = ("cic-north", "cic-south", "cic-east", "cic-west")
WORKERS_PER_TEAM: Final = 12
AGENCY_SHARE: Final = 0.18


@dataclass(frozen=True)
class Setting:
    """A kind of placement: the codes it uses and the ages it suits."""

    weight: float
    """Share of children entering care in this setting (tuned so the mix at any date is near the target)."""
    types: tuple[str, ...]
    providers: tuple[str, ...]
    ages: tuple[int, int]


SETTINGS: Final = {
    "external-foster": Setting(22.5, ("U4", "U5", "U6"), ("PR4", "PR5"), (0, 17)),
    "in-house-foster": Setting(21.5, ("U4", "U6"), ("PR1",), (0, 17)),
    "kinship-foster": Setting(12.5, ("U1", "U3"), ("PR1",), (0, 17)),
    "residential": Setting(14.5, ("K2", "K2", "K2", "R1"), ("PR1", "PR4", "PR4"), (11, 17)),
    "with-parents": Setting(7.0, ("P1",), ("PR0",), (0, 15)),
    "supported": Setting(5.5, ("K3",), ("PR4", "PR5"), (16, 17)),
    "adoption": Setting(4.5, ("A4", "A6"), ("PR1",), (0, 4)),
    "other": Setting(3.5, ("K1", "R2", "R3", "S1"), ("PR2", "PR4"), (4, 17)),
}
ENTRY_AGES: Final = ((0, 0, 0.18), (1, 4, 0.14), (5, 9, 0.18), (10, 15, 0.37), (16, 17, 0.13))
UASC_ENTRY_SHARE: Final = 0.2

# National mix of reasons for placement change, 2024 (reference §3.2).
CHANGE_REASONS: Final = (
    ("CARPL", 31), ("PLACE", 24), ("OTHER", 22), ("CREQB", 8), ("CREQO", 6), ("CHILD", 3), ("LAREQ", 1),
    ("STAND", 1), ("CLOSE", 1), ("ALLEG", 1), ("APPRR", 0.5), ("CUSTOD", 0.5),
)  # fmt: skip
LEAVING_AT_18: Final = (("E17", 30), ("E5", 45), ("E6", 15), ("E8", 10))
LEAVING_EARLY: Final = (
    ("E4A", 42), ("E41", 6), ("E45", 7), ("E46", 3), ("E47", 8), ("E48", 3), ("E13", 8), ("E8", 9), ("E3", 5),
    ("E4B", 6), ("E9", 2), ("E14", 1),
)  # fmt: skip

# Placement moves: most children are stable, a minority move often (gives ~10% with 3+ placements a year).
UNSTABLE_SHARE: Final = 0.22
MOVES_PER_YEAR: Final = {False: 0.2, True: 2.0}
# Social-worker changes: ~24% of children have 3+ workers in a year.
SW_CHURN_SHARE: Final = 0.4
SW_CHANGES_PER_YEAR: Final = {False: 0.6, True: 2.4}
SDQ_MEAN: Final = 14.0
SDQ_CHILD_SD: Final = 5.7
SDQ_YEAR_SD: Final = 3.2
"""SDQ total difficulties: each child's own level (spread between children) plus a year-to-year change, 6.5
points in all; about 35% score 17 or more. A child's score persists from year to year, as it does, so the
share of concern moves with the children in care, not with fresh draws of the same children each year."""
MISSING_PRONE_SHARE_10_PLUS: Final = 0.22
MISSING_PER_YEAR: Final = 6.5
RHI_WITHIN_72H: Final = 0.66
RHI_LATE: Final = 0.22
"""Return interviews 4 to 12 days after the return; the rest come later still, up to :data:`RHI_LATEST_DAYS`."""
RHI_LATEST_DAYS: Final = 45
CARE_LEAVERS_PER_CHILD: Final = 0.3
NO_LEAVING_CARE_CONTACT: Final = frozenset({"E11", "E12", "E2"})
"""Reasons care ended after which the authority keeps no leaving-care contact (adopted, died). Every other
leaver aged 16 or over, home or at 18, has contacts: the board's care-leaver measures count them all, so a
leaver without contacts would pull the figures down more as such leavers replace the cohort the lead-in
starts with (a drift, not a trend)."""
CARE_LEAVER_IN_TOUCH: Final = 0.89
CARE_LEAVER_EET: Final = 0.68
CARE_LEAVER_SUITABLE: Final = 0.9
"""Per care leaver: keeps in touch (the rest are in touch at three contacts in ten), in education,
employment or training; per contact in touch, accommodation suitable. The demo county (seed 7) has about
89% in touch, 58% EET and 82% suitably accommodated among those aged 19 to 21 through its year (reference
§3.7: 91%, about 60%, 84–85%)."""
MEAN_STAY_DAYS: Final = 869
"""Entrants per day = children / this: replaces leavers so the number in care stays about steady. Leavers
in a year are then about 365 / 869 = 0.42 of those in care, the national 34,450 ceased over 81,770 looked
after (reference §3.1, 2025); :func:`_care_length_days` is set so stays average this long."""

LONGEST_STAY_DAYS: Final = 5000
DAY: Final = timedelta(days=1)
LEAD_IN_DAYS: Final = 400
"""The population is simulated from this long before ``start``, so 12-month measures are steady from it."""
HISTORY_DAYS: Final = 400
"""Routine events of children in care at the start are kept for this long before it (annual checks)."""
# Legal status on entry (children not UASC and not placed for adoption): most start under section 20 or an
# interim care order, fewer after police protection or an emergency protection order; remand from age 10.
ENTRY_LEGAL: Final = (("V2", 26), ("C1", 44), ("L1", 9), ("L2", 4), ("C2", 13), ("J1", 4))
REMAND_DAYS: Final = (14, 100)
"""A remand (J1) lasts this long; the child leaves care when it ends (E14)."""
PROCEEDINGS_DAYS: Final = (150, 330)
"""An interim care order (C1) until the final hearing (the 26-week limit, often exceeded); a child who leaves
care before it (home, most often) leaves on the interim order."""
PLACEMENT_ORDER_UNDER_5: Final = 0.45
"""Children under 5 at the final hearing who get a placement order (E1) rather than a care order."""
S20_TO_PROCEEDINGS: Final = 0.4
"""Section 20 children (not UASC) brought into care proceedings while looked after."""
ADOPTED_AFTER_DAYS: Final = (150, 420)
"""From a placement order to the adoption order (the child leaves care: E11/E12)."""
SHORT_BREAK_SHARE: Final = 0.05
"""Children on a series of short breaks (V4), per child looked after; left out of every DfE figure."""
TURN_RISE: Final = 1.75
TURN_FROM_MONTH: Final = 3
TURN_MONTHS: Final = 8
"""The demo's deliberate turn: entries to care x1.75 over 8 months, from 3 months after the window starts."""
ALWAYS_EMITTED: Final = frozenset(
    {"care.started", "care.ended", "placement.started", "social_worker.changed", "legal_status.changed"}
)
"""Events the history snapshot keeps however old: they set the state the rules need."""


def _weighted(rng: random.Random, pairs: Iterable[tuple[str, float]]) -> str:
    names, weights = zip(*pairs, strict=True)
    return str(rng.choices(names, weights=weights)[0])


@dataclass
class Authority:
    """The event factory: numbering and recording lag shared by every child."""

    rng: random.Random
    seed: int
    bad_share: float
    prefix: str = ""
    """Part of every event id after the seed (keeps the ids of two event streams apart)."""
    counter: int = 0
    events: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, event_type: str, child: str, when: date | datetime, /, **fields: Any) -> str:
        self.counter += 1
        ident = f"gen{self.seed}{self.prefix}-{self.counter:08d}"
        moment = when if isinstance(when, datetime) else datetime.combine(when, time(0))
        event: dict[str, Any] = {
            "event_id": ident,
            "type": event_type,
            "child_id": child,
            "occurred_at": when.isoformat(),
            "recorded_at": self._recorded(moment).isoformat(),
            "source": "synthetic",
        }
        event.update(fields)
        self.events.append((moment, ident, event))
        if self.rng.random() < self.bad_share:
            self._bad_copy(event, moment)
        return ident

    def _recorded(self, moment: datetime) -> datetime:
        """Most events are entered the same day; a share days or weeks later (normal in social care)."""
        roll = self.rng.random()
        if roll < 0.7:
            lag = timedelta(hours=self.rng.uniform(1, 8))
        elif roll < 0.9:
            lag = timedelta(days=self.rng.randint(1, 7))
        else:
            lag = timedelta(days=self.rng.randint(8, 30))
        base = moment if moment.time() != time(0) else moment + timedelta(hours=9)
        return (base + lag).replace(microsecond=0)

    def _bad_copy(self, event: dict[str, Any], moment: datetime) -> None:
        """An invalid record next to a valid one: as a case system might send by mistake."""
        self.counter += 1
        bad = dict(event, event_id=f"gen{self.seed}{self.prefix}-{self.counter:08d}")
        flaw = self.rng.randrange(3)
        if flaw == 0:
            bad.update(type="placement.started", placement_type="Q9")
            for name in (
                "kind",
                "score",
                "seen_alone",
                "episode_id",
                "worker_id",
                "in_touch",
                "legal_status",
            ):
                bad.pop(name, None)
        elif flaw == 1:
            bad.update(type="sdq.recorded", score=41)
            for name in ("kind", "seen_alone", "episode_id", "worker_id", "in_touch", "placement_type"):
                bad.pop(name, None)
        else:
            bad["nickname"] = "unexpected field"
        self.events.append((moment, str(bad["event_id"]), bad))


@dataclass
class Child:
    """One child's life in care, simulated from entry to leaving care (or the end of the window)."""

    la: Authority
    rng: random.Random
    child_id: str
    born: date
    entered: date
    leaves: date
    setting: str
    uasc: bool
    team: str
    end: date
    """The end of the simulated window."""
    emit_from: date = date.min
    """Routine events before this date are not emitted (the pre-``start`` history is a snapshot)."""
    short_breaks: bool = False
    """On an agreed series of short breaks (V4): reviews, visits and a placement; no other duties simulated."""
    entry_legal: str = ""
    legal_changes: list[tuple[date, str]] = field(default_factory=list)

    def plan_legal_status(self) -> None:
        """Draw the legal status on entry and its changes (which may end care early: see ``_legal_journey``)."""
        self.entry_legal = self._entry_legal_status()
        self.legal_changes = self._legal_journey(self.entry_legal)

    def shift(self, by: timedelta) -> None:
        """Move the whole life course (birth, entry, legal changes, leaving) by ``by``; leaving stays on or
        before the 18th birthday (a shift can move it a leap day)."""
        self.born += by
        self.entered += by
        self.leaves = min(self.leaves + by, self.eighteen)
        self.legal_changes = [(day + by, code) for day, code in self.legal_changes if day + by < self.leaves]

    @property
    def eighteen(self) -> date:
        return add_years(self.born, 18)

    def age_on(self, day: date) -> int:
        return day.year - self.born.year - ((day.month, day.day) < (self.born.month, self.born.day))

    def emit(self, event_type: str, when: date | datetime, /, **fields: Any) -> None:
        day = when.date() if isinstance(when, datetime) else when
        if day < self.end and (day >= self.emit_from or event_type in ALWAYS_EMITTED):
            self.la.emit(event_type, self.child_id, when, **fields)

    # -- the life course ------------------------------------------------------------------------------------

    def simulate(self) -> None:
        rng = self.rng
        legal, changes = self.entry_legal, self.legal_changes
        self.emit(
            "care.started",
            self.entered,
            date_of_birth=self.born.isoformat(),
            sex="M" if self.uasc and rng.random() < 0.9 else rng.choice(("M", "F")),
            legal_status=legal,
            uasc=self.uasc,
            team=self.team,
        )
        stop = min(self.leaves, self.end)
        for day, code in changes:
            if day < stop:
                self.emit("legal_status.changed", day, legal_status=code)
                legal = code
        self._placements(stop)
        self._social_workers(stop)
        self._reviews(stop)
        if not self.short_breaks:
            self._health(stop)
            self._education(stop)
            self._missing(stop)
        if self.leaves < self.end:
            reason = "E8" if self.short_breaks else self._leaving_reason(legal)
            self.emit("care.ended", self.leaves, reason=reason)
            if not self.short_breaks and self.age_on(self.leaves) >= 16 and reason not in NO_LEAVING_CARE_CONTACT:
                self._care_leaver(self.leaves)

    def _entry_legal_status(self) -> str:
        if self.short_breaks:
            return "V4"
        if self.setting == "adoption":
            return "E1"
        if self.uasc:
            return "V2"
        legal = _weighted(self.rng, ENTRY_LEGAL)
        if legal == "J1" and self.age_on(self.entered) < 10:
            return "C1"
        if legal == "V2" and self.setting == "with-parents":
            return "C1"  # placed with parents needs an order (SSDA903 rule 378)
        return legal

    def _legal_journey(self, legal: str) -> list[tuple[date, str]]:
        """The changes of legal status after entry on ``legal``, as (day, code); sets ``leaves`` when the
        journey ends care (a remand ends, an adoption order is made)."""
        rng = self.rng
        day = self.entered
        changes: list[tuple[date, str]] = []
        if legal == "J1":
            self.leaves = min(self.leaves, day + timedelta(days=rng.randint(*REMAND_DAYS)))
            return changes
        if legal in {"L1", "L2"}:
            day += timedelta(days=rng.randint(1, 3) if legal == "L1" else rng.randint(3, 8))
            legal = "C1" if rng.random() < 0.65 else "V2"
            if legal == "V2" and self.setting == "with-parents":
                legal = "C1"
            changes.append((day, legal))
        if legal == "V2" and not self.uasc and rng.random() < S20_TO_PROCEEDINGS:
            day += timedelta(days=rng.randint(30, 270))
            legal = "C1"
            changes.append((day, legal))
        if legal == "C1":
            hearing = day + timedelta(days=rng.randint(*PROCEEDINGS_DAYS))
            if hearing < self.leaves:  # still looked after at the final hearing: an order is made
                day = hearing
                young = self.age_on(day) < 5
                legal = "E1" if young and rng.random() < PLACEMENT_ORDER_UNDER_5 else "C2"
                changes.append((day, legal))
        if legal == "E1" and self.setting != "adoption":
            adopted = day + timedelta(days=rng.randint(*ADOPTED_AFTER_DAYS))
            self.leaves = min(self.leaves, adopted)
        return [(when, code) for when, code in changes if when < self.leaves]

    def _leaving_reason(self, legal: str) -> str:
        if self.leaves >= self.eighteen - 2 * DAY:
            return _weighted(self.rng, LEAVING_AT_18)
        if self.setting == "adoption" or legal == "E1":
            return self.rng.choice(("E11", "E12"))
        if legal == "J1":
            return "E14"
        return _weighted(self.rng, LEAVING_EARLY)

    def _placement_codes(self, setting: str) -> dict[str, Any]:
        chosen = SETTINGS[setting]
        return {
            "placement_type": self.rng.choice(chosen.types),
            "provider": self.rng.choice(chosen.providers),
        }

    def _next_setting(self, day: date) -> str:
        age = self.age_on(day)
        if self.rng.random() < 0.75 and SETTINGS[self.setting].ages[0] <= age <= SETTINGS[self.setting].ages[1]:
            return self.setting
        allowed = [(name, s.weight) for name, s in SETTINGS.items() if s.ages[0] <= age <= s.ages[1]]
        return _weighted(self.rng, allowed)

    def _placements(self, stop: date) -> None:
        rng = self.rng
        rate = MOVES_PER_YEAR[rng.random() < UNSTABLE_SHARE and not self.short_breaks]
        starts: list[tuple[date, str | None]] = [(self.entered, None)]
        while True:
            day = starts[-1][0] + timedelta(days=max(7, round(rng.expovariate(rate) * 365)))
            if day >= stop:
                break
            starts.append((day, _weighted(rng, CHANGE_REASONS)))
        for (day, reason), (until, _) in zip(starts, [*starts[1:], (stop, None)], strict=True):
            if reason is not None:
                self.setting = self._next_setting(day)
            fields = self._placement_codes(self.setting)
            if reason is not None:
                fields["reason_for_change"] = reason
            if rng.random() < 0.8:
                fields["distance_miles"] = round(rng.lognormvariate(1.8, 0.9), 1)
            self.emit("placement.started", day, **fields)
            self._visits(day, until)

    def _visits(self, placed: date, until: date) -> None:
        """Within a week of each placement, then at most six weeks apart (CPPCR reg 28), some late."""
        rng = self.rng
        day = placed + timedelta(days=rng.randint(1, 6) if rng.random() < 0.92 else rng.randint(8, 14))
        while day < until:
            seen_alone = rng.random() < 0.8 if self.age_on(day) >= 4 else None
            fields = {} if seen_alone is None else {"seen_alone": seen_alone}
            self.emit("visit.completed", day, **fields)
            day += timedelta(days=rng.randint(25, 41) if rng.random() < 0.94 else rng.randint(43, 60))

    def _social_workers(self, stop: date) -> None:
        rng = self.rng
        rate = SW_CHANGES_PER_YEAR[rng.random() < SW_CHURN_SHARE]
        day = self.entered
        current = ""
        while day < stop:
            team = self.team
            worker = current
            while worker == current:
                worker = f"sw-{team}-{rng.randrange(WORKERS_PER_TEAM):02d}"
            current = worker
            employment = "agency" if rng.random() < AGENCY_SHARE else "permanent"
            self.emit("social_worker.changed", day, worker_id=worker, team=team, employment=employment)
            day += timedelta(days=max(14, round(rng.expovariate(rate) * 365)))

    def _reviews(self, stop: date) -> None:
        """First within 20 working days, the second within 3 months, then every 6 months; some late."""
        rng = self.rng
        day = self.entered + timedelta(days=rng.randint(10, 26) if rng.random() < 0.92 else rng.randint(30, 45))
        gaps = [(70, 90)] + [(150, 180)] * 40
        for low, high in gaps:
            if day >= stop:
                return
            self.emit("review.held", day)
            late = rng.random() < 0.07
            day += timedelta(days=rng.randint(high + 3, high + 30) if late else rng.randint(low, high))

    def _health(self, stop: date) -> None:
        rng = self.rng
        day = self.entered + timedelta(days=rng.randint(8, 26) if rng.random() < 0.85 else rng.randint(30, 70))
        kind = "initial"
        while day < stop:
            self.emit("health_assessment.completed", day, kind=kind)
            kind = "review"
            limit = 182 if self.age_on(day) < 5 else 365
            late = rng.random() < 0.1
            day += timedelta(days=rng.randint(limit + 5, limit + 60) if late else rng.randint(limit - 60, limit - 5))
        day = self.entered + timedelta(days=rng.randint(20, 120))
        while day < stop:
            if self.age_on(day) >= 1:
                self.emit("dental_check.completed", day)
            late = rng.random() < 0.15
            day += timedelta(days=rng.randint(370, 450) if late else rng.randint(170, 350))

    def _education(self, stop: date) -> None:
        """PEPs for school-age children: initial within 20 working days, then each term; SDQ yearly (4–16)."""
        rng = self.rng
        day = self.entered + timedelta(days=rng.randint(7, 26) if rng.random() < 0.88 else rng.randint(30, 50))
        kind = "initial"
        while day < stop:
            if 4 <= self.age_on(day) < 18:
                self.emit("pep.completed", day, kind=kind)
                kind = "review"
            day += timedelta(days=rng.randint(95, 122) if rng.random() < 0.9 else rng.randint(125, 160))
        day = self.entered + timedelta(days=rng.randint(60, 300))
        level = rng.gauss(SDQ_MEAN, SDQ_CHILD_SD)
        while day < stop:
            if 4 <= self.age_on(day) <= 16:
                score = min(40, max(0, round(level + rng.gauss(0, SDQ_YEAR_SD))))
                self.emit("sdq.recorded", day, score=score)
            day += timedelta(days=rng.randint(330, 390))

    def _missing(self, stop: date) -> None:
        rng = self.rng
        if self.age_on(max(self.entered, self.emit_from)) < 10 or rng.random() >= MISSING_PRONE_SHARE_10_PLUS:
            return
        day = self.entered + timedelta(days=rng.randint(5, 120))
        number = 0
        while day < stop:
            number += 1
            episode = f"{self.child_id}-m{number}"
            went = datetime.combine(day, time(rng.randint(14, 23), rng.choice((0, 15, 30, 45))))
            back = went + timedelta(hours=rng.choice((3, 6, 12, 20, 30, 48, 70)))
            self.emit("missing.started", went, episode_id=episode)
            self.emit("missing.ended", back, episode_id=episode)
            self.emit("return_interview.completed", back + self._interview_after(), episode_id=episode)
            day = back.date() + timedelta(days=max(2, round(rng.expovariate(MISSING_PER_YEAR) * 365)))

    def _interview_after(self) -> timedelta:
        """Time from the return to the return interview: most within 72 hours, the rest days late and a
        few weeks late. Every episode gets one, as in an authority that chases them; those due after the
        window's end are not there yet, so only recent episodes lack one."""
        rng = self.rng
        roll = rng.random()
        if roll < RHI_WITHIN_72H:
            return timedelta(hours=rng.randint(4, 70))
        if roll < RHI_WITHIN_72H + RHI_LATE:
            return timedelta(days=rng.randint(4, 12))
        return timedelta(days=rng.randint(13, RHI_LATEST_DAYS))

    def _care_leaver(self, left: date) -> None:
        """Personal-adviser contact about every two months and a pathway-plan review every six, to 21."""
        rng = self.rng
        stop = min(self.end, add_years(self.born, 21))
        in_touch_habit = rng.random() < CARE_LEAVER_IN_TOUCH
        eet = rng.random() < CARE_LEAVER_EET
        day = left + timedelta(days=rng.randint(20, 60))
        while day < stop:
            in_touch = in_touch_habit or rng.random() < 0.3
            fields: dict[str, Any] = {"in_touch": in_touch}
            if in_touch:
                fields["activity"] = (
                    rng.choice(("F2", "F5", "P5", "F1", "F4")) if eet else rng.choice(("G5", "G4", "G6"))
                )
                suitable = rng.random() < CARE_LEAVER_SUITABLE
                fields["accommodation"] = rng.choice(("U", "D", "E", "Z", "B")) + ("1" if suitable else "2")
            else:
                fields["activity"], fields["accommodation"] = "0", "0"
            self.emit("care_leaver.contact", day, **fields)
            day += timedelta(days=rng.randint(45, 75))
        day = left + timedelta(days=rng.randint(60, 170))
        while day < stop:
            self.emit("pathway_plan.reviewed", day)
            day += timedelta(days=rng.randint(120, 180) if rng.random() < 0.9 else rng.randint(190, 240))


def _care_length_days(rng: random.Random) -> int:
    """How long a period of care is meant to last (an 18th birthday, a remand's end or an adoption may end it
    sooner): 28% under six months, 21% six months to two years, the rest longer. With those ends the stays
    average about :data:`MEAN_STAY_DAYS`."""
    roll = rng.random()
    if roll < 0.28:
        return rng.randint(20, 180)
    if roll < 0.49:
        return rng.randint(180, 730)
    return rng.randint(730, LONGEST_STAY_DAYS)


class _Population:
    def __init__(
        self, seed: int, children: int, months: int, start: date, bad_share: float, *, cin: bool, turn: bool
    ) -> None:
        self.rng = random.Random(seed)
        self.la = Authority(random.Random(self.rng.getrandbits(64)), seed, bad_share)
        self.seed = seed
        self.cin = cin
        self.turn = turn
        self.children = children
        self.start = start
        self.end = start + timedelta(days=round(months * 30.44))
        self.number = 0

    def new_child(self, entered: date, length: int, emit_from: date, short_breaks: bool = False) -> Child:
        rng = random.Random(self.rng.getrandbits(64))
        self.number += 1
        uasc = rng.random() < UASC_ENTRY_SHARE and not short_breaks
        if short_breaks:
            age = rng.randint(5, 16)
            setting = _weighted(rng, (("in-house-foster", 3), ("residential", 1)))
            if age < SETTINGS[setting].ages[0]:
                setting = "in-house-foster"
        elif uasc:
            age = rng.choice((14, 15, 16, 16, 16, 17, 17))
            setting = "supported" if age >= 16 else "external-foster"
        else:
            setting = _weighted(rng, ((name, s.weight) for name, s in SETTINGS.items()))
            low, high = SETTINGS[setting].ages
            bands = [(max(a, low), min(b, high), w) for a, b, w in ENTRY_AGES if max(a, low) <= min(b, high)]
            a, b, _ = bands[rng.choices(range(len(bands)), weights=[w for *_, w in bands])[0]]
            age = rng.randint(a, b)
        born = entered - timedelta(days=round(age * 365.25) + rng.randint(0, 364))
        eighteen = add_years(born, 18)
        if eighteen <= entered:
            born += timedelta(days=(entered - eighteen).days + 30)
            eighteen = add_years(born, 18)
        leaves = min(entered + timedelta(days=length), eighteen)
        child = Child(
            self.la, rng, f"c{self.number:06d}", born, entered, leaves, setting, uasc,
            TEAMS[self.number % len(TEAMS)], self.end, emit_from, short_breaks,
        )  # fmt: skip
        child.plan_legal_status()
        return child

    def run(self) -> list[dict[str, Any]]:
        rng = self.rng
        # The simulation starts a lead-in year before ``start``: children in care then (length-biased: long
        # stays are more likely to be in care on a date), entrants and leavers through the lead-in as through
        # the window. Every 12-month measure is then already steady on ``start``: leavers, legal-status and
        # placement changes before it are there, not only those after it.
        begin = self.start - timedelta(days=LEAD_IN_DAYS)
        snapshot = begin - timedelta(days=HISTORY_DAYS)
        # Those in care on a date are entrants drawn as the flow draws them, kept in proportion to how long
        # they actually stay (an 18th birthday, a remand's end or an adoption cuts a planned stay short), so
        # the children in care when the lead-in begins leave as fast as the flow replaces them.
        placed = 0
        while placed < self.children:
            child = self.new_child(begin, _care_length_days(rng), emit_from=snapshot)
            stay = (child.leaves - child.entered).days
            if rng.random() * LONGEST_STAY_DAYS >= stay:
                continue
            child.shift(timedelta(days=-rng.randint(0, stay - 1)))
            child.simulate()
            placed += 1
        # Care leavers aged 18–20 when the lead-in begins, who left care at 18 (the 17–21 cohort the board
        # follows); those turning 18 later leave care in the simulation itself.
        for _ in range(round(self.children * CARE_LEAVERS_PER_CHILD)):
            age_at_start = rng.uniform(18.05, 20.95)
            entered_at_age = rng.uniform(13.5, 16.8)
            entered = begin - timedelta(days=round((age_at_start - entered_at_age) * 365.25))
            child = self.new_child(entered, 3650, emit_from=snapshot)
            child.born = entered - timedelta(days=round(entered_at_age * 365.25))
            if child.setting in {"adoption", "with-parents"}:
                child.setting = "in-house-foster"
            child.leaves = child.eighteen
            child.plan_legal_status()  # again, for the age and setting just set; they stay in care to 18
            child.leaves = child.eighteen
            if child.entry_legal == "J1":
                child.entry_legal = "C2"
            child.simulate()
        # Entrants: a steady flow replacing leavers (UASC and older children stay shorter).
        per_day = self.children / MEAN_STAY_DAYS
        window = (self.end - begin).days
        elapsed = rng.expovariate(per_day)  # in fractional days: whole-day steps would bunch entrants
        turn_from = add_months(self.start, TURN_FROM_MONTH)
        turn_to = add_months(turn_from, TURN_MONTHS)
        while elapsed < window:
            entered = begin + timedelta(days=int(elapsed))
            self.new_child(entered, _care_length_days(rng), emit_from=date.min).simulate()
            rise = TURN_RISE if self.turn and turn_from <= entered < turn_to else 1.0
            elapsed += rng.expovariate(per_day * rise)
        # Children on a series of short breaks: some at the start of the lead-in, a steady flow after it.
        for _ in range(round(self.children * SHORT_BREAK_SHARE)):
            length = rng.randint(365, 4 * 365)
            entered = begin - timedelta(days=rng.randint(0, length - 1))
            self.new_child(entered, length, emit_from=snapshot, short_breaks=True).simulate()
        per_day = self.children * SHORT_BREAK_SHARE / (2.5 * 365)
        elapsed = rng.expovariate(per_day)
        while elapsed < window:
            entered = begin + timedelta(days=int(elapsed))
            self.new_child(entered, rng.randint(365, 4 * 365), emit_from=date.min, short_breaks=True).simulate()
            elapsed += rng.expovariate(per_day)
        events = self.la.events
        if self.cin:
            # Its own random stream and ids: the care histories above are the same with or without it.
            flow_rng = random.Random(f"cin-{self.seed}")
            la = Authority(random.Random(flow_rng.getrandbits(64)), self.seed, 0.0, prefix="-cin")
            population = round(self.children * 10_000 / LOOKED_AFTER_PER_10K)
            opening = random.Random(f"cin-open-{self.seed}")
            CinFlow(flow_rng, la.emit, population, begin, self.end, opening).run()
            events = events + la.events
        events.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in events]


def generate(
    seed: int, children: int = DEFAULT_CHILDREN, months: int = 12, start: date = date(2025, 4, 1),
    *, bad_share: float = 0.01, cin: bool = False, turn: bool = False,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Events of a synthetic authority over ``months`` from ``start``, in occurred order.

    The same arguments always give the same events and ids. Events before ``start`` are the history of the
    children already in care then. About ``bad_share`` of records are deliberately invalid. ``cin`` adds
    the children in need and child protection flow, ``turn`` the deliberate rise in entries to care.
    """
    if children < 1 or months < 1:
        raise ValueError("children and months must be at least 1")
    yield from _Population(seed, children, months, start, bad_share, cin=cin, turn=turn).run()


def write_ndjson(events: Iterable[dict[str, Any]], out: Path | TextIO) -> int:
    """Write events one per line; returns how many were written."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as handle:
            return write_ndjson(events, handle)
    count = 0
    for event in events:
        out.write(orjson.dumps(event).decode() + "\n")
        count += 1
    return count
