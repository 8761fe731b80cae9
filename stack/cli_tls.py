"""`sesshu tls`: the local CA and the servers' certificates (stack/tls.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.settings import Settings
from stack import tls

__all__ = ["tls_app"]

tls_app = typer.Typer(help="TLS: the local CA and the servers' certificates.", no_args_is_help=True)


@tls_app.command("init")
def init(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="where to keep them (default: tls.dir)")
    ] = None,
) -> None:
    """Make the CA and the certificates of RabbitMQ, PostgreSQL, the desk and the kiosk
    (SANs localhost, 127.0.0.1, ::1); keep what is valid, renew what is near expiry."""
    # Settings() and not load(): making certificates needs no link, plaintext or not.
    where = directory or Settings().tls.dir
    made = tls.init(where)
    for name in made:
        typer.echo(f"made {where / name}.pem")
    if not made:
        typer.echo(f"{where}: every certificate valid for {tls.RENEW_WITHIN.days}+ days")
    ca = (where / "ca.pem").resolve()
    typer.echo(f"clients verify against {ca}:")
    typer.echo(f"  SESSHU_AMQP__URL=amqps://USER:PASSWORD@127.0.0.1:5671/VHOST?cafile={ca}")
    typer.echo(
        "  SESSHU_DATABASE__URL=postgresql://ROLE@127.0.0.1:5432/DB"
        f"?sslmode=verify-full&sslrootcert={ca}"
    )


@tls_app.command("install")
def install(
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(tls.SERVICES)}")],
    target: Annotated[Path, typer.Argument(help="folder the server reads them from")],
    owner: Annotated[str, typer.Option(help="the OS user the server runs as")],
    directory: Annotated[Path | None, typer.Option("--dir", help="default: tls.dir")] = None,
) -> None:
    """Copy the CA and one service's certificate and key where its OS user reads them."""
    if service not in tls.SERVICES:
        typer.echo(f"error: unknown service {service!r}", err=True)
        raise typer.Exit(2)
    changed = tls.install(directory or Settings().tls.dir, service, target, owner)
    typer.echo(f"{target}: {'replaced' if changed else 'unchanged'}")
