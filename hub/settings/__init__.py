"""The one settings object (pydantic-settings, env prefix `SESSHU_`, nested with `__`).

Build it once at start-up with `Settings()` and pass it down; nothing reads the
environment anywhere else. README.md's settings table is checked against this model.
Its sub-models live by area: connections.py (RabbitMQ, PostgreSQL), worker.py (the hub
worker, the routing policy), signing.py, desk.py, retention.py, adapters.py, telemetry.py
(metrics and traces), tls.py (with the rule that refuses a link without TLS, which `load`
applies).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, Field, SecretStr, TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.settings.adapters import AdaptersSettings
from hub.settings.connections import AmqpSettings, DatabaseSettings
from hub.settings.desk import DeskSettings
from hub.settings.retention import RetentionSettings
from hub.settings.signing import SigningSettings
from hub.settings.telemetry import TelemetrySettings
from hub.settings.tls import PlaintextRefused, TlsSettings, check_plaintext
from hub.settings.worker import HubSettings, RoutingSettings

__all__ = [
    "AdaptersSettings",
    "AmqpSettings",
    "DatabaseSettings",
    "DeskSettings",
    "HubSettings",
    "PlaintextRefused",
    "RetentionSettings",
    "RoutingSettings",
    "Settings",
    "SigningSettings",
    "TelemetrySettings",
    "TlsSettings",
    "env_table",
    "load",
    "unknown_variables",
]


class Settings(BaseSettings):
    """Everything an operator can set, from `SESSHU_*` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="SESSHU_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    amqp: AmqpSettings = AmqpSettings()
    database: DatabaseSettings = DatabaseSettings()
    signing: SigningSettings = SigningSettings()
    hub: HubSettings = HubSettings()
    routing: RoutingSettings = RoutingSettings()
    desk: DeskSettings = DeskSettings()
    retention: RetentionSettings = RetentionSettings()
    adapters: AdaptersSettings = AdaptersSettings()
    tls: TlsSettings = TlsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    log_level: str = Field(default="INFO", description="log level of every process")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """SESSHU_* variables that are no setting: a typo there would otherwise pass unseen."""
    known = {variable for variable, _, _ in env_table()}
    return sorted(n for n in environ if n.upper().startswith("SESSHU_") and n.upper() not in known)


def load() -> Settings:
    """The settings from the environment; ValueError names any SESSHU_* variable unknown,
    PlaintextRefused any link without TLS that `tls.allow_plaintext` does not allow."""
    unknown = unknown_variables(os.environ)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)} (see `sesshu settings`)")
    settings = Settings()
    check_plaintext(settings)
    return settings


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
        if isinstance(default, tuple):
            default = ",".join(default)
        elif isinstance(default, dict):  # as the environment gives it: JSON
            default = TypeAdapter(dict[str, Any]).dump_json(default).decode()
        # Defaults are in the source already; only values set at run time are secret.
        shown = default.get_secret_value() if isinstance(default, SecretStr) else str(default)
        yield variable, shown, field.description or ""
