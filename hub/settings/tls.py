"""Settings of TLS on every link, and the rule that holds them: an AMQP URL without TLS
(`amqp://`) or a PostgreSQL DSN without verified TLS (`sslmode=verify-full`) is refused at
start-up unless `tls.allow_plaintext` says this is development."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["PlaintextRefused", "TlsSettings", "check_plaintext", "plaintext_links"]


class TlsSettings(BaseModel):
    """Where `sesshu tls init` writes, what clients verify against, the HTTPS servers' files."""

    dir: Path = Field(
        default=Path("var/tls"),
        description="where `sesshu tls init` keeps the local CA and the servers' certificates",
    )
    ca_file: Path = Field(
        default=Path("var/tls/ca.pem"),
        description="the CA clients verify RabbitMQ and the HTTPS servers against when the URL "
        "names none (an AMQP URL's `cafile=`, a DSN's `sslrootcert=` come first)",
    )
    allow_plaintext: bool = Field(
        default=False,
        description="development only: accept `amqp://` and DSNs without sslmode=verify-full "
        "(the hub logs a warning); otherwise they are refused at start-up",
    )
    desk_cert_file: Path | None = Field(
        default=None, description="certificate of `sesshu desk`'s HTTPS (unset: plain HTTP)"
    )
    desk_key_file: Path | None = Field(default=None, description="its private key")
    kiosk_cert_file: Path | None = Field(
        default=None,
        description="certificate of the certificate center's (kiosk edge's) HTTPS (unset: "
        "plain HTTP)",
    )
    kiosk_key_file: Path | None = Field(default=None, description="its private key")


class PlaintextRefused(ValueError):
    """A link without TLS, and plaintext not allowed: the message names the setting."""


def plaintext_links(settings: Settings) -> list[str]:
    """Why each link of the settings goes without (verified) TLS, one line per setting."""
    reasons = []
    amqp = urlsplit(settings.amqp.url.get_secret_value())
    if amqp.scheme != "amqps":
        reasons.append("amqp.url: plaintext AMQP is refused; use amqps://")
    elif parse_qs(amqp.query).get("no_verify_ssl", ["0"])[-1] != "0":
        reasons.append("amqp.url: no_verify_ssl leaves the broker unverified; drop it")
    for name, dsn in (
        ("database.url", settings.database.url),
        ("adapters.database_url", settings.adapters.database_url),
    ):
        mode = parse_qs(urlsplit(dsn.get_secret_value()).query).get("sslmode", ["prefer"])[-1]
        if mode != "verify-full":
            reasons.append(
                f"{name}: PostgreSQL without verified TLS (sslmode={mode}) is refused; "
                "add ?sslmode=verify-full&sslrootcert=<CA file>"
            )
    return reasons


def check_plaintext(settings: Settings) -> list[str]:
    """The plaintext links `tls.allow_plaintext` lets through (for the warning), or
    PlaintextRefused naming every setting at fault."""
    reasons = plaintext_links(settings)
    if reasons and not settings.tls.allow_plaintext:
        hint = " or set tls.allow_plaintext for development"
        raise PlaintextRefused("; ".join(reason + hint for reason in reasons))
    return reasons
