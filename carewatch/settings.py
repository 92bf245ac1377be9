"""One typed settings object for every service (environment prefix ``CAREWATCH_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Read from the environment (``CAREWATCH_KAFKA_BOOTSTRAP=...``) or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="CAREWATCH_", env_file=".env", extra="ignore")

    # Broker
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port of an external Kafka; unset = start the embedded Tansu broker"
    )
    topic_partitions: int = Field(default=8, ge=1, le=256)
    topic_replication: int = Field(default=1, ge=1)

    # Database
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; unset = an SQLite file under data_dir")
    data_dir: Path = Field(default=Path("var"), description="Where embedded state (SQLite, reports) lives")

    # Ingest HTTP
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8081
    ingest_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    ingest_max_batch_items: int = Field(default=10_000, ge=1)
    ingest_max_item_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=256 * 1024,
        description=(
            "Largest single event item; a request holding a bigger one is refused whole (413). At most 256 KiB, "
            "so that its dead letter (base64 and text copies) stays under the broker's 1 MiB record limit"
        ),
    )
    ingest_tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens with the ingest role (JSON list in the environment)"
    )

    # Event archive (every accepted event, appended before the client is told it was received)
    archive_enabled: bool = Field(
        default=True, description="Append accepted events to the event_archive table of the database"
    )
    archive_retention_years: int | None = Field(
        default=None, ge=1, description="Delete archived events received more than N years ago; unset = keep"
    )
    archive_republish_on_start: bool = Field(
        default=True,
        description=(
            "The rules service re-publishes archived events missing from the case-events topic. For a topic "
            "with time-limited retention, turn off and run `carewatch archive republish` after a data loss"
        ),
    )

    # Rules
    rules_config: Path | None = Field(default=None, description="TOML/YAML file of rule thresholds")
    tick_interval_seconds: float = Field(default=86_400.0, gt=0, description="Live clock-tick period")
    tick_scheduler: bool = Field(
        default=True, description="Send today's clock tick from the rules service (off when history is replayed)"
    )
    rules_store: str = Field(
        default="memory://",
        pattern=r"^(memory|rocksdb)://",
        description="Table store of the rules stream: memory:// (state recovered from the changelog topics at each "
        "start) or rocksdb:// (state kept on disk under data_dir, read back at start; needs the `rocksdb` extra, "
        "rocksdict). Each worker process needs a data_dir of its own with rocksdb://",
    )
    rules_standby_replicas: int = Field(
        default=1,
        ge=0,
        description="Rules workers that keep a standby copy of each partition's tables (faust's "
        "table_standby_replicas): a worker that takes over a partition has its state at once, at the cost of "
        "reading the other workers' changelogs all the time. 0: no standby (less CPU per record; a takeover "
        "recovers the partition from its changelog, or from its rocksdb:// files)",
    )
    rules_metrics_port: int = Field(default=8082, ge=0, le=65535, description="Rules stream /metrics port")
    rules_metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the rules stream's /metrics listens on (0.0.0.0 in a container, for Prometheus); "
        "ingest and alerts serve /metrics on their own HTTP listener (ingest_host, web_host)",
    )
    ingest_metrics_file: Path | None = Field(
        default=None,
        description="`carewatch ingest` writes its metrics here when done (node_exporter textfile collector)",
    )
    pushgateway_url: str | None = Field(
        default=None, description="host:port of a Prometheus Pushgateway that `carewatch ingest` pushes its metrics to"
    )

    # Alerts and board web service
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    public_url: str | None = Field(default=None, description="Base URL used in notification links")
    suppression_threshold: int = Field(
        default=5, ge=1, description="Board counts below this are hidden; so are per-team counts on /metrics"
    )
    board_audience: Literal["internal", "public"] = Field(
        default="internal",
        description="Board disclosure rules: internal (the authority's own board: percentages near 100% shown) "
        "or public (papers published to anyone: every rule)",
    )
    web_session_hours: float = Field(default=12.0, gt=0, description="How long a page sign-in lasts")

    # Sign-in with the council's identity provider (OpenID Connect, e.g. Microsoft Entra ID); off while unset
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL (Entra ID: https://login.microsoftonline.com/<tenant>/v2.0); unset = tokens only",
    )
    oidc_client_id: str | None = Field(default=None, description="The application (client) id registered for carewatch")
    oidc_client_secret: SecretStr | None = Field(default=None, description="The client secret registered for carewatch")
    oidc_redirect_url: str | None = Field(
        default=None,
        description="Where the provider sends the browser back: <public URL>/login/oidc/callback (unset = derived "
        "from the request)",
    )
    oidc_post_logout_redirect_url: str | None = Field(
        default=None,
        description="Where the provider sends the browser after signing out there: <public URL>/login (register it "
        "with the provider; unset = derived from the request)",
    )
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    oidc_username_claim: str = Field(
        default="preferred_username", description="The ID-token claim naming the user (Entra ID: the UPN)"
    )
    oidc_roles_claim: str = Field(default="roles", description="The claim listing the user's app roles")
    oidc_teams_claim: str = Field(default="groups", description="The claim listing the user's groups or teams")
    oidc_role_map: dict[str, Literal["manager", "board", "admin"]] = Field(
        default_factory=dict,
        description='Claim value -> carewatch role (JSON, e.g. {"CareWatch.Manager": "manager"}); '
        "with several, admin wins over manager over board; none = sign-in refused",
    )
    oidc_team_map: dict[str, str] = Field(
        default_factory=dict,
        description="Claim value (e.g. an Entra group id) -> carewatch team; empty = the claim values are team names",
    )
    oidc_http_timeout_seconds: float = Field(default=10.0, gt=0, description="Calls to the identity provider")

    # Failed sign-ins and bad bearer tokens, per client address (both HTTP services)
    auth_max_failures: int = Field(default=10, ge=1, description="Failures within the window that lock a client out")
    auth_failure_window_seconds: float = Field(default=300.0, gt=0)
    auth_lockout_seconds: float = Field(default=900.0, gt=0, description="How long a locked-out client waits")

    # Board pack and indicators
    board_authority_name: str = Field(default="Local authority", description="Name shown on the board pack")
    board_population_0_17: int | None = Field(
        default=None, ge=1, description="Children aged 0-17 living in the area (ONS mid-year), for rates"
    )
    board_neighbours_csv: Path | None = Field(
        default=None, description="Statistical-neighbour comparators: indicator,value,year,source"
    )
    board_targets_csv: Path | None = Field(default=None, description="Local targets: indicator,target[,amber_band]")
    board_amber_band: float = Field(
        default=5.0, ge=0, description="How far short of target is amber, in the indicator's unit"
    )

    # Notifications
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "carewatch@localhost"
    smtp_tls: Literal["auto", "starttls", "tls", "none"] = Field(
        default="auto",
        description="auto: STARTTLS when the server offers it; starttls: required; tls: implicit TLS (port 465); "
        "none: plain text (a server on the same host only)",
    )
    notify_include_child_id: bool = Field(
        default=False, description="Put child ids in notification bodies (off: the link to the alert is enough)"
    )
    webhook_url: str | None = None

    # Alerts service: consumer, routing, digests (Alertmanager's group_wait/group_interval/repeat_interval)
    alerts_group_id: str = "carewatch-alerts"
    alerts_batch_size: int = Field(default=500, ge=1, description="Transitions written per DB transaction")
    alerts_routes: Path | None = Field(default=None, description="YAML file: team → e-mail/webhook recipients")
    alerts_escalation_working_days: dict[str, int] = Field(
        default_factory=lambda: {"high": 2, "medium": 5, "low": 10},
        description="Working days a raised alert may stay unacknowledged before the head of service hears",
    )
    alerts_case_record_url: str | None = Field(
        default=None,
        description="Link to the case record, with {child_id} in it (e.g. https://cms.example.gov.uk/person/{child_id})",
    )
    alerts_unallocated_managers: list[str] = Field(
        default_factory=list,
        description="Managers (user names) who see the unallocated queue (alerts with no team or no manager)",
    )
    notify_group_wait_seconds: float = Field(default=30.0, ge=0)
    notify_group_interval_seconds: float = Field(default=300.0, ge=0)
    notify_repeat_interval_seconds: float = Field(default=4 * 3600.0, ge=0)
    notify_retry_base_seconds: float = Field(default=30.0, gt=0, description="First retry delay; doubles")
    notify_retry_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait between retries, so a digest goes soon after the channel is back"
    )
    notify_give_up_hours: float = Field(
        default=72.0, gt=0, description="A digest still undelivered this long after it was planned is marked failed"
    )
    notify_tick_seconds: float = Field(default=5.0, gt=0)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'carewatch.sqlite').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
