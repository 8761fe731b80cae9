"""`python -m hub.web`: serve the approval desk (what `sesshu desk` runs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from hub.cli_common import start_telemetry
from hub.settings import Settings, load
from hub.tls import warn_plaintext
from hub.web.app import create_app
from observability import logs, metrics


class _Server(uvicorn.Server):
    """uvicorn, except that SIGTERM after a graceful shutdown exits 0 as the hub does
    (uvicorn raises the signal again once shut down, so the process dies of it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
                # Shut down already: a late second signal must not kill the exit.
                signal.signal(signum, signal.SIG_IGN)


def serve(settings: Settings) -> None:
    """Serve the desk on the configured address until SIGTERM or SIGINT; exit 0."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.desk.http_host,
        port=settings.desk.http_port,
        log_config=None,
        proxy_headers=bool(settings.desk.trusted_proxies),
        forwarded_allow_ips=settings.desk.trusted_proxies or None,
        # HTTPS where the desk's certificate is set (`sesshu tls init` makes one).
        ssl_certfile=settings.tls.desk_cert_file,
        ssl_keyfile=settings.tls.desk_key_file,
    )
    _Server(config).run()


def main() -> None:
    """`python -m hub.web`: settings from the environment, JSON logs, serve."""
    settings = load()
    logs.configure(settings.log_level)
    warn_plaintext(settings, logging.getLogger("sesshu.desk"))
    start_telemetry(settings, "sesshu-desk", metrics.DESK)
    serve(settings)


if __name__ == "__main__":
    main()
