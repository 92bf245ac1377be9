"""The synthetic authority's children in need and child protection flow (CONTRACT §5 events).

Referrals arrive at the national rate for the authority's child population, and each is followed through
the journey with the national shares of ``domain/cin-cp.md`` §1.2 (year ending 31 March 2025): no further
action, assessment (85.7% within 45 working days), assessed not in need, section 47 enquiry, initial child
protection conference (81.4% within 15 working days), child protection plan (length bands of table D7,
visits about every 10 working days, reviews at 3 then 6 months, a few late), child in need plan, closure;
re-referrals within 12 months at about the national 22.6%. The population is the looked-after count over
the national rate of children looked after per 10,000 (67), so the demo county of 396 children in care
has about 59,100 children and 3,100 referrals a year. ``tests/unit/test_generator_cin.py`` holds the figures
the flow reproduces beside the reference's.

Randomness comes only from the ``random.Random`` given; nothing reads the clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from services.rules.core.calendar import add_working_days

LOOKED_AFTER_PER_10K: Final = 67.0
"""Children looked after per 10,000 children (England, 31 March 2025, reference §3.1; the demo's rate too):
turns the care count into a population."""
REFERRALS_PER_10K_YEAR: Final = 527.0
"""632,830 referrals (2025) over about 12.0 million children (399,460 in need at 332.9 per 10,000)."""
RE_REFERRAL_SHARE: Final = 0.226
NFA_SHARE: Final = 0.065
ASSESSED_NOT_IN_NEED: Final = 0.329
"""30.8% of referrals were assessed not in need: of the 93.5% assessed, about a third."""
ASSESSMENT_WITHIN_45WD: Final = 0.83
"""Drawn per assessment; those cut short by a child protection plan bring the share to about 85.7%."""
S47_SHARE_OF_ASSESSED: Final = 0.38
"""230,590 enquiries over 632,830 referrals, about 36%; of those assessed, 38%."""
ICPC_SHARE_OF_S47: Final = 0.31
ICPC_WITHIN_15WD: Final = 0.814
PLAN_AT_ICPC: Final = 0.86
"""61,840 plans started over 72,100 conferences."""
SECOND_PLAN_SHARE: Final = 0.2
CATEGORIES: Final = (("NEG", 50), ("EMO", 34), ("PHY", 7), ("SAB", 3), ("MUL", 6))
PLAN_LENGTH_BANDS: Final = (((20, 91), 15.9), ((92, 182), 11.0), ((183, 364), 43.5), ((365, 729), 25.2),
                            ((730, 900), 4.4))  # fmt: skip
"""Lengths of plans when they end, table D7 bands (the last band, 2 years or more, capped at 900 days)."""
ON_PLAN_PER_10K: Final = 41.2
"""Children subject to a plan on a date per 10,000 (49,420 over 12.0 million, 31 March 2025): the plans
already open when the flow begins, so plans of every length end from its first day (without them no plan
ending in the demo year could have lasted two years)."""
CIN_PLAN_SHARE: Final = 0.45
LATE_VISIT: Final = 0.03
LATE_REVIEW: Final = 0.05
SOURCES: Final = (("6", 28), ("2A", 21), ("3A", 3), ("3B", 3), ("3E", 3), ("3F", 5), ("1A", 7), ("1C", 2),
                  ("5A", 4), ("5D", 8), ("8", 8), ("9", 2), ("4", 2), ("7", 4))  # fmt: skip
NEEDS: Final = (("N1", 56), ("N2", 9), ("N3", 4), ("N4", 11), ("N5", 14), ("N6", 2), ("N7", 1), ("N8", 3))
TEAMS: Final = ("cin-north", "cin-south")

Emit = Callable[..., object]
"""``emit(event_type, child_id, day, **fields)``."""


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, float], ...]) -> Any:
    names, weights = zip(*pairs, strict=True)
    return rng.choices(names, weights=weights)[0]


@dataclass
class CinFlow:
    rng: random.Random
    emit: Emit
    population: int
    begin: date
    end: date
    opening: random.Random = field(default_factory=lambda: random.Random(0))
    """The random stream of the plans open when the flow begins: apart, so the flow itself draws the same
    whether they are there or not."""
    number: int = 0
    closed: dict[str, tuple[date, date, int]] = field(default_factory=dict)
    """Child → (last referral, case closed on, plans so far): who may be referred again."""

    def _out(self, kind: str, child: str, day: date, **fields: Any) -> bool:
        if day >= self.end:
            return False
        self.emit(kind, child, day, **fields)
        return True

    def run(self) -> None:
        per_day = self.population * REFERRALS_PER_10K_YEAR / 10_000 / 365
        elapsed = self.rng.expovariate(per_day)
        window = (self.end - self.begin).days
        while elapsed < window:
            day = self.begin + timedelta(days=int(elapsed))
            self._referral(day)
            elapsed += self.rng.expovariate(per_day)
        self._open_plans()  # last: the flow's events keep the ids and recording times they had without them

    def _open_plans(self) -> None:
        """Children already on a plan when the flow begins: lengths drawn as plans end, kept in proportion
        to their length (a long plan is more likely to be open on a date), each begun a uniform time before
        ``begin``. Only the plans are there, not the referrals, enquiries and conferences before them: the
        board's monthly series (re-referrals, assessments in time) then begin with the flow, not with months
        holding a few old referrals each."""
        rng = self.opening
        longest = max(high for (_, high), _ in PLAN_LENGTH_BANDS)
        for number in range(1, round(self.population * ON_PLAN_PER_10K / 10_000) + 1):
            while True:
                low, high = _weighted(rng, PLAN_LENGTH_BANDS)
                length = rng.randint(low, high)
                if rng.random() * longest < length:
                    break
            start = self.begin - timedelta(days=rng.randint(0, length - 1))
            child, plans = f"kp{number:05d}", 1 if rng.random() < SECOND_PLAN_SHARE else 0
            ref = f"{child}-r{start:%y%m%d}"
            ended = self._cp_plan(child, f"{ref}-p", start, plans, length, rng)
            # Closed, and not among those the flow refers again (its draws stay its own).
            self._out("case.closed", child, ended + timedelta(days=rng.randint(1, 60)), reason="RC7")

    def _child_for(self, day: date) -> tuple[str, int]:
        rng = self.rng
        if rng.random() < RE_REFERRAL_SHARE:
            for child in [c for c, (referred, _, _) in self.closed.items() if (day - referred).days >= 365]:
                del self.closed[child]
            recent = [(child, plans) for child, (_, closed, plans) in self.closed.items() if closed < day]
            if recent:
                return rng.choice(sorted(recent))
        self.number += 1
        plans = 1 if rng.random() < SECOND_PLAN_SHARE else 0
        return f"k{self.number:06d}", plans

    def _referral(self, day: date) -> None:
        rng = self.rng
        child, plans = self._child_for(day)
        self.closed.pop(child, None)
        ref = f"{child}-r{day:%y%m%d}"
        self._out("referral.received", child, day, referral_id=ref, source=_weighted(rng, SOURCES),
                  primary_need=_weighted(rng, NEEDS), team=TEAMS[self.number % len(TEAMS)])  # fmt: skip
        if rng.random() < NFA_SHARE:
            self._out("referral.outcome", child, day, referral_id=ref, outcome="no_further_action")
            self._close(child, day, day + timedelta(days=1), "RC8", plans)
            return
        self._out("referral.outcome", child, day, referral_id=ref, outcome="assessment")
        started = day + timedelta(days=rng.randint(0, 3))
        assessment = f"{ref}-a"
        self._out("assessment.started", child, started, assessment_id=assessment, referral_id=ref)
        within = rng.random() < ASSESSMENT_WITHIN_45WD
        length = round(rng.triangular(1, 45, 40)) if within else rng.randint(46, 75)
        completed = max(started, add_working_days(day, length))
        enquiry = rng.random() < S47_SHARE_OF_ASSESSED
        in_need = enquiry or rng.random() >= ASSESSED_NOT_IN_NEED
        plan_from: date | None = None
        if enquiry:
            plan_from = self._enquiry(child, f"{ref}-s", started + timedelta(days=rng.randint(0, 5)))
            if plan_from is not None:
                completed = min(completed, plan_from)
        self._out("assessment.completed", child, completed, assessment_id=assessment, referral_id=ref,
                  child_in_need=in_need)  # fmt: skip
        if not in_need:
            self._close(child, day, completed + timedelta(days=rng.randint(1, 3)), "RC8", plans)
            return
        after = completed
        if plan_from is not None:
            after = self._cp_plan(child, f"{ref}-p", plan_from, plans)
            plans += 1
        if rng.random() < CIN_PLAN_SHARE:
            start = after + timedelta(days=rng.randint(0, 10))
            finish = start + timedelta(days=rng.randint(90, 360))
            self._out("cin_plan.started", child, start, plan_id=f"{ref}-n")
            self._out("cin_plan.ended", child, finish, plan_id=f"{ref}-n")
            after = finish
        self._close(child, day, after + timedelta(days=rng.randint(1, 60)), "RC7", plans)

    def _enquiry(self, child: str, enquiry: str, start: date) -> date | None:
        """A section 47 enquiry; the date of the plan when the conference decides on one."""
        rng = self.rng
        self._out("s47.started", child, start, enquiry_id=enquiry)
        if rng.random() >= ICPC_SHARE_OF_S47:
            done = add_working_days(start, rng.randint(5, 15))
            self._out("s47.completed", child, done, enquiry_id=enquiry,
                      outcome=rng.choice(("no_further_action", "cin_plan")))  # fmt: skip
            return None
        days = rng.randint(8, 15) if rng.random() < ICPC_WITHIN_15WD else rng.randint(16, 25)
        conference = add_working_days(start, days)
        self._out("s47.completed", child, conference - timedelta(days=1), enquiry_id=enquiry, outcome="icpc")
        decided = rng.random() < PLAN_AT_ICPC
        self._out("icpc.held", child, conference, enquiry_id=enquiry, plan_decided=decided)
        return conference if decided else None

    def _cp_plan(
        self, child: str, plan: str, start: date, previous: int, length: int | None = None,
        rng: random.Random | None = None,
    ) -> date:  # fmt: skip
        """A child protection plan from ``start`` (lasting ``length`` days, or drawn from the national
        bands): visits, reviews, its end; returns the end date. Draws from ``rng`` (default the flow's)."""
        rng = rng or self.rng
        if length is None:
            low, high = _weighted(rng, PLAN_LENGTH_BANDS)
            length = rng.randint(low, high)
        ends = start + timedelta(days=length)
        self._out("cp_plan.started", child, start, plan_id=plan, category=_weighted(rng, CATEGORIES),
                  previous_plans=previous)  # fmt: skip
        day = start + timedelta(days=rng.randint(2, 9))
        while day < ends:
            self._out("cp_visit.completed", child, day, plan_id=plan, seen_alone=rng.random() < 0.7)
            late = rng.random() < LATE_VISIT
            day += timedelta(days=rng.randint(16, 25) if late else rng.randint(5, 12))
        day = start + timedelta(days=rng.randint(95, 110) if rng.random() < LATE_REVIEW else rng.randint(70, 90))
        while day < ends:
            self._out("cp_review.held", child, day, plan_id=plan)
            late = rng.random() < LATE_REVIEW
            day += timedelta(days=rng.randint(186, 200) if late else rng.randint(150, 180))
        self._out("cp_plan.ended", child, ends, plan_id=plan)
        return ends

    def _close(self, child: str, referred: date, day: date, reason: str, plans: int) -> None:
        if self._out("case.closed", child, day, reason=reason):
            self.closed[child] = (referred, day, plans)
