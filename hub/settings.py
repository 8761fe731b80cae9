"""The one settings object (pydantic-settings, env prefix `SESSHU_`, nested with `__`).

Build it once at start-up with `Settings()` and pass it down; nothing reads the
environment anywhere else. README.md's settings table is checked against this model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import routing
from contracts.codes import LocalGovCode
from contracts.signing import Freshness, Signer

__all__ = [
    "AdaptersSettings",
    "AmqpSettings",
    "DatabaseSettings",
    "DeskSettings",
    "HubSettings",
    "RoutingSettings",
    "Settings",
    "SigningSettings",
    "env_table",
    "load",
    "unknown_variables",
]


class AmqpSettings(BaseModel):
    """RabbitMQ connection and publishing."""

    url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        description="AMQP URL of RabbitMQ (credentials included, kept secret in logs)",
    )
    prefetch: int = Field(default=400, ge=1, description="unacknowledged messages per worker")
    publish_timeout_seconds: float = Field(
        default=10.0, gt=0, description="longest wait for a publisher confirm"
    )


class DatabaseSettings(BaseModel):
    """PostgreSQL connection."""

    url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/sesshu"),
        description="PostgreSQL DSN of the hub's database",
    )
    pool_size: int = Field(default=4, ge=1, description="connections per hub process")
    command_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest a single statement may run"
    )


def split_list(value: object) -> object:
    """An environment variable holds "082279,082074"; a list in Python is a tuple."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


class HubSettings(BaseModel):
    """The hub worker: batching, outbox relay, retries, the municipalities it serves."""

    municipalities: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("082279", "082074"),
        description="local-government codes served; one adapter queue per system and code",
    )
    batch_max: int = Field(default=200, ge=1, description="most messages in one transaction")
    batch_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="most bytes of messages in one transaction (a batch holds at least one)",
    )
    outbox_claim_seconds: float = Field(
        default=15.0,
        gt=0,
        description="how long a worker's claim on the outbox rows it wrote lasts; after it, "
        "the relay publishes rows nobody sent (keep it above the publish timeout)",
    )
    relay_interval_seconds: float = Field(
        default=1.0, gt=0, description="how often the outbox relay looks for unsent rows"
    )
    retry_attempts: int = Field(
        default=5, ge=1, description="tries of a database or broker call before pausing"
    )
    retry_max_wait_seconds: float = Field(
        default=2.0, gt=0, description="longest back-off between two tries"
    )
    hold_expiry_seconds: float = Field(
        default=72 * 3600.0,
        gt=0,
        description="how long a held message waits for approval before it expires",
    )
    drain_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest a SIGTERM drain may take"
    )
    max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="largest envelope accepted; a larger one is refused (too_large) before "
        "it is read, and only this many of its bytes are journaled and dead-lettered",
    )

    @field_validator("municipalities", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_list(value)

    @field_validator("municipalities")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(LocalGovCode(v) for v in value)


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
    ring_reload_seconds: float = Field(
        default=10.0,
        gt=0,
        le=30,
        description="how often each hub worker looks for a changed key ring (SIGHUP: at "
        "once); a revoked key is refused, a new one accepted, from the next batch on",
    )
    hub_key_file: Path | None = Field(
        default=None,
        description="the hub's own signing key, `<key_id>.signing.pem` (from `sesshu keys "
        "generate --system hub`): signs approval attestations, rejection notices and audit "
        "checkpoints; unset, nothing can be approved or expired",
    )

    def hub_signer(self) -> Signer | None:
        """The hub's signer from `hub_key_file`; ValueError if the file is not a key."""
        if self.hub_key_file is None:
            return None
        try:
            return Signer.from_file(self.hub_key_file)
        except ValueError as exc:
            raise ValueError(f"signing.hub_key_file: {exc}") from None

    def freshness(self) -> Freshness:
        """The freshness window for `contracts.signing.verify`."""
        return Freshness(
            max_age=timedelta(seconds=self.max_age_seconds),
            max_future=timedelta(seconds=self.max_future_seconds),
        )


class DeskSettings(BaseModel):
    """The approval desk: HTTP API and approver page, sessions, background jobs."""

    http_host: str = Field(default="127.0.0.1", description="address `sesshu desk` listens on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="port of `sesshu desk`")
    secure_cookies: bool = Field(
        default=True,
        description="mark the session cookie Secure (sent over HTTPS only); turn off only "
        "to try the desk over plain HTTP on this machine",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (the terminal recorded at log-in); empty: none",
    )
    session_hours: float = Field(default=8.0, gt=0, description="how long a log-in session lasts")
    api_token_days: float = Field(default=365.0, gt=0, description="how long an API token lasts")
    expiry_interval_seconds: float = Field(
        default=30.0, gt=0, description="how often the hub expires held messages past their time"
    )
    checkpoint_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often the hub seals the journal into the audit log and signs its head",
    )
    journal_seal_lag_seconds: float = Field(
        default=300.0,
        ge=0,
        description="journal rows are sealed once this old (keep it well above the database "
        "command timeout, so no row below a seal can still be uncommitted)",
    )


class RoutingSettings(BaseModel):
    """The routing policy."""

    policy_dir: Path | None = Field(
        default=None,
        description="directory with permitted.csv and auto_response_disabled.csv "
        "(unset: the sample shipped in routing/policies/chikusei)",
    )

    def directory(self) -> Path:
        """The policy directory in force."""
        return self.policy_dir or Path(routing.__file__).parent / "policies" / "chikusei"


class AdaptersSettings(BaseModel):
    """The five systems' adapters: their keys, databases, edge folders and ports."""

    municipalities: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("082279", "082074"),
        description="the cities whose adapters `sesshu stack up` starts (each a hub municipality)",
    )
    key_dir: Path = Field(
        default=Path("var/keys/private"),
        description="the adapters' private keys (`<key_id>.signing.pem`, `.sealing.pem`); "
        "each adapter signs with the newest valid key of the ring for its system and city",
    )
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/sesshu_adapters"),
        description="base DSN of the adapters' own databases: a city's systems use "
        "`<name>_<code>`, the network `<name>_nws` (never the hub's database)",
    )
    data_dir: Path = Field(
        default=Path("var/adapters"),
        description="root of the edge folders, `<data_dir>/<code>/<system>/`",
    )
    poll_interval_seconds: float = Field(
        default=2.0, gt=0, description="how often the drop folders are looked at"
    )
    result_retention_hours: float = Field(
        default=72.0,
        gt=0,
        description="finished or interrupted inquiry results are deleted this long after "
        "they arrive (R42)",
    )
    consent_not_required: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="cities whose transfer-in inquiries need no consent reference (VRS "
        "dropped the checkbox in Dec 2021; on by default, as the source document says)",
    )
    kiosk_enrolled: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="cities enrolled in convenience-store issuance: the kiosk takes "
        "applications for these only (R10)",
    )
    kiosk_http_host: str = Field(default="127.0.0.1", description="address of the kiosk edge")
    kiosk_http_port: int = Field(
        default=8090, ge=0, le=65535, description="first port of the kiosk edge (one per city)"
    )
    certificate_wait_seconds: float = Field(
        default=20.0,
        gt=0,
        description="how long the certificate center waits for VRS before it tells the "
        "terminal no certificate could be issued",
    )
    shc_issuer_url: str = Field(
        default="https://vrs.example.jp/shc",
        description="the `iss` of SMART Health Cards the VRS adapter issues",
    )
    shc_key_file: Path | None = Field(
        default=None,
        description="the VRS issuer's ES256 private key (PEM); unset, one is generated "
        "under key_dir on first start",
    )

    @field_validator("municipalities", "consent_not_required", "kiosk_enrolled", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_list(value)

    @field_validator("municipalities", "consent_not_required", "kiosk_enrolled")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(LocalGovCode(v) for v in value)

    def database_for(self, owner: str) -> str:
        """The DSN of one city's (or the network's) adapter database."""
        base = self.database_url.get_secret_value()
        head, _, name = base.rpartition("/")
        name, query = ([*name.split("?", 1), ""])[:2]
        return f"{head}/{name}_{owner}" + (f"?{query}" if query else "")


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
    adapters: AdaptersSettings = AdaptersSettings()
    log_level: str = Field(default="INFO", description="log level of every process")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """SESSHU_* variables that are no setting: a typo there would otherwise pass unseen."""
    known = {variable for variable, _, _ in env_table()}
    return sorted(n for n in environ if n.upper().startswith("SESSHU_") and n.upper() not in known)


def load() -> Settings:
    """The settings from the environment; ValueError names any SESSHU_* variable unknown."""
    unknown = unknown_variables(os.environ)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)} (see `sesshu settings`)")
    return Settings()


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
        # Defaults are in the source already; only values set at run time are secret.
        shown = default.get_secret_value() if isinstance(default, SecretStr) else str(default)
        yield variable, shown, field.description or ""
