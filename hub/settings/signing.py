"""Settings of signatures: the key ring verified against, how fresh a signature must be,
and the hub's own signing key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from contracts.signing import Freshness, Signer

__all__ = ["SigningSettings"]


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
