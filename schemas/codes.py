"""SSDA903 code lists: the one place in carewatch where a code is defined.

Codes are those of the DfE Children looked after return (SSDA903) as listed in the maintained DfE validator
(see ``shared/domain/reference.md`` §2.3). Every other module imports from here; no code list is repeated.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Legal status (validator rule 144). W1 (wardship) and D1 after Dec 2005 are historic.
LEGAL_STATUS: Final = MappingProxyType(
    {
        "C1": "Interim care order",
        "C2": "Full care order",
        "D1": "Freeing order granted",
        "E1": "Placement order granted",
        "V2": "Single period of accommodation under section 20",
        "V3": "Series of short-term breaks (individual episodes recorded)",
        "V4": "Series of short-term breaks (agreements recorded)",
        "L1": "Police protection, in LA accommodation",
        "L2": "Emergency protection order",
        "L3": "Child assessment order, in LA accommodation",
        "J1": "Remanded to LA or youth detention accommodation",
        "J2": "Placed in LA accommodation under PACE 1984",
        "J3": "Youth Rehabilitation Order with residence or intensive fostering requirement",
    }
)
SHORT_BREAK_LEGAL_STATUSES: Final = frozenset({"V3", "V4"})

# Placement type (validator rule 146, union of the 2022/23–2025/26 lists so history still validates).
PLACEMENT_TYPE: Final = MappingProxyType(
    {
        "A3": "Placed for adoption with consent, with current foster carer(s)",
        "A4": "Placed for adoption with consent, not with current foster carer(s)",
        "A5": "Placed for adoption with placement order, with current foster carer(s)",
        "A6": "Placed for adoption with placement order, not with current foster carer(s)",
        "H5": "Semi-independent living accommodation (withdrawn 2025/26)",
        "K1": "Secure children's home",
        "K2": "Children's home subject to Children's Homes Regulations",
        "K3": "Registered supported accommodation",
        "P1": "Placed with own parent(s) or person(s) with parental responsibility",
        "P2": "Independent living (withdrawn 2025/26)",
        "P3": "Residential employment",
        "R1": "Residential care home",
        "R2": "NHS/health trust or other establishment providing medical or nursing care",
        "R3": "Family centre or mother and baby unit",
        "R5": "Young offender institution",
        "S1": "Residential school (not dual-registered as a children's home)",
        "T0": "Temporary move (any type)",
        "T1": "Temporary period in hospital",
        "T2": "Temporary absence on holiday",
        "T3": "Temporary accommodation while normal foster carer(s) on holiday",
        "T4": "Temporary accommodation of seven days or less",
        "U1": "Foster placement with relative(s) or friend(s), long term",
        "U2": "Foster placement with relative(s) or friend(s) who are approved adopters (FFA/concurrent)",
        "U3": "Foster placement with relative(s) or friend(s), not long term or FFA",
        "U4": "Foster placement with other foster carer(s), long term",
        "U5": "Foster placement with other foster carer(s) who are approved adopters (FFA/concurrent)",
        "U6": "Foster placement with other foster carer(s), not long term or FFA",
        "Z1": "Other placement (withdrawn 2025/26)",
        "Z11": "Other placement (Z11)",
        "Z12": "Other placement (Z12)",
        "Z13": "Other placement (Z13)",
        "Z14": "Other placement (Z14)",
    }
)
TEMPORARY_PLACEMENTS: Final = frozenset({"T0", "T1", "T2", "T3", "T4"})
ADOPTION_PLACEMENTS: Final = frozenset({"A3", "A4", "A5", "A6"})
FOSTER_PLACEMENTS: Final = frozenset({"U1", "U2", "U3", "U4", "U5", "U6"})
LONG_TERM_FOSTER_PLACEMENTS: Final = frozenset({"U1", "U4"})
# Settings in which a child under 16 may no longer be placed (ban on unregulated placements, 9 Sept 2021;
# K3/H5/P2 minimum age 16 — validator rules 370/371). Z codes are "other arrangements".
NOT_ALLOWED_UNDER_16: Final = frozenset({"H5", "K3", "P2", "Z1", "Z11", "Z12", "Z13", "Z14"})

# Board placement-mix groups (tool groupings, not DfE-official; reference §2.3).
PLACEMENT_GROUPS: Final = MappingProxyType(
    {
        "foster": FOSTER_PLACEMENTS,
        "residential": frozenset({"K1", "K2", "R1", "S1"}),
        "supported": frozenset({"H5", "K3", "P2"}),
        "with-parents": frozenset({"P1"}),
        "adoption": ADOPTION_PLACEMENTS,
        "other": frozenset({"P3", "R2", "R3", "R5", "Z1", "Z11", "Z12", "Z13", "Z14"}),
        "temporary": TEMPORARY_PLACEMENTS,
    }
)

PLACEMENT_PROVIDER: Final = MappingProxyType(
    {
        "PR0": "Parent(s) or other person(s) with parental responsibility",
        "PR1": "Own provision (by the LA)",
        "PR2": "Other LA provision",
        "PR3": "Other public provision",
        "PR4": "Private provision",
        "PR5": "Voluntary/third sector provision",
    }
)

SW_CHANGE_REASON: Final = MappingProxyType(
    {
        "MANAGE": "Managing caseloads",
        "FCONTA": "First contact or re-referral",
        "LEFTRL": "Social worker left the role or the authority",
        "ORGRST": "Organisational restructure",
        "TSPROC": "New social worker after a transfer by standard process",
        "ABSENC": "Absence cover or return from absence",
        "CHCHAN": "Child requested a change from the previous social worker",
        "PCCHAN": "Parent or carer requested a change",
        "SWDIED": "Social worker died",
        "OTHERS": "Other",
    }
)
"""SSDA903 SW_REASON, the reason for a social-worker episode (validator SW13, required from 1 April 2023);
labels from reference §2 (LEFTRL, ORGRST, PCCHAN, SWDIED inferred)."""

REASON_PLACE_CHANGE: Final = MappingProxyType(
    {
        "CARPL": "Change to/implementation of care plan",
        "CLOSE": "Resignation/closure of provision",
        "ALLEG": "Allegation (s47)",
        "STAND": "Standards of care concern",
        "APPRR": "Approval removed",
        "CREQB": "Carer(s) requested placement end due to child's behaviour",
        "CREQO": "Carer(s) requested placement end other than due to child's behaviour",
        "CHILD": "Child requested placement end",
        "LAREQ": "Responsible/area authority requested placement end",
        "PLACE": "Change in the status of placement only",
        "CUSTOD": "Custody arrangement",
        "OTHER": "Other",
    }
)
UNPLANNED_PLACEMENT_ENDINGS: Final = frozenset({"CREQB", "CREQO", "CHILD", "ALLEG", "STAND"})

# Reason episode ceased (validator rule 149). X1 is a continuation, not leaving care.
REASON_EPISODE_CEASED: Final = MappingProxyType(
    {
        "X1": "Episode ceases and a new one begins on the same day",
        "E11": "Adopted, application unopposed",
        "E12": "Adopted, consent dispensed with",
        "E2": "Died",
        "E3": "Care taken over by another LA in the UK",
        "E4A": "Returned home as part of the care planning process",
        "E4B": "Returned home not as part of the care planning process",
        "E13": "Left care to live with parent(s)/relative(s) with no parental responsibility",
        "E41": "Residence / child arrangements order granted",
        "E45": "SGO to former foster carer(s) who were relatives or friends",
        "E46": "SGO to former foster carer(s), not relatives or friends",
        "E47": "SGO to other carer(s) who are relatives or friends",
        "E48": "SGO to other carer(s), not relatives or friends",
        "E5": "Moved into independent living with formalised support",
        "E6": "Moved into independent living without formalised support",
        "E7": "Transferred to residential care funded by adult social care",
        "E8": "Ceased for any other reason",
        "E9": "Sentenced to custody",
        "E14": "Accommodation on remand ended",
        "E15": "Age assessment determined the child is aged 18 or over",
        "E16": "Child moved abroad",
        "E17": "Aged 18 or over and remained with current carers (Staying Put)",
    }
)
CARE_ENDED_REASONS: Final = frozenset(code for code in REASON_EPISODE_CEASED if code != "X1")

# Reason for new episode (validator rule 143).
REASON_NEW_EPISODE: Final = MappingProxyType(
    {
        "S": "Started to be looked after",
        "L": "Change of legal status only",
        "P": "Change of placement and carer(s) only",
        "T": "Change of placement but same carer(s) only",
        "B": "Change of legal status and placement and carer(s)",
        "U": "Change of legal status and placement but same carer(s)",
    }
)
PLACEMENT_CHANGE_RNE: Final = frozenset({"P", "T", "B", "U"})
LEGAL_CHANGE_RNE: Final = frozenset({"L", "B", "U"})

MISSING_TYPE: Final = MappingProxyType({"M": "Missing from care", "A": "Away without authorisation"})

# OC3 care-leaver codes.
IN_TOUCH: Final = MappingProxyType(
    {
        "YES": "In touch",
        "NO": "Not in touch",
        "DIED": "Died after leaving care",
        "REFU": "Young person refuses contact",
        "NREQ": "No longer requires services",
        "RHOM": "Returned home to parents for 6 months or more",
    }
)
ACTIVITY: Final = MappingProxyType(
    {
        "F1": "Full time in higher education",
        "P1": "Part time in higher education",
        "F2": "Full time in education other than higher education",
        "P2": "Part time in education other than higher education",
        "F3": "Full time training or employment (until 2020/21)",
        "P3": "Part time training or employment (until 2020/21)",
        "F4": "Full time apprenticeship",
        "P4": "Part time apprenticeship",
        "F5": "Full time training or employment",
        "P5": "Part time training or employment",
        "G4": "NEET: illness or disability",
        "G5": "NEET: other circumstances",
        "G6": "NEET: pregnancy or parenting",
        "0": "Not in touch, died, or returned home",
    }
)
EET_ACTIVITIES: Final = frozenset({"F1", "P1", "F2", "P2", "F3", "P3", "F4", "P4", "F5", "P5"})
NEET_ACTIVITIES: Final = frozenset({"G4", "G5", "G6"})

ACCOMMODATION_TYPES: Final = MappingProxyType(
    {
        "B": "With parents or relatives",
        "C": "Community home or other residential",
        "D": "Semi-independent transitional accommodation",
        "E": "Supported lodgings",
        "G": "Gone abroad",
        "H": "Deported",
        "K": "Ordinary lodgings without formal support",
        "R": "Residence not known",
        "S": "No fixed abode / homeless",
        "T": "Foyer",
        "U": "Independent living",
        "V": "Emergency accommodation",
        "W": "Bed and breakfast",
        "X": "In custody",
        "Y": "Other",
        "Z": "With former foster carer(s) (Staying Put)",
    }
)
# Suffix 1 = considered suitable, 2 = unsuitable; S1 and X1 are not valid (validator rule 133).
ACCOMMODATION: Final = MappingProxyType(
    {
        "0": "Not known, not in touch, died or returned home",
        **{
            f"{letter}{digit}": f"{label}, {'suitable' if digit == '1' else 'unsuitable'}"
            for letter, label in ACCOMMODATION_TYPES.items()
            for digit in "12"
            if f"{letter}{digit}" not in {"S1", "X1"}
        },
    }
)
SUITABLE_ACCOMMODATION: Final = frozenset(code for code in ACCOMMODATION if code.endswith("1"))
UNSUITABLE_ACCOMMODATION: Final = frozenset(code for code in ACCOMMODATION if code.endswith("2"))

SEX: Final = MappingProxyType({"M": "Male", "F": "Female", "U": "Unknown"})
# SSDA903 before 2024/25 used 1/2.
LEGACY_SEX: Final = MappingProxyType({"1": "M", "2": "F"})

REVIEW_PARTICIPATION: Final = MappingProxyType(
    {
        "PN0": "Child aged under 4 at the time of review",
        "PN1": "Attends and speaks for self",
        "PN2": "Attends, advocate or IRO speaks on their behalf",
        "PN3": "Attends and conveys views symbolically",
        "PN4": "Attends but does not contribute",
        "PN5": "Does not attend, briefs an advocate or IRO",
        "PN6": "Does not attend, conveys feelings by a facilitative medium",
        "PN7": "Does not attend nor are views conveyed",
    }
)

# Reason for a new social-worker episode (SSDA903 SWEpisodes, validator SW13). Labels for LEFTRL, ORGRST, PCCHAN
# and SWDIED are inferred (reference §2.3).
SOCIAL_WORKER_CHANGE_REASON: Final = MappingProxyType(
    {
        "MANAGE": "Managing caseloads",
        "FCONTA": "First contact or re-referral",
        "LEFTRL": "Social worker left role or authority",
        "ORGRST": "Organisational restructure",
        "TSPROC": "Transfer following the standard process",
        "ABSENC": "Absence cover or return from absence",
        "CHCHAN": "Child requested a change of social worker",
        "PCCHAN": "Parent or carer requested a change",
        "SWDIED": "Social worker died",
        "OTHERS": "Other",
    }
)


def describe(code_list: MappingProxyType[str, str], code: str) -> str:
    """The plain-English meaning of ``code``, or the code itself when unknown."""
    return code_list.get(code, code)
