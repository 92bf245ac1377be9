"""care-leaver-not-in-touch: the latest contact says the authority is not in touch."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Final

from ..state import ChildState
from .base import RuleSpec, Verdict
from .leaving import CareLeaverParams, latest_contact_check

if TYPE_CHECKING:
    from ..config import RulesConfig

ID: Final = "care-leaver-not-in-touch"


class Params(CareLeaverParams):
    pass


def evaluate(state: ChildState, as_of: date, config: RulesConfig) -> Verdict:
    """The latest care-leaver contact since care ended records ``in_touch = false``.

    Basis: Children Act 1989 s23C(1) (take reasonable steps to keep in touch); SSDA903 OC3 IN_TOUCH.
    Who: care leavers under ``max_age`` (21). Resolves when a later contact is in touch.
    """
    params = config.params(ID, Params)
    return latest_contact_check(
        state,
        as_of,
        params,
        rule=ID,
        severity=SPEC.severity,
        relevant=lambda contact: True,
        concerning=lambda contact: not contact.in_touch,
        summary=lambda contact: (
            f"The authority was not in touch with care leaver {state.child_id} at the contact on "
            f"{contact.on.isoformat()}."
        ),
    )


SPEC: Final = RuleSpec(
    id=ID,
    severity="medium",
    basis="Children Act 1989 s23C(1); SSDA903 OC3 IN_TOUCH",
    params=Params,
    evaluate=evaluate,
    reads=("periods", "legal_statuses", "care_leaver_contacts"),
)
