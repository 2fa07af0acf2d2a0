"""Settings, read from ``TIMELINE_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from service.domain.webhooks import parse_schedule
from service.store.backends import normalise_url

SCOPES = ("read", "write", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIMELINE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///timeline.sqlite3"
    api_tokens: str = Field(default="", description="comma-separated token:scope pairs")
    public_reads: bool = False
    read_wait: float = Field(default=5.0, ge=0, le=60)
    # Read queries run at once per API process; 0: 2 on SQLite, 4 on PostgreSQL.
    read_concurrency: int = Field(default=0, ge=0, le=64)
    # PostgreSQL: connections the event store keeps open (it opens up to 20 more under load).
    postgres_pool_size: int = Field(default=10, ge=1, le=100)
    # Under a stream of appends, projections start a batch at most this often (seconds).
    projection_interval: float = Field(default=0.05, ge=0, le=5)
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_timeout: float = Field(default=15.0, gt=0, le=300)
    # Delivery slots per dispatcher: how many subscribers are being called at once.
    webhook_concurrency: int = Field(default=32, ge=1, le=256)
    webhook_allow_hosts: str = ""
    # Seconds a client has to send a request's head, and then its whole body (service.api.connections).
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    body_timeout: float = Field(default=60.0, gt=0, le=3600)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("database_url")
    @classmethod
    def _database_supported(cls, value: str) -> str:
        try:
            normalise_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_well_formed(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            token, _, scope = pair.rpartition(":")
            if not token or scope not in SCOPES:
                raise ValueError(f"expected token:scope with scope one of {', '.join(SCOPES)}")
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_well_formed(cls, value: str) -> str:
        parse_schedule(value)
        return value

    def retry_schedule(self) -> list[float]:
        return parse_schedule(self.webhook_retry_schedule)

    def token_scopes(self) -> dict[str, str]:
        pairs = (p.strip().rpartition(":") for p in self.api_tokens.split(",") if p.strip())
        return {token: scope for token, _, scope in pairs}
