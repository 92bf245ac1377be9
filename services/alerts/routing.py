"""Who hears about an alert: the child's team's recipients, else the default route; the head of service too
once an alert is escalated. An authority alert (a special cause on one of the authority's series) goes to
the board's recipients (the director and the board: aggregates only), else the default route.

The routing file (``CAREWATCH_ALERTS_ROUTES``, YAML) is seeded into the ``team`` and ``route`` tables::

    default:          [{email: duty-manager@example.org}]
    head_of_service:  [{email: head-of-service@example.org}]
    board:            [{email: director@example.org}]
    teams:
      north: [{email: north-managers@example.org}, {webhook: "https://hooks.example.org/north"}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.alerts.models import Route, Team

Channel = Literal["email", "webhook"]


@dataclass(frozen=True, order=True)
class Recipient:
    channel: Channel
    target: str


class RecipientSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: str | None = Field(default=None, pattern=r"^https?://")

    @model_validator(mode="after")
    def _exactly_one(self) -> RecipientSpec:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("give exactly one of 'email' or 'webhook'")
        return self

    def recipient(self) -> Recipient:
        if self.email is not None:
            return Recipient("email", self.email)
        assert self.webhook is not None
        return Recipient("webhook", self.webhook)


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: list[RecipientSpec] = Field(min_length=1)
    head_of_service: list[RecipientSpec] = []
    board: list[RecipientSpec] = []
    teams: dict[str, list[RecipientSpec]] = {}


class RoutingConfigError(ValueError):
    pass


def load_routing(path: Path) -> RoutingConfig:
    """Parse and validate the routing file, naming the bad field on error."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RoutingConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingConfigError(f"cannot read routing file {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RoutingConfigError(f"invalid routing file {path}: {problems}") from exc


def seed_routes(session: Session, config: RoutingConfig) -> None:
    """Make the tables say exactly what the file says (safe to run at every start)."""
    session.execute(delete(Route))
    teams = {team.name: team for team in session.scalars(select(Team))}
    for name in config.teams:
        if name not in teams:
            teams[name] = Team(name=name)
            session.add(teams[name])
    session.flush()

    def add(scope: str, specs: list[RecipientSpec], team: Team | None) -> None:
        for recipient in sorted({spec.recipient() for spec in specs}):
            session.add(
                Route(
                    scope=scope,
                    team_id=None if team is None else team.id,
                    channel=recipient.channel,
                    target=recipient.target,
                )
            )

    add("default", config.default, None)
    add("head_of_service", config.head_of_service, None)
    add("board", config.board, None)
    for name, specs in config.teams.items():
        add("team", specs, teams[name])
    session.flush()


@dataclass(frozen=True)
class RouteTable:
    default: tuple[Recipient, ...]
    head_of_service: tuple[Recipient, ...] = ()
    teams: dict[str, tuple[Recipient, ...]] = field(default_factory=dict)
    board: tuple[Recipient, ...] = ()

    def recipients(self, team: str | None, escalated: bool, scope: str = "child") -> list[Recipient]:
        if scope == "authority":
            return list(self.board or self.default)
        found = list(self.teams.get(team, ()) if team is not None else ()) or list(self.default)
        if escalated:
            found += [r for r in self.head_of_service if r not in found]
        return found

    @classmethod
    def load(cls, session: Session) -> RouteTable:
        names = {team.id: team.name for team in session.scalars(select(Team))}
        default: list[Recipient] = []
        head: list[Recipient] = []
        board: list[Recipient] = []
        teams: dict[str, list[Recipient]] = {}
        for route in session.scalars(select(Route).order_by(Route.id)):
            recipient = Recipient(route.channel, route.target)  # type: ignore[arg-type]
            if route.scope == "default":
                default.append(recipient)
            elif route.scope == "head_of_service":
                head.append(recipient)
            elif route.scope == "board":
                board.append(recipient)
            elif route.team_id is not None:
                teams.setdefault(names[route.team_id], []).append(recipient)
        return cls(tuple(default), tuple(head), {k: tuple(v) for k, v in teams.items()}, tuple(board))
