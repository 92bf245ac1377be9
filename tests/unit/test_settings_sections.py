"""The settings, one section per concern: every documented ``CAREWATCH_*`` variable is read by exactly one field
of one section, each section loads from the environment on its own, and each service reads its own sections."""

from __future__ import annotations

import json
import re
import subprocess
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from carewatch.settings import (
    AlertsProcess,
    IngestProcess,
    RulesProcess,
    Settings,
    alerts_settings,
    env_names,
    ingest_settings,
    rules_settings,
)

ROOT = Path(__file__).resolve().parents[2]
# Read by the test suite's conftest.py, not by the services (README, "Tests").
TEST_SUITE_VARIABLES = {"CAREWATCH_TEST_POSTGRES", "CAREWATCH_HYPOTHESIS_PROFILE"}


def _documents() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "README.md", "docker-compose.yml", "deploy", "services/*/README.md", "docs/*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _named_in(paths: list[Path]) -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for path in paths:
        for name in re.findall(r"CAREWATCH_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8", errors="ignore")):
            named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return named


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT / "tests")  # no .env file here


def test_every_documented_variable_is_a_settings_field() -> None:
    named = _named_in(_documents())
    assert "CAREWATCH_KAFKA_BOOTSTRAP" in named and "CAREWATCH_OIDC_ISSUER" in named  # the scan finds them
    unknown = {name: sorted(where) for name, where in named.items() if name not in env_names()}
    assert set(unknown) <= TEST_SUITE_VARIABLES, unknown


def test_every_variable_the_demo_and_test_kit_set_is_a_settings_field() -> None:
    code = [ROOT / "services/demo/run.py", *sorted((ROOT / "carewatch/testing").glob("*.py"))]
    named = _named_in(code)
    assert "CAREWATCH_WEB_PORT" in named
    assert set(named) - TEST_SUITE_VARIABLES <= set(env_names()), sorted(set(named) - set(env_names()))


def test_each_field_reads_one_documented_name_and_no_name_twice() -> None:
    names = env_names()
    fields = [(section, field) for section, field in names.values()]
    assert len(set(fields)) == len(fields)
    assert sum(len(info.annotation.model_fields) for info in Settings.model_fields.values()) == len(names)  # type: ignore[union-attr]
    assert all(name.startswith("CAREWATCH_") and name == name.upper() for name in names)
    # names the project documented before the sections existed, read by the field of their concern
    assert names["CAREWATCH_DATABASE_URL"] == ("database", "url")
    assert names["CAREWATCH_SUPPRESSION_THRESHOLD"] == ("board", "suppression_threshold")
    assert names["CAREWATCH_TICK_INTERVAL_SECONDS"] == ("rules", "tick_interval_seconds")
    assert names["CAREWATCH_WEBHOOK_URL"] == ("notify", "webhook_url")


def _other_value(annotation: Any, default: Any) -> tuple[str, Any]:
    """An environment value for a field of this type that differs from its default, and what it reads as."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _other_value(inner[0], None)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choice = next(value for value in typing.get_args(annotation) if value != default)
        return str(choice), choice
    if origin is list:
        return json.dumps(["alpha", "beta"]), ["alpha", "beta"]
    if origin is dict:
        value_type = typing.get_args(annotation)[1]
        if typing.get_origin(value_type) is dict:  # a table of settings per key (board SPC series)
            value: Any = {"enabled": False}
        else:
            value = 7 if value_type is int else (typing.get_args(value_type) or ("team-x",))[-1]
        return json.dumps({"claim-x": value}), {"claim-x": value}
    if annotation is bool:
        return str(not default).lower(), not default
    if annotation is int:
        number = (default or 0) + 1 if default is not None else 3
        return str(number), number
    if annotation is float:
        return str(default + 1.5), default + 1.5
    if annotation is Path:
        return "/srv/carewatch/sample", Path("/srv/carewatch/sample")
    if annotation is SecretStr:
        return "s3cret", "s3cret"
    assert annotation is str, annotation
    return (
        "rocksdb://" if default == "memory://" else "sample-value",
        "rocksdb://" if default == "memory://" else "sample-value",
    )


@pytest.mark.parametrize("section", list(Settings.model_fields))
def test_each_section_loads_every_field_from_its_variable(monkeypatch: pytest.MonkeyPatch, section: str) -> None:
    _clear(monkeypatch)
    section_cls = Settings.model_fields[section].annotation
    assert section_cls is not None
    defaults = section_cls()
    expected: dict[str, Any] = {}
    for field, env in section_cls.env_names().items():  # type: ignore[attr-defined]
        raw, value = _other_value(section_cls.model_fields[field].annotation, getattr(defaults, field))
        monkeypatch.setenv(env, raw)
        expected[field] = value
    loaded = section_cls()
    for field, value in expected.items():
        got = getattr(loaded, field)
        if isinstance(got, SecretStr):
            got = got.get_secret_value()
        elif isinstance(got, list) and got and isinstance(got[0], SecretStr):
            got = [item.get_secret_value() for item in got]
        assert got == value, (field, got)
        assert got != getattr(defaults, field), field  # the variable, not the default, was read
    assert getattr(Settings(), section) == loaded


def test_a_flat_name_sets_its_field_and_the_rest_of_the_section_still_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("CAREWATCH_WEB_HOST", "0.0.0.0")
    settings = Settings(web_port=9090, suppression_threshold=3)
    assert (settings.web.host, settings.web.port, settings.board.suppression_threshold) == ("0.0.0.0", 9090, 3)
    assert settings.updated(web_port=9091).web.port == 9091 and settings.web.port == 9090
    with pytest.raises(ValueError, match="unknown setting 'web_prot'"):
        Settings(web_prot=1)


def test_each_service_reads_only_its_own_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("CAREWATCH_OIDC_ROLE_MAP", "{not json")  # a broken web/OIDC setting
    monkeypatch.setenv("CAREWATCH_WEB_PORT", "not a port")
    monkeypatch.setenv("CAREWATCH_RULES_METRICS_PORT", "9182")
    monkeypatch.setenv("CAREWATCH_INGEST_PORT", "9181")
    rules = rules_settings()
    assert isinstance(rules, RulesProcess) and rules.rules.metrics_port == 9182
    assert set(type(rules).model_fields) == {"broker", "database", "archive", "board", "rules"}
    ingest = ingest_settings()
    assert isinstance(ingest, IngestProcess) and ingest.ingest.port == 9181
    assert "oidc" not in type(ingest).model_fields and "web" not in type(ingest).model_fields
    # the control: the service that uses each broken setting refuses to start
    monkeypatch.delenv("CAREWATCH_WEB_PORT")
    with pytest.raises(SettingsError, match="role_map"):
        alerts_settings()
    monkeypatch.delenv("CAREWATCH_OIDC_ROLE_MAP")
    monkeypatch.setenv("CAREWATCH_WEB_PORT", "not a port")
    with pytest.raises(ValidationError, match="port"):
        AlertsProcess()


@pytest.mark.parametrize(
    ("service", "module", "process"),
    [
        ("ingest", "services.ingest.cli", IngestProcess),
        ("rules", "services.rules.stream.cli", RulesProcess),
        ("alerts", "services.alerts.cli", AlertsProcess),
    ],
)
def test_serve_gives_each_service_its_own_sections(
    monkeypatch: pytest.MonkeyPatch, service: str, module: str, process: type
) -> None:
    import importlib

    from typer.testing import CliRunner

    from carewatch.cli import app

    _clear(monkeypatch)
    if service != "alerts":
        monkeypatch.setenv("CAREWATCH_OIDC_ROLE_MAP", "{not json")  # another service's broken setting
    given: list[object] = []
    monkeypatch.setattr(importlib.import_module(module), "serve", given.append)
    result = CliRunner().invoke(app, ["serve", service])
    assert result.exit_code == 0, result.output
    assert [type(settings) for settings in given] == [process]
