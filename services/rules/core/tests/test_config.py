from pathlib import Path

import pytest

from services.rules.core.config import ConfigError, RulesConfig
from services.rules.core.registry import RULES
from services.rules.core.rules import visit_overdue


def test_defaults_cover_every_rule() -> None:
    config = RulesConfig.default()
    assert set(config.rules) == set(RULES)
    assert all(config.enabled(rule_id) for rule_id in RULES)


def test_toml_override_merges_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[rules.visit-overdue]\ninterval_weeks = 4\n[rules.sdq-concern]\nenabled = false\n")
    config = RulesConfig.load(path)
    params = config.params("visit-overdue", visit_overdue.Params)
    assert (params.interval_weeks, params.first_visit_days) == (4, 7)
    assert not config.enabled("sdq-concern")


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  missing-repeat:\n    count: 2\n")
    assert RulesConfig.load(path).rules["missing-repeat"].model_dump()["count"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.no-such-rule]\nenabled = true\n", "unknown rule id(s): no-such-rule"),
        ("[rules.iha-overdue]\nworkdays = 5\n", "rule iha-overdue: workdays: Extra inputs are not permitted"),
        ("[rules.iha-overdue]\nworking_days = 'x'\n", "rule iha-overdue: working_days"),
        (
            "[rules.pathway-plan-overdue]\nexcluded_end_reasons = ['ZZ']\n",
            "unknown reason-ceased code(s): ZZ",
        ),
        ("[rulez]\n", "unknown section(s): rulez"),
        ("[rules\n", "not valid TOML"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RulesConfig.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read rules file"):
        RulesConfig.load(tmp_path / "absent.toml")
