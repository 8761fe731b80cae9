"""`python -m hub.web`: serve the approval desk (what `sesshu desk` runs)."""

from __future__ import annotations

import uvicorn

from hub.settings import Settings, load
from hub.web.app import create_app
from observability import logs


def serve(settings: Settings) -> None:
    """Serve the desk on the configured address until interrupted."""
    uvicorn.run(
        create_app(settings),
        host=settings.desk.http_host,
        port=settings.desk.http_port,
        log_config=None,
        proxy_headers=bool(settings.desk.trusted_proxies),
        forwarded_allow_ips=settings.desk.trusted_proxies or None,
    )


def main() -> None:
    """`python -m hub.web`: settings from the environment, JSON logs, serve."""
    settings = load()
    logs.configure(settings.log_level)
    serve(settings)


if __name__ == "__main__":
    main()
