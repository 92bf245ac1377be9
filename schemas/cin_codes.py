"""Children in Need census code lists (the CIN census XSD, ``shared/domain/cin-cp.md`` §2.2).

The SSDA903 lists are in :mod:`schemas.codes`; these are the lists of the DfE CIN census return, used by the
children in need and child protection events and by the CIN census import. No code is defined elsewhere.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

REFERRAL_SOURCE: Final = MappingProxyType(
    {
        "1A": "Individual: family member, relative or carer",
        "1B": "Individual: acquaintance (including neighbours and child minders)",
        "1C": "Individual: self",
        "1D": "Individual: other",
        "2A": "Schools",
        "2B": "Education services",
        "3A": "Health services: GP",
        "3B": "Health services: health visitor",
        "3C": "Health services: school nurse",
        "3D": "Health services: other primary health services",
        "3E": "Health services: A&E (emergency department)",
        "3F": "Health services: other",
        "4": "Housing (LA housing or housing association)",
        "5A": "LA services: social care (e.g. adults)",
        "5B": "LA services: other internal department (e.g. youth offending team)",
        "5C": "LA services: external (e.g. from another local authority)",
        "5D": "LA services: early help",
        "6": "Police",
        "7": "Other legal agency (courts, probation, immigration, Cafcass, prison)",
        "8": "Other (children's centres, independent or voluntary agencies)",
        "9": "Anonymous",
        "10": "Unknown",
    }
)

PRIMARY_NEED: Final = MappingProxyType(
    {
        "N0": "Not stated",
        "N1": "Abuse or neglect",
        "N2": "Child's disability",
        "N3": "Parental disability or illness",
        "N4": "Family in acute stress",
        "N5": "Family dysfunction",
        "N6": "Socially unacceptable behaviour",
        "N7": "Low income",
        "N8": "Absent parenting",
        "N9": "Cases other than children in need",
    }
)

REASON_FOR_CLOSURE: Final = MappingProxyType(
    {
        "RC1": "Adopted",
        "RC2": "Died",
        "RC3": "Child arrangements order",
        "RC4": "Special guardianship order",
        "RC5": "Transferred to services of another local authority",
        "RC6": "Transferred to adult social care services",
        "RC7": "Services ceased for any other reason, including child no longer in need",
        "RC8": "Case closed after assessment, no further action",
        "RC9": "Case closed after assessment, referred to early help",
    }
)
CLOSED_AFTER_ASSESSMENT: Final = frozenset({"RC8", "RC9"})

CATEGORY_OF_ABUSE: Final = MappingProxyType(
    {
        "NEG": "Neglect",
        "PHY": "Physical abuse",
        "SAB": "Sexual abuse",
        "EMO": "Emotional abuse",
        "MUL": "Multiple, or no category recommended",
    }
)

DISABILITY: Final = MappingProxyType(
    {
        "NONE": "No disability",
        "MOB": "Mobility",
        "HAND": "Hand function",
        "PC": "Personal care",
        "INC": "Incontinence",
        "COMM": "Communication",
        "LD": "Learning",
        "HEAR": "Hearing",
        "VIS": "Vision",
        "BEH": "Behaviour",
        "CON": "Consciousness",
        "AUT": "Autism or Asperger syndrome",
        "DDA": "Other DDA",
    }
)

ASSESSMENT_FACTORS: Final = MappingProxyType(
    {
        "1A": "Alcohol misuse: child",
        "1B": "Alcohol misuse: parent",
        "1C": "Alcohol misuse: other person",
        "2A": "Drug misuse: child",
        "2B": "Drug misuse: parent",
        "2C": "Drug misuse: other person",
        "3A": "Domestic violence: child",
        "3B": "Domestic violence: parent",
        "3C": "Domestic violence: other person",
        "4A": "Mental health: child",
        "4B": "Mental health: parent",
        "4C": "Mental health: other person",
        "5A": "Learning disability: child",
        "5B": "Learning disability: parent",
        "5C": "Learning disability: other person",
        "6A": "Physical disability or illness: child",
        "6B": "Physical disability or illness: parent",
        "6C": "Physical disability or illness: other person",
        "7A": "Young carer",
        "8B": "Privately fostered: overseas child, parents abroad",
        "8C": "Privately fostered: UK child, parents in UK, educational",
        "8D": "Privately fostered: UK child, parents in UK, other",
        "8E": "Privately fostered: UK child, parents abroad",
        "8F": "Privately fostered: overseas child, parents in UK",
        "9A": "Unaccompanied asylum-seeking child",
        "10A": "Going or being missing",
        "11A": "Child sexual exploitation",
        "12A": "Trafficking",
        "13A": "Gangs",
        "14A": "Socially unacceptable behaviour",
        "15A": "Self-harm",
        "16A": "Neglect",
        "17A": "Emotional abuse",
        "18B": "Physical abuse: child on child",
        "18C": "Physical abuse: adult on child",
        "19B": "Sexual abuse: child on child",
        "19C": "Sexual abuse: adult on child",
        "20": "Other",
        "21": "No factors identified",
        "22A": "Female genital mutilation",
        "23A": "Abuse linked to faith or belief",
        "24A": "Child criminal exploitation",
    }
)
NO_FACTORS: Final = "21"
"""Factor 21 ('no factors identified') must be used alone (validator rule 8869)."""
RETIRED_FACTORS: Final = MappingProxyType({"18A": "use 18B or 18C", "19A": "use 19B or 19C"})
"""Factors the 2024/25 census replaced (queries 8945Q, 8950Q): rejected for events, reported by the import."""

CIN_SEX: Final = MappingProxyType({"M": "Male", "F": "Female", "U": "Unknown or unborn"})
LEGACY_GENDER: Final = MappingProxyType({"1": "M", "2": "F", "0": "U", "9": "U"})
"""The pre-2024/25 ``GenderCurrent`` codes mapped onto ``Sex``."""
