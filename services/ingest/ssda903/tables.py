"""The SSDA903 tables the importer knows, and how a CSV file or an XML element is recognised as one.

Column lists are those of the DfE CSV layout (reference §2.2). Files are matched by their column headers,
not their names, because local authorities export them under many names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    required: frozenset[str]
    """The columns that must be present for a file to be taken as this table."""
    xml_tag: str | None = None
    """The element under ``CHILD`` or ``HEADER`` that carries one row in the XML layout."""


HEADER: Final = Table(
    "header",
    ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
    frozenset({"CHILD", "SEX", "DOB", "ETHNIC"}),
)
EPISODES: Final = Table(
    "episodes",
    (
        "CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE",
        "HOME_POST", "PL_POST", "URN",
    ),
    frozenset({"CHILD", "DECOM", "RNE", "LS", "PLACE"}),
    "EPISODE",
)  # fmt: skip
REVIEWS: Final = Table("reviews", ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"), frozenset({"CHILD", "REVIEW"}), "AREVIEW")
UASC: Final = Table("uasc", ("CHILD", "SEX", "DOB", "DUC"), frozenset({"CHILD", "DUC"}))
OC2: Final = Table(
    "oc2",
    (
        "CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK", "IMMUNISATIONS",
        "TEETH_CHECK", "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED",
        "INTERVENTION_OFFERED",
    ),
    frozenset({"CHILD", "HEALTH_ASSESSMENT", "TEETH_CHECK"}),
    "OC2",
)  # fmt: skip
OC3: Final = Table("oc3", ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"), frozenset({"CHILD", "IN_TOUCH"}))
MISSING: Final = Table(
    "missing",
    ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    frozenset({"CHILD", "MIS_START"}),
    "AMISSING",
)
SW_EPISODES: Final = Table(
    "sw_episodes",
    ("CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
    frozenset({"CHILD", "SW_ID", "SW_DECOM"}),
    "SW_EPISODE",
)
AD1: Final = Table(
    "ad1",
    ("CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"),
    frozenset({"CHILD", "DATE_INT"}),
)
PLACED_FOR_ADOPTION: Final = Table(
    "placed_for_adoption",
    ("CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"),
    frozenset({"CHILD", "DATE_PLACED"}),
    "AD_PLACED",
)
PREVIOUS_PERMANENCE: Final = Table(
    "previous_permanence",
    ("CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"),
    frozenset({"CHILD", "PREV_PERM"}),
    "PERMANENCE",
)

TABLES: Final = (
    HEADER, EPISODES, REVIEWS, UASC, OC2, OC3, MISSING, SW_EPISODES,
    AD1, PLACED_FOR_ADOPTION, PREVIOUS_PERMANENCE,
)  # fmt: skip
BY_XML_TAG: Final = {table.xml_tag: table for table in TABLES if table.xml_tag}
UNRECOGNISED: Final = "unrecognised"
"""The table name given to rows of a file or element that matches no SSDA903 table (all rejected)."""


def normalise_column(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().upper()


def match_table(columns: Iterable[str]) -> Table | None:
    """The table whose required columns are all present and which shares the most columns with the input.

    None when no table fits, or when two fit equally well (a file must not be guessed at).
    """
    present = {normalise_column(column) for column in columns}
    candidates = [table for table in TABLES if table.required <= present]
    if not candidates:
        return None
    scored = sorted(((len(present & set(table.columns)), table.name, table) for table in candidates), reverse=True)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return None
    return scored[0][2]
