"""care-leaver-unsuitable-accommodation: the latest recorded accommodation is considered unsuitable."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from schemas import codes

from ..state import ChildState
from .base import RuleSpec, Verdict
from .leaving import CareLeaverParams, latest_contact_check

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "care-leaver-unsuitable-accommodation"


class Params(CareLeaverParams):
    pass


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """The latest contact recording accommodation has a code ending in 2 (considered unsuitable).

    Basis: Care Leavers (England) Regulations 2010 reg 9 and Sch 2 (suitable accommodation); SSDA903 OC3
    ACCOM. Contacts without an accommodation code are ignored. Who: care leavers under ``max_age`` (21).
    """
    params = config.params(ID, Params)
    return latest_contact_check(
        state,
        as_of,
        params,
        rule=ID,
        severity=SPEC.severity,
        relevant=lambda contact: contact.accommodation is not None,
        concerning=lambda contact: contact.accommodation in codes.UNSUITABLE_ACCOMMODATION,
        summary=lambda contact: (
            f"Care leaver {state.child_id} was in accommodation considered unsuitable at the contact on "
            f"{contact.on.isoformat()} (code {contact.accommodation})."
        ),
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="high",
    basis="Care Leavers (England) Regulations 2010 reg 9, Sch 2; SSDA903 OC3 ACCOM (x2 = unsuitable)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "care_leaver_contacts"),
)
