"""The one settings object (pydantic-settings, env prefix `SESSHU_`, nested with `__`).

Build it once at start-up with `Settings()` and pass it down; nothing reads the
environment anywhere else. README.md's settings table is checked against this model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.signing import Freshness

__all__ = ["AmqpSettings", "DatabaseSettings", "Settings", "SigningSettings", "env_table"]


class AmqpSettings(BaseModel):
    """RabbitMQ connection."""

    url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        description="AMQP URL of RabbitMQ (credentials included, kept secret in logs)",
    )


class DatabaseSettings(BaseModel):
    """PostgreSQL connection."""

    url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/sesshu"),
        description="PostgreSQL DSN of the hub's database",
    )


class SigningSettings(BaseModel):
    """Key ring and signature freshness."""

    ring_dir: Path = Field(
        default=Path("var/keys/ring"),
        description="directory of key-ring entries (*.json) the hub verifies against",
    )
    max_age_seconds: int = Field(
        default=900, ge=1, description="oldest sent_at accepted, in seconds before now"
    )
    max_future_seconds: int = Field(
        default=60, ge=0, description="furthest sent_at accepted, in seconds after now (clock skew)"
    )

    def freshness(self) -> Freshness:
        """The freshness window for `contracts.signing.verify`."""
        return Freshness(
            max_age=timedelta(seconds=self.max_age_seconds),
            max_future=timedelta(seconds=self.max_future_seconds),
        )


class Settings(BaseSettings):
    """Everything an operator can set, from `SESSHU_*` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="SESSHU_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    amqp: AmqpSettings = AmqpSettings()
    database: DatabaseSettings = DatabaseSettings()
    signing: SigningSettings = SigningSettings()
    log_level: str = Field(default="INFO", description="log level of every process")


def env_table(
    model: type[BaseModel] = Settings, prefix: str = "SESSHU_"
) -> Iterator[tuple[str, str, str]]:
    """(variable, default, description) for every setting, nested ones flattened with `__`."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        variable = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from env_table(annotation, f"{variable}__")
            continue
        default = field.default
        # Defaults are in the source already; only values set at run time are secret.
        shown = default.get_secret_value() if isinstance(default, SecretStr) else str(default)
        yield variable, shown, field.description or ""
