"""Settings of the approval desk: where it listens, the host names it answers to, the
largest body it reads, its cookies and proxies, how long sessions and tokens last, how
often the hub expires holds, seals the journal and takes up re-drives, where the
operator console reads queue depths, and what the review of the audit trail judges by."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from hub.settings.fields import split_list
from hub.settings.hours import OfficeHours

__all__ = ["DeskSettings"]

HostNames = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_list)]
"""Host names; the environment holds them comma-separated ("desk.example,127.0.0.1")."""


class DeskSettings(BaseModel):
    """The approval desk: HTTP API and approver page, sessions, background jobs."""

    http_host: str = Field(default="127.0.0.1", description="address `sesshu desk` listens on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="port of `sesshu desk`")
    secure_cookies: bool = Field(
        default=True,
        description="mark the session cookie Secure (sent over HTTPS only); turn off only "
        "to try the desk over plain HTTP on this machine",
    )
    allowed_hosts: HostNames = Field(
        default=("localhost", "127.0.0.1", "[::1]"),
        description="comma-separated host names the desk answers to (the Host header; "
        "http_host is added unless it is a wildcard address); a request naming another "
        "is refused with 400, so a name rebound to this machine by DNS reaches nothing",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=16 * 1024,  # a log-in with the longest password, percent-encoded, fits
        description="largest request body the desk reads, in bytes: a larger Content-Length "
        "is refused with 413 at once, and a body without one is cut off once it passes this",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (the terminal recorded at log-in); empty: none",
    )
    review_key_dir: Path | None = Field(
        default=Path("var/keys/desk"),
        description="the desk's private review keys (`<key_id>.sealing.pem`, one per "
        "municipality), which open the review copies of held provisions (R37); only the "
        "desk reads them, never a hub worker or an adapter",
    )
    session_hours: float = Field(default=8.0, gt=0, description="how long a log-in session lasts")
    idle_timeout_seconds: float = Field(
        default=900.0,
        ge=60,  # above the ten seconds within which a session's last use is written
        description="a log-in session unused for longer ends (signed out, audited): the page "
        "shows personal data, so it must not stay open on an unattended screen; API tokens "
        "have no idle timeout (tools use them on their own schedule)",
    )
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
    redrive_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often each hub worker takes up the re-drives operators confirmed "
        "at the desk",
    )
    office_hours: str = Field(
        default="08:30-17:15",
        description="office hours, HH:MM-HH:MM in Japan's time, Monday to Friday: the review "
        "of the audit trail (`sesshu audit review`, /audit/review) lists log-ins outside them",
    )
    unused_account_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="the review of the audit trail lists enabled accounts not used (no "
        "log-in, no session or token use) for this many days",
    )
    broker_api_url: str = Field(
        default="http://127.0.0.1:15672",
        description="RabbitMQ's management HTTP API, where the operator console reads queue "
        "depths (shown as unavailable when it does not answer); https:// is verified against "
        "tls.ca_file, plain http is used only to this machine unless tls.allow_plaintext",
    )
    broker_api_user: str = Field(
        default="guest", description="the management API's user (a monitoring user suffices)"
    )
    broker_api_password: SecretStr = Field(default=SecretStr("guest"), description="its password")
    broker_api_vhost: str | None = Field(
        default=None,
        description="the vhost whose queues the console shows (unset: SESSHU_AMQP__URL's)",
    )
    broker_api_timeout_seconds: float = Field(
        default=2.0, gt=0, description="longest the console waits for the management API"
    )

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        return str(OfficeHours.parse(value))
