"""The per-child kernel: one step function with a wake date, contributions kept with the state, and the
catalogue version that makes a deploy re-evaluate every child."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.rules.core import indicators
from services.rules.core.config import RulesConfig
from services.rules.core.kernel import Kernel, catalogue_version
from services.rules.core.state import ChildState
from services.rules.replay import replay

from .history import UNTIL, events

WITHOUT_VISITS = RulesConfig.from_mapping({"rules": {"visit-overdue": {"enabled": False}}})
DEFAULT = RulesConfig.default()


def _active(state: ChildState) -> list[tuple[str, str, str]]:
    return [(f.rule, f.subject, f.severity) for f in state.findings]


def test_the_catalogue_version_follows_rules_parameters_and_indicator_definitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert catalogue_version(DEFAULT) == catalogue_version(RulesConfig.default())
    assert catalogue_version(DEFAULT) != catalogue_version(WITHOUT_VISITS)
    longer = RulesConfig.from_mapping({"rules": {"visit-overdue": {"interval_weeks": 7}}})
    assert catalogue_version(longer) != catalogue_version(DEFAULT)
    before = catalogue_version(DEFAULT)
    monkeypatch.setattr(indicators, "INDICATORS_VERSION", "changed")
    assert catalogue_version(DEFAULT) != before


def test_a_state_of_another_catalogue_is_evaluated_in_full_on_its_next_touch() -> None:
    old = replay(events(), UNTIL, WITHOUT_VISITS).states
    new = replay(events(), UNTIL, DEFAULT).states
    kernel = Kernel(DEFAULT)
    raised = 0
    for child_id, state in old.items():
        assert kernel.stale(state)
        step = kernel.on_tick(state, UNTIL)
        assert not kernel.stale(step.state) and step.state.catalogue == kernel.version
        # The findings are those of a replay under the new catalogue, raised now.
        assert _active(step.state) == _active(new[child_id])
        raised += sum(t.rule == "visit-overdue" and t.state == "raised" for t in step.transitions)
        assert step.state.contributions == new[child_id].contributions
        # Touched again at once: nothing more to say.
        again = kernel.on_tick(step.state, UNTIL)
        assert again.transitions == () and again.deltas == ()
    assert raised > 0


def test_a_tick_touches_a_child_only_when_its_wake_date_has_come() -> None:
    kernel = Kernel(DEFAULT)
    state = replay(events(), UNTIL, DEFAULT).states
    child = next(s for s in state.values() if kernel.wake_at(s) is not None)
    wake = kernel.wake_at(child)
    assert wake is not None and wake > UNTIL
    early = kernel.on_tick(child, wake - timedelta(days=1))
    assert early.state is child and early.transitions == () and early.deltas == ()
    due = kernel.on_tick(child, wake)
    assert due.wake_at is None or due.wake_at > wake


def test_the_deltas_of_a_replay_add_up_to_every_child_s_contributions_at_the_end() -> None:
    result = replay(events(), UNTIL, DEFAULT)
    totals: dict[str, tuple[int, int]] = {}
    for state in result.states.values():
        for name, numerator, denominator in indicators.contribution_rows(state, UNTIL):
            n, d = totals.get(name, (0, 0))
            totals[name] = (n + numerator, d + denominator)
    assert {k: (c.numerator, c.denominator) for k, c in result.totals.items()} == totals
    assert totals["cla-count"][0] > 0
