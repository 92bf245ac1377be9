"""One typed settings object for every service (environment prefix ``CAREWATCH_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset = an SQLite file under data_dir"
    )
    data_dir: Path = Field(default=Path("var"), description="Where embedded state (SQLite, reports) lives")

    # Ingest HTTP
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8081
    ingest_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    ingest_max_batch_items: int = Field(default=10_000, ge=1)
    ingest_tokens: list[SecretStr] = Field(
        default_factory=list, description="Bearer tokens with the ingest role (JSON list in the environment)"
    )

    # Rules
    rules_config: Path | None = Field(default=None, description="TOML/YAML file of rule thresholds")
    tick_interval_seconds: float = Field(default=86_400.0, gt=0, description="Live clock-tick period")

    # Alerts and board web service
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    public_url: str | None = Field(default=None, description="Base URL used in notification links")
    suppression_threshold: int = Field(default=5, ge=1, description="Board counts below this are hidden")

    # Notifications
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "carewatch@localhost"
    webhook_url: str | None = None

    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'carewatch.sqlite').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
