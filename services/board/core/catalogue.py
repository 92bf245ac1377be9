"""The board indicators of CONTRACT §3: id, title, unit, which direction is better, plain-English definition.

One entry per indicator id; everything that shows or exports an indicator (summary, metrics, pack) reads its
words and units from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.board import Direction as Direction
from schemas.board import Unit as Unit
from schemas.codes import PLACEMENT_GROUPS


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    title: str
    unit: Unit
    better: Direction
    definition: str
    source: str
    needs_population: bool = False
    may_be_unknown: bool = False
    """Children can be left out of it as not known (``<id>.unknown``: their period began before the data)."""

    @property
    def is_count(self) -> bool:
        return self.unit == "count"

    @property
    def definition_in_full(self) -> str:
        """The definition, with what happens to children for whom the figure is not known."""
        return f"{self.definition} {NOT_KNOWN}" if self.may_be_unknown else self.definition


NOT_KNOWN: Final = (
    "Children whose period of care began before the data carewatch holds, so that the earlier history this "
    "needs is missing, are left out and counted beside the figure as not known."
)


_DFE_CLA = "DfE, Children looked after in England including adoptions (SSDA903)"
_DFE_STABILITY = "DfE, Stability measures for children looked after in England"
_DFE_OC2 = "DfE, CLA on 31 March for 12 months: health outcomes (SSDA903 OC2)"
_DFE_OC3 = "DfE, Care leavers (SSDA903 OC3)"
_DFE_MISSING = "DfE, CLA who were missing or away from placement without authorisation"
_LOCAL = "Local measure (no national statistic)"
_CCO_STABILITY = "Children's Commissioner, Stability Index (no DfE statistic)"
_DFE_WORKFORCE = "DfE, Children's social work workforce (agency worker rate, per worker FTE)"

_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "cla-count",
        "Children looked after",
        "count",
        "neutral",
        "Children looked after on the date, excluding children on a series of short breaks (V3/V4).",
        _DFE_CLA,
    ),
    Indicator(
        "cla-rate-per-10k",
        "Children looked after per 10,000 children",
        "rate-per-10k",
        "neutral",
        "Children looked after on the date for every 10,000 children aged 0 to 17 living in the area.",
        _DFE_CLA,
        needs_population=True,
    ),
    Indicator(
        "entered-care-12m",
        "Children who started to be looked after (12 months)",
        "count",
        "neutral",
        "Children who started a period of care in the 12 months up to the date (each child once).",
        _DFE_CLA,
    ),
    Indicator(
        "left-care-12m",
        "Children who ceased to be looked after (12 months)",
        "count",
        "neutral",
        "Children whose period of care ended in the 12 months up to the date (each child once).",
        _DFE_CLA,
    ),
    Indicator(
        "placements-3plus-12m",
        "Three or more placements in 12 months",
        "percent",
        "lower",
        "Of the children looked after on the date, the share who had three or more placements in the "
        "12 months up to it (temporary moves such as holidays and hospital stays are not counted).",
        _DFE_STABILITY,
        may_be_unknown=True,
    ),
    Indicator(
        "long-term-stability",
        "Long-term placement stability",
        "percent",
        "higher",
        "Of the children under 16 looked after continuously for at least two and a half years, the share "
        "who have lived in the same placement for at least two years (or are placed for adoption with "
        "the carers they had lived with for that long).",
        _DFE_CLA,
        may_be_unknown=True,
    ),
    Indicator(
        "social-workers-3plus-12m",
        "Three or more social workers in 12 months",
        "percent",
        "lower",
        "Of the children looked after on the date, the share who had three or more different social "
        "workers in the 12 months up to it (a worker who comes back is counted once).",
        _DFE_STABILITY,
    ),
    Indicator(
        "social-worker-changed-12m",
        "Change of social worker in 12 months",
        "percent",
        "lower",
        "Of the children looked after on the date, the share who had at least one change of social worker "
        "in the 12 months up to it (the first social worker allocated is not a change).",
        _CCO_STABILITY,
    ),
    Indicator(
        "agency-sw-share",
        "Children whose social worker is an agency worker",
        "percent",
        "lower",
        "Of the children looked after on the date with an allocated social worker whose employment is "
        "recorded, the share whose social worker is an agency worker. Each child counts once, so this "
        "weighs workers by their caseload and is not the DfE agency worker rate, which counts workers.",
        _DFE_WORKFORCE,
    ),
    Indicator(
        "visits-in-timescale",
        "Social worker visits in timescale",
        "percent",
        "higher",
        "Of the children looked after on the date with a placement, the share whose statutory social "
        "worker visit is not overdue: within a week of a placement starting, then at least every 6 weeks "
        "(every 3 months after the first year of a placement meant to last until 18).",
        _LOCAL,
    ),
    Indicator(
        "reviews-in-timescale",
        "Looked-after reviews in timescale",
        "percent",
        "higher",
        "Of the children looked after on the date, the share whose statutory review is not overdue: the "
        "first within 20 working days of care starting, the second within 3 months, then every 6 months.",
        _LOCAL,
    ),
    Indicator(
        "pathway-plans-in-date",
        "Care leavers with a pathway plan in date",
        "percent",
        "higher",
        "Of the care leavers under 21, the share whose pathway plan has been reviewed in the last 6 months "
        "(counted from the day they left care when there has been no review since).",
        _LOCAL,
    ),
    Indicator(
        "iha-within-20wd",
        "Initial health assessment within 20 working days",
        "percent",
        "higher",
        "Of the children who started care in the 12 months up to the date and whose 20-working-day "
        "deadline has passed, the share whose initial health assessment was done by the deadline (one "
        "done in the three months before care started also counts).",
        _LOCAL,
    ),
    Indicator(
        "rha-in-date",
        "Health assessment in date",
        "percent",
        "higher",
        "Of the children looked after continuously for at least 12 months, the share whose last health "
        "assessment was within 6 months (under-5s) or 12 months (aged 5 and over).",
        _DFE_OC2,
    ),
    Indicator(
        "dental-in-date",
        "Dental check in date",
        "percent",
        "higher",
        "Of the children looked after continuously for at least 12 months, the share who had a dental "
        "check in the 12 months up to the date.",
        _DFE_OC2,
    ),
    Indicator(
        "pep-in-date",
        "Personal education plan in date",
        "percent",
        "higher",
        "Of the children aged 4 to 17 looked after for at least 20 working days, the share with a "
        "personal education plan written or reviewed in the last 4 months of this period of care.",
        _LOCAL,
    ),
    Indicator(
        "sdq-concern",
        "Emotional wellbeing a cause for concern (SDQ 17+)",
        "percent",
        "lower",
        "Of the children aged 4 to 16 looked after continuously for at least 12 months who have a "
        "Strengths and Difficulties Questionnaire score from the last 12 months, the share whose latest "
        "score is 17 or more.",
        _DFE_OC2,
    ),
    Indicator(
        "missing-children-12m",
        "Children who went missing (12 months)",
        "count",
        "lower",
        "Children looked after who had at least one missing episode starting in the 12 months up to the date.",
        _DFE_MISSING,
    ),
    Indicator(
        "rhi-within-72h",
        "Return interviews within 72 hours",
        "percent",
        "higher",
        "Of the missing episodes that ended in the 12 months up to the date (and at least 72 hours "
        "before it), the share followed by a return interview within 72 hours of the return.",
        _LOCAL,
    ),
    Indicator(
        "care-leavers-in-touch",
        "Care leavers aged 19 to 21 in touch",
        "percent",
        "higher",
        "Of the care leavers aged 19 to 21, the share whose latest contact in the last 12 months found "
        "them in touch (no contact counts as not in touch).",
        _DFE_OC3,
    ),
    Indicator(
        "care-leavers-eet-19-21",
        "Care leavers aged 19 to 21 in education, employment or training",
        "percent",
        "higher",
        "Of the care leavers aged 19 to 21, the share whose latest contact in the last 12 months records "
        "education, employment or training.",
        _DFE_OC3,
    ),
    Indicator(
        "care-leavers-suitable-accommodation-19-21",
        "Care leavers aged 19 to 21 in suitable accommodation",
        "percent",
        "higher",
        "Of the care leavers aged 19 to 21, the share whose latest contact in the last 12 months records "
        "accommodation considered suitable.",
        _DFE_OC3,
    ),
    Indicator(
        "care-leavers-in-touch-17-18",
        "Care leavers aged 17 and 18 in touch",
        "percent",
        "higher",
        "Of the care leavers aged 17 and 18, the share whose latest contact in the last 12 months found "
        "them in touch (no contact counts as not in touch).",
        _DFE_OC3,
    ),
    Indicator(
        "care-leavers-eet-17-18",
        "Care leavers aged 17 and 18 in education, employment or training",
        "percent",
        "higher",
        "Of the care leavers aged 17 and 18, the share whose latest contact in the last 12 months records "
        "education, employment or training.",
        _DFE_OC3,
    ),
    Indicator(
        "care-leavers-suitable-accommodation-17-18",
        "Care leavers aged 17 and 18 in suitable accommodation",
        "percent",
        "higher",
        "Of the care leavers aged 17 and 18, the share whose latest contact in the last 12 months records "
        "accommodation considered suitable.",
        _DFE_OC3,
    ),
    Indicator(
        "uasc-count",
        "Unaccompanied asylum-seeking children looked after",
        "count",
        "neutral",
        "Unaccompanied asylum-seeking children looked after on the date.",
        _DFE_CLA,
    ),
    Indicator(
        "uasc-share-of-child-population",
        "Unaccompanied asylum-seeking children as a share of all children",
        "percent",
        "neutral",
        "Unaccompanied asylum-seeking children looked after as a percentage of the children aged 0 to 17 "
        "living in the area; the National Transfer Scheme threshold is 0.1%.",
        "Home Office, National Transfer Scheme protocol",
        needs_population=True,
    ),
    *(
        Indicator(
            f"placement-mix.{group}",
            f"Placement mix: {group.replace('-', ' ')}",
            "percent",
            "neutral",
            f"Of the children looked after on the date who have a placement, the share whose current "
            f"placement is in the \u201c{group.replace('-', ' ')}\u201d group (SSDA903 codes "
            f"{', '.join(sorted(codes))}).",
            _DFE_CLA,
        )
        for group, codes in PLACEMENT_GROUPS.items()
    ),
)

INDICATORS: Final[dict[str, Indicator]] = {indicator.id: indicator for indicator in _INDICATORS}
PLACEMENT_MIX_IDS: Final = tuple(f"placement-mix.{group}" for group in PLACEMENT_GROUPS)
UASC_NTS_THRESHOLD_PERCENT: Final = 0.1


_DFE_CIN = "DfE, Children in need (CIN census)"
_MONTHLY = (
    "Shown month by month as a statistical process control chart (early-warning section), from the case "
    "events; not in the headline table."
)

_AUTHORITY_INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "entered-care-month",
        "Children starting to be looked after (per month)",
        "count",
        "lower",
        "Periods of care starting in the month (a child starting twice counts twice). A rise is the early "
        f"warning the board asks for; lower is not better in itself for any one child. {_MONTHLY}",
        _DFE_CLA,
    ),
    Indicator(
        "re-entered-care-12m",
        "Re-entries to care within 12 months",
        "percent",
        "lower",
        "Of the periods of care starting in the month, the share that started within 12 months of the "
        f"child's previous period of care ending. {_MONTHLY}",
        "Local measure (DfE published re-entry once, in 2013; Ofsted Annex A list 8 flags it per child)",
    ),
    Indicator(
        "referrals-rate-per-10k",
        "Referrals per 10,000 children",
        "rate-per-10k",
        "neutral",
        "Referrals received in the month (DfE counts referrals, not children) for every 10,000 children "
        f"aged 0 to 17 living in the area. A measure of demand: no direction is better. {_MONTHLY}",
        _DFE_CIN,
        needs_population=True,
    ),
    Indicator(
        "re-referrals-12m",
        "Re-referrals within 12 months",
        "percent",
        "lower",
        "Of the referrals received in the month, the share received within 12 months of a previous referral "
        f"of the same child (DfE: re-referrals divided by all referrals). {_MONTHLY}",
        _DFE_CIN,
    ),
    Indicator(
        "assessments-within-45wd",
        "Assessments completed within 45 working days",
        "percent",
        "higher",
        "Of the assessments completed in the month, the share completed on or before the 45th working day "
        "after the referral (Working Together 2023; England bank holidays are not working days). "
        f"{_MONTHLY}",
        _DFE_CIN,
    ),
    Indicator(
        "cp-plans-rate-per-10k",
        "Children subject to a child protection plan per 10,000 children",
        "rate-per-10k",
        "neutral",
        "Children subject to a child protection plan on the last day of the month for every 10,000 children "
        f"aged 0 to 17 living in the area. A measure of demand: no direction is better. {_MONTHLY}",
        _DFE_CIN,
        needs_population=True,
    ),
    Indicator(
        "cp-plans-second-or-subsequent",
        "Child protection plans for a second or later time",
        "percent",
        "lower",
        "Of the children who became subject to a child protection plan in the month, the share who had been "
        f"subject to a plan before, however long ago (DfE table D3). {_MONTHLY}",
        _DFE_CIN,
    ),
    Indicator(
        "cp-plans-ended-2y-plus",
        "Child protection plans lasting 2 years or more",
        "percent",
        "lower",
        "Of the child protection plans that ended in the month, the share that had lasted 2 years or more "
        f"(DfE table D7). {_MONTHLY}",
        _DFE_CIN,
    ),
    Indicator(
        "cin-rate-per-10k",
        "Children in need per 10,000 children",
        "rate-per-10k",
        "neutral",
        "Children in need on the last day of the month (an open episode of need, or looked after) for every "
        "10,000 children aged 0 to 17 living in the area. Referrals with no further action and children "
        f"assessed as not in need are not counted. A measure of demand: no direction is better. {_MONTHLY}",
        _DFE_CIN,
        needs_population=True,
    ),
)

AUTHORITY_INDICATORS: Final[dict[str, Indicator]] = {indicator.id: indicator for indicator in _AUTHORITY_INDICATORS}
"""The children in need, child protection and entries-to-care series of the authority (computed month by
month from the case events, :mod:`services.board.core.cin_indicators`): charted and watched for authority
alerts, not part of the daily board summary."""
ALL_INDICATORS: Final[dict[str, Indicator]] = {**INDICATORS, **AUTHORITY_INDICATORS}
"""Every board indicator, for what describes them all (the pack's definitions)."""
