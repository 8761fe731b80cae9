"""Settings of the hub's connections: RabbitMQ and PostgreSQL."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

__all__ = ["AmqpSettings", "DatabaseSettings"]


class AmqpSettings(BaseModel):
    """RabbitMQ connection and publishing."""

    url: SecretStr = Field(
        default=SecretStr("amqps://guest:guest@127.0.0.1:5671/?cafile=var/tls/ca.pem"),
        description="AMQP URL of RabbitMQ (credentials included, kept secret in logs); "
        "amqps:// verifying the broker against `cafile=` (or tls.ca_file)",
    )
    prefetch: int = Field(default=400, ge=1, description="unacknowledged messages per worker")
    publish_timeout_seconds: float = Field(
        default=10.0, gt=0, description="longest wait for a publisher confirm"
    )


class DatabaseSettings(BaseModel):
    """PostgreSQL connection."""

    url: SecretStr = Field(
        default=SecretStr(
            "postgresql://postgres@127.0.0.1:5432/sesshu"
            "?sslmode=verify-full&sslrootcert=var/tls/ca.pem"
        ),
        description="PostgreSQL DSN of the hub's database (sslmode=verify-full: TLS, the "
        "server's certificate checked against sslrootcert and its name)",
    )
    pool_size: int = Field(default=4, ge=1, description="connections per hub process")
    command_timeout_seconds: float = Field(
        default=30.0, gt=0, description="longest a single statement may run"
    )
