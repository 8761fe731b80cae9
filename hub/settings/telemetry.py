"""Settings of what each process tells its operators: `/metrics`, traces, logs."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    """Where `/metrics` is served and where spans go."""

    metrics_host: str = Field(
        default="127.0.0.1", description="address this process serves `/metrics` on"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="port of this process's `/metrics` (Prometheus text); unset: none. "
        "`sesshu hub --workers N` gives worker i this port + i; `sesshu stack up` and the demo "
        "give each process its own port from this one (default 9410)",
    )
    tracing: bool = Field(
        default=True,
        description="make spans and carry W3C traceparent in envelopes and AMQP headers "
        "(ids only; spans leave the process only where an OTLP endpoint is set)",
    )
    sample_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of the traces this process starts whose spans are kept and "
        "exported; a trace started elsewhere follows its sender's choice, and every hold, "
        "refusal and 所属長's decision is kept whatever this says. Every message carries "
        "its trace id (envelope, journal, logs) either way",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`); "
        "unset: spans are made but exported nowhere",
    )
    gauge_interval_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="how often the hub reads its outbox depth and oldest unpublished row "
        "and its connection pools for `/metrics`",
    )
