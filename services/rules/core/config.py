"""Rule configuration: thresholds and switches per rule, and the school calendar.

A file (TOML or YAML) holds only what differs from the defaults::

    [calendar]
    terms = [{name = "2026-autumn", start = 2026-09-03, end = 2026-12-18}]

    [rules.visit-overdue]
    interval_weeks = 4

Unknown rule ids and unknown keys are errors, naming the rule and key.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .calendar import SchoolCalendar, Term
from .rules.base import RuleParams

P = TypeVar("P", bound=RuleParams)

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class ConfigError(ValueError):
    """A rules file that cannot be used, with the reason."""


class TermDates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> TermDates:
        if self.end < self.start:
            raise ValueError(f"term {self.name} ends before it starts")
        return self


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: tuple[TermDates, ...] = Field(
        default=(), description="Explicit school terms; a year listed here replaces the default pattern"
    )


class RulesConfig(BaseModel):
    """Every rule's parameters (defaults merged with overrides) and the calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    calendar: CalendarConfig = CalendarConfig()
    rules: dict[str, RuleParams]

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, base: dict[str, Any] | None = None) -> RulesConfig:
        """Validate ``data`` merged over ``base`` (the packaged defaults when None)."""
        from .registry import RULES

        merged = _merge(_defaults() if base is None else base, data)
        unknown_sections = sorted(set(merged) - {"calendar", "rules"})
        if unknown_sections:
            raise ConfigError(f"unknown section(s): {', '.join(unknown_sections)} (expected calendar, rules)")
        raw_rules = merged.get("rules", {})
        if not isinstance(raw_rules, dict):
            raise ConfigError("'rules' must be a table of rule ids")
        unknown = sorted(set(raw_rules) - set(RULES))
        if unknown:
            raise ConfigError(f"unknown rule id(s): {', '.join(unknown)}; known: {', '.join(sorted(RULES))}")
        parsed: dict[str, RuleParams] = {}
        for rule_id, spec in RULES.items():
            values = raw_rules.get(rule_id, {})
            try:
                parsed[rule_id] = spec.params.model_validate(values)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
                )
                raise ConfigError(f"rule {rule_id}: {problems}") from None
        try:
            calendar = CalendarConfig.model_validate(merged.get("calendar", {}))
        except ValidationError as exc:
            raise ConfigError(f"calendar: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}") from None
        return cls(calendar=calendar, rules=parsed)

    @classmethod
    def default(cls) -> RulesConfig:
        return cls.from_mapping({})

    @classmethod
    def load(cls, path: Path) -> RulesConfig:
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file of overrides."""
        return cls.from_mapping(read_file(path))

    def params(self, rule_id: str, kind: type[P]) -> P:
        value = self.rules[rule_id]
        if not isinstance(value, kind):
            raise TypeError(f"rule {rule_id} parameters are {type(value).__name__}, not {kind.__name__}")
        return value

    def enabled(self, rule_id: str) -> bool:
        return self.rules[rule_id].enabled

    @cached_property
    def school_calendar(self) -> SchoolCalendar:
        return SchoolCalendar(tuple(Term(t.start, t.end, t.name) for t in self.calendar.terms))


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc.strerror}") from None
    is_yaml = path.suffix in {".yaml", ".yml"}
    try:
        data = (yaml.safe_load(text) or {}) if is_yaml else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'YAML' if is_yaml else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/mapping at the top level")
    return data


def _defaults() -> dict[str, Any]:
    return read_file(DEFAULT_FILE)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
