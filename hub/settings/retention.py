"""Settings of retention: how long the hub keeps the payload bytes it journals, how long
health management keeps vaccination records, and how often both sides prune (README
"Retention"; what decides each period is `hub/retention.py`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["RetentionSettings"]


class RetentionSettings(BaseModel):
    """Retention periods and the prune job, on the hub's side and the adapters'."""

    transport_days: float = Field(
        default=30.0,
        gt=0,
        description="the hub's transport period: a journaled message's payload bytes are "
        "removed this long after it arrived (its metadata and the SHA-256 of the bytes stay); "
        "never later than the retention_days of its rows of the permitted-inquiry list, nor, "
        "for an inquiry's messages, than SESSHU_ADAPTERS__RESULT_RETENTION_HOURS (R42)",
    )
    refused_days: float = Field(
        default=7.0,
        gt=0,
        description="a refused message's bytes are removed this long after it arrived (time "
        "to look into the refusal; they may hold what the sender should have sealed)",
    )
    vaccination_record_years: int = Field(
        default=5,
        ge=1,
        le=100,
        description="health management deletes a vaccination record (a dose, a returned "
        "予診票 file, a VRS export or dose delivery) this many years after the vaccination "
        "or the file's arrival (予防接種法施行規則 §3: kept 5 years)",
    )
    interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="how often each hub worker and each city's adapters prune what is past "
        "its retention",
    )
    batch: int = Field(
        default=5000,
        ge=1,
        description="most rows of each kind one prune transaction removes; each transaction "
        "is audited with its counts",
    )
