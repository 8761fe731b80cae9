"""Settings of the hub worker: batching, outbox relay, retries, holds, the municipalities
it serves, and the routing policy it decides by."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

import routing
from hub.settings.fields import MunicipalityCodes

__all__ = ["HubSettings", "RoutingSettings"]


class HubSettings(BaseModel):
    """The hub worker: batching, outbox relay, retries, the municipalities it serves."""

    municipalities: MunicipalityCodes = Field(
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
