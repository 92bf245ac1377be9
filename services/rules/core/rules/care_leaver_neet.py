"""care-leaver-neet: the latest recorded activity is not in education, employment or training."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from schemas import codes

from ..state import ChildState
from .base import RuleSpec, Verdict
from .leaving import CareLeaverParams, latest_contact_check

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "care-leaver-neet"


class Params(CareLeaverParams):
    pass


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """The latest contact recording an activity has a NEET code (OC3 ACTIV G4, G5, G6).

    Basis: Children Act 1989 s23CA/s23C (support with education, training, employment); SSDA903 OC3
    ACTIV. Contacts without an activity code are ignored. Who: care leavers under ``max_age`` (21).
    """
    params = config.params(ID, Params)
    return latest_contact_check(
        state,
        as_of,
        params,
        rule=ID,
        severity=SPEC.severity,
        relevant=lambda contact: contact.activity is not None,
        concerning=lambda contact: contact.activity in codes.NEET_ACTIVITIES,
        summary=lambda contact: (
            f"Care leaver {state.child_id} was not in education, employment or training at the contact on "
            f"{contact.on.isoformat()} (activity {contact.activity})."
        ),
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="Children Act 1989 s23C/s23CA; SSDA903 OC3 ACTIV (NEET = G4, G5, G6)",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "care_leaver_contacts"),
)
