"""The rule catalogue: every rule of CONTRACT §2, by id, in one place."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from .cin.rules import SPECS as CIN_SPECS
from .rules import (
    care_leaver_neet,
    care_leaver_not_in_touch,
    care_leaver_unsuitable_accommodation,
    dental_overdue,
    iha_overdue,
    missing_repeat,
    pathway_plan_overdue,
    pep_overdue,
    placement_distance,
    placement_instability,
    review_overdue,
    rha_overdue,
    rhi_overdue,
    sdq_concern,
    social_worker_churn,
    under16_unregulated,
    visit_overdue,
)
from .rules.base import RuleSpec

_MODULES = (
    iha_overdue,
    rha_overdue,
    pep_overdue,
    visit_overdue,
    review_overdue,
    placement_instability,
    social_worker_churn,
    rhi_overdue,
    missing_repeat,
    dental_overdue,
    sdq_concern,
    placement_distance,
    under16_unregulated,
    pathway_plan_overdue,
    care_leaver_not_in_touch,
    care_leaver_neet,
    care_leaver_unsuitable_accommodation,
)

RULES: Final[MappingProxyType[str, RuleSpec]] = MappingProxyType(
    {**{m.SPEC.id: m.SPEC for m in _MODULES}, **{spec.id: spec for spec in CIN_SPECS}}
)
"""Rule id → catalogue entry, in CONTRACT §2 order, then the CIN/CP rules of CONTRACT §5."""
