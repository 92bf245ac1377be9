"""`carewatch replay` and `carewatch rules list` end to end through the command line (no broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.cli import app
from services.rules.core.registry import RULES

EVENTS = [
    {
        "event_id": "a1",
        "type": "care.started",
        "child_id": "c1",
        "occurred_at": "2025-01-06",
        "date_of_birth": "2015-01-01",
        "sex": "F",
        "legal_status": "C2",
        "team": "north",
    },
    {
        "event_id": "a2",
        "type": "placement.started",
        "child_id": "c1",
        "occurred_at": "2025-01-06",
        "placement_type": "U6",
    },
    {"event_id": "a3", "type": "visit.completed", "child_id": "c1", "occurred_at": "2025-01-10"},
    {
        "event_id": "b1",
        "type": "care.started",
        "child_id": "c2",
        "occurred_at": "2025-01-08",
        "date_of_birth": "2012-01-01",
        "sex": "M",
        "legal_status": "V2",
    },
    {
        "event_id": "b2",
        "type": "health_assessment.completed",
        "child_id": "c2",
        "occurred_at": "2025-01-20",
        "kind": "initial",
    },
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_writes_sorted_transitions_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in reversed(EVENTS)]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({**EVENTS[2], "event_id": "x", "type": "visit.done"}))
    source = _write(tmp_path, lines)
    out = tmp_path / "alerts.ndjson"
    result = CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{source}:3: rejected" in result.output
    assert f"{source}:5: rejected" in result.output
    assert "5 events read, 2 rejected, 5 applied" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["at"], r["fingerprint"]) for r in records] == sorted((r["at"], r["fingerprint"]) for r in records)
    raised = {(r["child_id"], r["rule"], r["at"]) for r in records if r["state"] == "raised"}
    # c1: 20 WD from Mon 6 Jan 2025 → 3 Feb; c2: from Wed 8 Jan → Wed 5 Feb (8–10 Jan is 3, +15 to
    # 31 Jan = 18, 3–5 Feb = 20). Visit 10 Jan → next due 21 Feb, overdue 22 Feb.
    assert ("c1", "iha-overdue", "2025-02-04") in raised
    assert ("c1", "visit-overdue", "2025-02-22") in raised
    assert ("c2", "review-overdue", "2025-02-06") in raised
    assert not any(child == "c2" and rule == "iha-overdue" for child, rule, _ in raised)
    again = tmp_path / "again.ndjson"
    CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_compare_shows_alerts_only_under_one_config(tmp_path: Path) -> None:
    source = _write(tmp_path, [json.dumps(e) for e in EVENTS])
    strict = tmp_path / "strict.toml"
    strict.write_text("[rules.visit-overdue]\ninterval_weeks = 2\n[rules.iha-overdue]\nenabled = false\n")
    result = CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--compare", str(strict)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    iha = next(line for line in lines if line.startswith("iha-overdue"))
    assert iha.split()[1:] == ["1", "0"]
    assert "only under defaults: 2" in result.output
    assert "2025-02-22 visit-overdue c1" in result.output
    # visit 10 Jan + 14 days = 24 Jan → overdue from 25 Jan under the stricter file
    assert "2025-01-25 visit-overdue c1" in result.output


def test_summary_file(tmp_path: Path) -> None:
    source = _write(tmp_path, [json.dumps(e) for e in EVENTS])
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--summary", str(summary)])
    assert result.exit_code == 0, result.output
    data = json.loads(summary.read_text())
    assert data["as_of"] == "2025-03-01"
    assert isinstance(data["indicators"], dict)


def test_bad_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    source = _write(tmp_path, [json.dumps(e) for e in EVENTS])
    rules = tmp_path / "rules.toml"
    rules.write_text("[rules.iha-overdue]\nworkdays = 3\n")
    result = CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--rules", str(rules)])
    assert result.exit_code == 2
    assert "rule iha-overdue: workdays: Extra inputs are not permitted" in result.output


def test_rules_list_shows_every_rule() -> None:
    result = CliRunner().invoke(app, ["rules", "list"])
    assert result.exit_code == 0, result.output
    for rule_id, spec in RULES.items():
        assert rule_id in result.output
        assert spec.basis in result.output
    assert "working_days=20" in result.output


def test_rules_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.settings import get_settings

    source = _write(tmp_path, [json.dumps(e) for e in EVENTS])
    rules = tmp_path / "rules.toml"
    rules.write_text("[rules.iha-overdue]\nenabled = false\n")
    monkeypatch.setenv("CAREWATCH_RULES_CONFIG", str(rules))
    get_settings.cache_clear()
    try:
        out = tmp_path / "alerts.ndjson"
        result = CliRunner().invoke(app, ["replay", str(source), "--until", "2025-03-01", "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rules_raised = {json.loads(line)["rule"] for line in out.read_text().splitlines()}
    assert "iha-overdue" not in rules_raised
    assert "review-overdue" in rules_raised


def test_replay_out_also_writes_the_authority_alerts(tmp_path: Path) -> None:
    # Children starting to be looked after: 18 months at 3 or 4 a month, then 7 months at 9 (a shift
    # above the upper process limit), to 31 Jan 2026: the board's early-warning reading raises spc-.
    events = []
    for m in range(25):
        count = 9 if m >= 18 else 3 + m % 2
        for n in range(count):
            events.append(
                {"event_id": f"s{m}-{n}", "type": "care.started", "child_id": f"k{m}-{n}",
                 "occurred_at": f"{2024 + m // 12}-{m % 12 + 1:02d}-{n + 2:02d}", "date_of_birth": "2012-05-01",
                 "sex": "M", "legal_status": "C2"}
            )  # fmt: skip
    source = _write(tmp_path, [json.dumps(e) for e in events])
    out = tmp_path / "alerts.ndjson"
    result = CliRunner().invoke(app, ["replay", str(source), "--until", "2026-01-31", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    authority = [r for r in records if r.get("scope") == "authority"]
    assert authority and {r["rule"] for r in authority} == {"spc-entered-care-month"}
    assert authority[0]["state"] == "raised" and authority[0]["at"] >= "2025-07-01"
    assert all(r.get("child_id") is None and r["points"] for r in authority)
    assert [(r["at"], r["fingerprint"]) for r in records] == sorted((r["at"], r["fingerprint"]) for r in records)
