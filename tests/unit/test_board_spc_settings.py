"""Which series are watched for authority alerts, and the SPC thresholds, come from the board settings
(``CAREWATCH_BOARD_SPC_*``); unset, they are the defaults of today."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import ValidationError

from carewatch.settings import AlertsProcess, BoardSettings
from services.board.core.authority_alerts import DEFAULT_WATCHED, series_transitions
from services.board.core.spc import SpcConfig
from services.board.early_warning import SpcSettings

BASELINE = [12.0, 10.0, 12.0, 10.0]  # mean 11
SIX_ABOVE = [12.0, 13.0, 12.0, 13.0, 12.0, 13.0]  # one month short of the default shift of 7
FIXED_BASELINE = {"entered-care-month": {"baseline_points": 4, "min_points": 4}}


def months(values: list[float]) -> list[tuple[date, float]]:
    return [(date(2024 + i // 12, i % 12 + 1, 1), v) for i, v in enumerate(values)]


def watched_ids(board: BoardSettings) -> list[str]:
    return [w.indicator_id for w in SpcSettings.of(board).watched]


def test_unset_settings_keep_the_defaults() -> None:
    spc = SpcSettings.of(BoardSettings())
    assert spc.watched == DEFAULT_WATCHED
    assert spc.config == SpcConfig()
    assert all(w.resolve_after_months == 2 for w in spc.watched)


def test_a_setting_change_changes_what_is_watched() -> None:
    assert "re-referrals-12m" in watched_ids(BoardSettings())
    dropped = BoardSettings(spc_watched={"re-referrals-12m": {"enabled": False}})
    assert "re-referrals-12m" not in watched_ids(dropped)
    assert len(watched_ids(dropped)) == len(DEFAULT_WATCHED) - 1
    added = BoardSettings(spc_watched={"cin-rate-per-10k": {"title": "Children in need", "better": "lower"}})
    assert watched_ids(added)[-1] == "cin-rate-per-10k"


def test_the_environment_sets_the_watched_series_and_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_BOARD_SPC_WATCHED", json.dumps({"assessments-within-45wd": {"enabled": False}}))
    monkeypatch.setenv("CAREWATCH_BOARD_SPC_SHIFT_POINTS", "6")
    monkeypatch.setenv("CAREWATCH_BOARD_SPC_RESOLVE_AFTER_MONTHS", "3")
    spc = SpcSettings.of(AlertsProcess().board)  # what `serve alerts` gives its authority feed
    assert "assessments-within-45wd" not in [w.indicator_id for w in spc.watched]
    assert spc.config.shift_points == 6 and spc.config.trend_points == SpcConfig().trend_points
    assert {(w.config.shift_points, w.resolve_after_months) for w in spc.watched} == {(6, 3)}


def test_a_threshold_setting_changes_what_raises_an_alert() -> None:
    series = months([*BASELINE, *SIX_ABOVE])
    default = SpcSettings.of(BoardSettings(spc_watched=FIXED_BASELINE)).watched[0]
    assert series_transitions(default, series) == []  # six months above the mean: no shift of 7
    shorter = SpcSettings.of(BoardSettings(spc_watched=FIXED_BASELINE, spc_shift_points=6)).watched[0]
    assert [(t.state, t.at) for t in series_transitions(shorter, series)] == [("raised", date(2024, 10, 1))]


def test_a_per_series_setting_wins_over_the_common_threshold() -> None:
    board = BoardSettings(
        spc_shift_points=6, spc_watched={"entered-care-month": {"shift_points": 8, "resolve_after_months": 1}}
    )
    by_id = {w.indicator_id: w for w in SpcSettings.of(board).watched}
    assert by_id["entered-care-month"].config.shift_points == 8
    assert by_id["entered-care-month"].resolve_after_months == 1
    assert by_id["re-referrals-12m"].config.shift_points == 6


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"spc_resolve_after_months": 0}, "greater than or equal to 1"),
        ({"spc_shift_points": 1}, "greater than or equal to 2"),
    ],
)
def test_bad_spc_thresholds_are_refused_at_load(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BoardSettings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"entered-care-month": {"colour": "red"}}, "unknown setting"),
        ({"new-series": {"better": "lower"}}, "needs a title"),
        ({"entered-care-month": {"better": "up"}}, "better must be"),
    ],
)
def test_a_bad_watched_table_is_refused_when_read(table: dict[str, dict[str, object]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpcSettings.of(BoardSettings(spc_watched=table))


def test_the_baseline_setting_fixes_the_limits_of_the_charts_and_the_alerts_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``CAREWATCH_BOARD_SPC_BASELINE_POINTS`` reaches the board's charts and the watched series the same, so a
    chart and its reading in words agree with the alert. Four months at the baseline's level, then a rise:
    with limits on every month the rise lifts its own mean and nothing fires; with the limits fixed on the
    first 4 months the rise is beyond them."""
    monkeypatch.setenv("CAREWATCH_BOARD_SPC_BASELINE_POINTS", "4")
    monkeypatch.setenv("CAREWATCH_BOARD_SPC_MIN_POINTS", "4")
    spc = SpcSettings.of(AlertsProcess().board)
    assert spc.config.baseline_points == 4
    assert {w.config for w in spc.watched} == {spc.config}
    series = months([*BASELINE, 30.0, 31.0])
    watched = next(w for w in spc.watched if w.indicator_id == "entered-care-month")
    assert [t.state for t in series_transitions(watched, series)] == ["raised"]
    monkeypatch.delenv("CAREWATCH_BOARD_SPC_BASELINE_POINTS")
    unfixed = SpcSettings.of(BoardSettings(spc_min_points=4)).watched[0]
    assert unfixed.config.baseline_points is None
    assert series_transitions(unfixed, series) == []
