"""Typed settings, one section per concern, each read from its documented ``CAREWATCH_*`` environment variables.

A section is a settings class of its own (``BrokerSettings``, ``IngestSettings``, ``OidcSettings`` ...). A service
process reads only the sections it uses: ``ingest_settings()``, ``rules_settings()`` and ``alerts_settings()`` give
the ``serve`` commands theirs, so a malformed OIDC or SMTP variable cannot stop the rules worker. ``Settings`` holds
every section, for the command-line tools and the demo. Section fields keep the environment names the project has
always documented: a section's ``env_prefix`` where its names share one, an explicit ``validation_alias`` where not.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CAREWATCH_"


def _alias(name: str) -> str:
    """The documented environment name of a field whose name does not share its section's prefix."""
    return ENV_PREFIX + name.upper()


class _Section(BaseSettings):
    """A section reads its fields from the environment or a ``.env`` file; fields are also set by name."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", populate_by_name=True)

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> the environment variable it is read from."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        out: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            out[name] = alias if isinstance(alias, str) else (prefix + name).upper()
        return out


class BrokerSettings(_Section):
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port of an external Kafka; unset = start the embedded Tansu broker"
    )
    topic_partitions: int = Field(default=8, ge=1, le=256)
    topic_replication: int = Field(default=1, ge=1)


class DatabaseSettings(_Section):
    url: str | None = Field(
        default=None,
        validation_alias=_alias("database_url"),
        description="SQLAlchemy URL; unset = an SQLite file under data_dir",
    )
    data_dir: Path = Field(default=Path("var"), description="Where embedded state (SQLite, reports) lives")

    def sqlalchemy_url(self) -> str:
        if self.url:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'carewatch.sqlite').resolve()}"


class IngestSettings(_Section):
    """Ingest HTTP service and the file loader."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "INGEST_")

    host: str = "127.0.0.1"
    port: int = 8081
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=10_000, ge=1)
    max_item_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=256 * 1024,
        description=(
            "Largest single event item; a request holding a bigger one is refused whole (413). At most 256 KiB, "
            "so that its dead letter (base64 and text copies) stays under the broker's 1 MiB record limit"
        ),
    )
    tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens with the ingest role (JSON list in the environment)"
    )
    metrics_file: Path | None = Field(
        default=None,
        description="`carewatch ingest` writes its metrics here when done (node_exporter textfile collector)",
    )
    pushgateway_url: str | None = Field(
        default=None,
        validation_alias=_alias("pushgateway_url"),
        description="host:port of a Prometheus Pushgateway that `carewatch ingest` pushes its metrics to",
    )


class ArchiveSettings(_Section):
    """Event archive: every accepted event, appended before the client is told it was received."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "ARCHIVE_")

    enabled: bool = Field(default=True, description="Append accepted events to the event_archive table of the database")
    retention_years: int | None = Field(
        default=None, ge=1, description="Delete archived events received more than N years ago; unset = keep"
    )
    republish_on_start: bool = Field(
        default=True,
        description=(
            "The rules service re-publishes archived events missing from the case-events topic (comparing "
            "only what was appended since its last check, or everything when the broker lost data). For a "
            "topic with time-limited retention, turn off and run `carewatch archive republish` after a data loss"
        ),
    )


class RulesSettings(_Section):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "RULES_")

    config: Path | None = Field(default=None, description="TOML/YAML file of rule thresholds")
    tick_interval_seconds: float = Field(
        default=86_400.0, gt=0, validation_alias=_alias("tick_interval_seconds"), description="Live clock-tick period"
    )
    tick_scheduler: bool = Field(
        default=True,
        validation_alias=_alias("tick_scheduler"),
        description="Send today's clock tick from the rules service (off when history is replayed)",
    )
    store: str = Field(
        default="memory://",
        pattern=r"^(memory|rocksdb)://",
        description="Table store of the rules stream: memory:// (state recovered from the changelog topics at each "
        "start) or rocksdb:// (state kept on disk under data_dir, read back at start; needs the `rocksdb` extra, "
        "rocksdict). Each worker process needs a data_dir of its own with rocksdb://",
    )
    standby_replicas: int = Field(
        default=1,
        ge=0,
        description="Rules workers that keep a standby copy of each partition's tables (faust's "
        "table_standby_replicas): a worker that takes over a partition has its state at once, at the cost of "
        "reading the other workers' changelogs all the time. 0: no standby (less CPU per record; a takeover "
        "recovers the partition from its changelog, or from its rocksdb:// files)",
    )
    metrics_port: int = Field(default=8082, ge=0, le=65535, description="Rules stream /metrics port")
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the rules stream's /metrics listens on (0.0.0.0 in a container, for Prometheus); "
        "ingest and alerts serve /metrics on their own HTTP listener (ingest host, web host)",
    )


class WebSettings(_Section):
    """The alerts and board web service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "WEB_")

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(
        default=None, validation_alias=_alias("public_url"), description="Base URL used in notification links"
    )
    session_hours: float = Field(default=12.0, gt=0, description="How long a page sign-in lasts")


class OidcSettings(_Section):
    """Sign-in with the council's identity provider (OpenID Connect, e.g. Microsoft Entra ID); off while unset."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "OIDC_")

    issuer: str | None = Field(
        default=None,
        description="Issuer URL (Entra ID: https://login.microsoftonline.com/<tenant>/v2.0); unset = tokens only",
    )
    client_id: str | None = Field(default=None, description="The application (client) id registered for carewatch")
    client_secret: SecretStr | None = Field(default=None, description="The client secret registered for carewatch")
    redirect_url: str | None = Field(
        default=None,
        description="Where the provider sends the browser back: <public URL>/login/oidc/callback (unset = derived "
        "from the request)",
    )
    post_logout_redirect_url: str | None = Field(
        default=None,
        description="Where the provider sends the browser after signing out there: <public URL>/login (register it "
        "with the provider; unset = derived from the request)",
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    username_claim: str = Field(
        default="preferred_username", description="The ID-token claim naming the user (Entra ID: the UPN)"
    )
    roles_claim: str = Field(default="roles", description="The claim listing the user's app roles")
    teams_claim: str = Field(default="groups", description="The claim listing the user's groups or teams")
    role_map: dict[str, Literal["manager", "board", "admin"]] = Field(
        default_factory=dict,
        description='Claim value -> carewatch role (JSON, e.g. {"CareWatch.Manager": "manager"}); '
        "with several, admin wins over manager over board; none = sign-in refused",
    )
    team_map: dict[str, str] = Field(
        default_factory=dict,
        description="Claim value (e.g. an Entra group id) -> carewatch team; empty = the claim values are team names",
    )
    http_timeout_seconds: float = Field(default=10.0, gt=0, description="Calls to the identity provider")

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)


class AuthSettings(_Section):
    """Failed sign-ins and bad bearer tokens, per client address (both HTTP services)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "AUTH_")

    max_failures: int = Field(default=10, ge=1, description="Failures within the window that lock a client out")
    failure_window_seconds: float = Field(default=300.0, gt=0)
    lockout_seconds: float = Field(default=900.0, gt=0, description="How long a locked-out client waits")


class BoardSettings(_Section):
    """Board pack, indicators and disclosure."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "BOARD_")

    suppression_threshold: int = Field(
        default=5,
        ge=1,
        validation_alias=_alias("suppression_threshold"),
        description="Board counts below this are hidden; so are per-team counts on /metrics",
    )
    audience: Literal["internal", "public"] = Field(
        default="internal",
        description="Board disclosure rules: internal (the authority's own board: percentages near 100% shown) "
        "or public (papers published to anyone: every rule)",
    )
    authority_name: str = Field(default="Local authority", description="Name shown on the board pack")
    population_0_17: int | None = Field(
        default=None, ge=1, description="Children aged 0-17 living in the area (ONS mid-year), for rates"
    )
    neighbours_csv: Path | None = Field(
        default=None, description="Statistical-neighbour comparators: indicator,value,year,source"
    )
    targets_csv: Path | None = Field(default=None, description="Local targets: indicator,target[,amber_band]")
    amber_band: float = Field(
        default=5.0, ge=0, description="How far short of target is amber, in the indicator's unit"
    )
    spc_watched: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Authority alerts: changes to the SPC series watched by default (JSON: {indicator id: "
        "{enabled, better, severity, target, title, shift_points, trend_points, min_points, baseline_points, "
        'resolve_after_months}}, e.g. {"re-referrals-12m": {"enabled": false}}); enabled=false stops watching '
        "a series, a new id with a title and a better direction starts; empty = the defaults "
        "(services/board/core/authority_alerts.py DEFAULT_WATCHED). Checked when the alerts service starts",
    )
    spc_shift_points: int | None = Field(
        default=None, ge=2, description="SPC charts: points on one side of the mean that make a shift; unset = MDC"
    )
    spc_trend_points: int | None = Field(
        default=None, ge=2, description="SPC charts: points rising (or falling) that make a trend; unset = MDC"
    )
    spc_min_points: int | None = Field(
        default=None, ge=2, description="SPC charts: fewest months for process limits and readings; unset = MDC"
    )
    spc_baseline_points: int | None = Field(
        default=None,
        ge=2,
        description="SPC charts and authority alerts: fix the process limits on the first N months of each "
        "chart's window and extend them forward (MDC baseline), so a change after them does not move its own "
        "limits; unset = limits on every month of the window (the MDC tool's default; see README)",
    )
    spc_resolve_after_months: int | None = Field(
        default=None,
        ge=1,
        description="Authority alerts: months in a row with no concerning special cause before a raised alert "
        "resolves; unset = the default (services/board/core/authority_alerts.py)",
    )

    def spc_thresholds(self) -> dict[str, int]:
        """The SPC thresholds set here (the method's defaults stand for those left unset)."""
        found = {
            "shift_points": self.spc_shift_points,
            "trend_points": self.spc_trend_points,
            "min_points": self.spc_min_points,
            "baseline_points": self.spc_baseline_points,
            "resolve_after_months": self.spc_resolve_after_months,
        }
        return {key: value for key, value in found.items() if value is not None}


class SmtpSettings(_Section):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "SMTP_")

    host: str | None = None
    port: int = 25
    user: str | None = None
    password: SecretStr | None = None
    sender: str = "carewatch@localhost"
    tls: Literal["auto", "starttls", "tls", "none"] = Field(
        default="auto",
        description="auto: STARTTLS when the server offers it; starttls: required; tls: implicit TLS (port 465); "
        "none: plain text (a server on the same host only)",
    )


class NotifySettings(_Section):
    """Notification channels' timing (Alertmanager's group_wait/group_interval/repeat_interval) and content."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "NOTIFY_")

    include_child_id: bool = Field(
        default=False, description="Put child ids in notification bodies (off: the link to the alert is enough)"
    )
    webhook_url: str | None = Field(default=None, validation_alias=_alias("webhook_url"))
    group_wait_seconds: float = Field(default=30.0, ge=0)
    group_interval_seconds: float = Field(default=300.0, ge=0)
    repeat_interval_seconds: float = Field(default=4 * 3600.0, ge=0)
    retry_base_seconds: float = Field(default=30.0, gt=0, description="First retry delay; doubles")
    retry_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait between retries, so a digest goes soon after the channel is back"
    )
    give_up_hours: float = Field(
        default=72.0, gt=0, description="A digest still undelivered this long after it was planned is marked failed"
    )
    tick_seconds: float = Field(default=5.0, gt=0)


class AlertsSettings(_Section):
    """Alerts service: consumer, routing and escalation."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "ALERTS_")

    group_id: str = "carewatch-alerts"
    batch_size: int = Field(default=500, ge=1, description="Transitions written per DB transaction")
    routes: Path | None = Field(default=None, description="YAML file: team → e-mail/webhook recipients")
    escalation_working_days: dict[str, int] = Field(
        default_factory=lambda: {"high": 2, "medium": 5, "low": 10},
        description="Working days a raised alert may stay unacknowledged before the head of service hears",
    )
    case_record_url: str | None = Field(
        default=None,
        description="Link to the case record, with {child_id} in it (e.g. https://cms.example.gov.uk/person/{child_id})",
    )
    unallocated_managers: list[str] = Field(
        default_factory=list,
        description="Managers (user names) who see the unallocated queue (alerts with no team or no manager)",
    )


class _Sections(BaseModel):
    """A set of sections. Each is read from the environment unless given; a flat documented name without its
    ``CAREWATCH_`` prefix (``web_port=8080``) sets that field of its section, the others still come from the
    environment."""

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        sections = {name: info.annotation for name, info in cls.model_fields.items()}
        out: dict[str, Any] = {}
        flat: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            if key in sections:
                out[key] = value
                continue
            for section, section_cls in sections.items():
                assert isinstance(section_cls, type) and issubclass(section_cls, _Section)
                field = _flat_names(section_cls).get(key)
                if field is not None:
                    flat.setdefault(section, {})[field] = value
                    break
            else:
                raise ValueError(f"unknown setting {key!r}")
        for section, values in flat.items():
            if section in out:
                raise ValueError(f"section {section!r} given both whole and by field")
            section_cls = sections[section]
            assert isinstance(section_cls, type) and issubclass(section_cls, _Section)
            out[section] = section_cls(**values)
        return out

    def updated(self, **flat: Any) -> Self:
        """A copy with fields changed by their flat documented names (``web_port=8090``)."""
        changes: dict[str, dict[str, Any]] = {}
        for key, value in flat.items():
            for section, info in type(self).model_fields.items():
                section_cls = info.annotation
                assert isinstance(section_cls, type) and issubclass(section_cls, _Section)
                field = _flat_names(section_cls).get(key)
                if field is not None:
                    changes.setdefault(section, {})[field] = value
                    break
            else:
                raise ValueError(f"unknown setting {key!r}")
        return self.model_copy(
            update={section: getattr(self, section).model_copy(update=values) for section, values in changes.items()}
        )

    def on_broker(self, bootstrap: str) -> Self:
        """A copy pointed at a running broker (the embedded one when no external Kafka is configured)."""
        return self.updated(kafka_bootstrap=bootstrap)


@cache
def _flat_names(section: type[_Section]) -> dict[str, str]:
    """``web_port`` -> ``port``: each field by its documented environment name, less the ``CAREWATCH_`` prefix."""
    return {env[len(ENV_PREFIX) :].lower(): name for name, env in section.env_names().items()}


class _Stored(_Sections):
    """What every service reads: where the broker and the database are, and the event archive."""

    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)


class _Http(_Sections):
    auth: AuthSettings = Field(default_factory=AuthSettings)


class _Board(_Sections):
    board: BoardSettings = Field(default_factory=BoardSettings)


class IngestProcess(_Stored, _Http):
    """``serve ingest``: broker, database, archive, ingest and auth."""

    ingest: IngestSettings = Field(default_factory=IngestSettings)


class RulesProcess(_Stored, _Board):
    """``serve rules``: broker, database, archive, rules and board (disclosure of its counts)."""

    rules: RulesSettings = Field(default_factory=RulesSettings)


class AlertsProcess(_Stored, _Http, _Board):
    """``serve alerts``: the consumer, notifier, API, pages and board."""

    web: WebSettings = Field(default_factory=WebSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)


class Settings(IngestProcess, RulesProcess, AlertsProcess):
    """Every section: the command-line tools, the demo (all services in one process) and tests."""


def env_names() -> dict[str, tuple[str, str]]:
    """Every documented ``CAREWATCH_*`` variable -> (section, field)."""
    out: dict[str, tuple[str, str]] = {}
    for section, info in Settings.model_fields.items():
        section_cls = info.annotation
        assert isinstance(section_cls, type) and issubclass(section_cls, _Section)
        for field, env in section_cls.env_names().items():
            out[env] = (section, field)
    return out


def ingest_settings() -> IngestProcess:
    return IngestProcess()


def rules_settings() -> RulesProcess:
    return RulesProcess()


def alerts_settings() -> AlertsProcess:
    return AlertsProcess()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
