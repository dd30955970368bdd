"""Command-line entry point of the mobile API: ``gridcrew api`` (registered by ops.cli)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gridcrew.config import get_settings
from gridcrew.secret_policy import require


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes")] = None,
) -> None:
    """Serve the mobile API (OpenAPI at /docs)."""
    import uvicorn

    from gridcrew import logs, metrics
    from mobile_api.app import SECRETS
    from mobile_api.serve import trusted_proxies

    require("gridcrew api", SECRETS)
    s = get_settings()
    workers = workers or s.api_workers
    logs.setup("api")
    # several workers add up their figures through prometheus-client's multiprocess mode
    os.environ.update(metrics.multiprocess_env(os.environ, workers))
    proxies = trusted_proxies(s.trusted_proxies)
    uvicorn.run(
        "mobile_api.asgi:app",
        host=host or s.api_host,
        port=port or s.api_port,
        workers=workers,
        log_level="warning",
        log_config=None,  # gridcrew.logs formats uvicorn's lines too
        access_log=False,  # the API writes its own, tokens masked (mobile_api/metrics.py)
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        # open board streams must not hold a shutdown up
        timeout_graceful_shutdown=3,
    )


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    from mobile_api.notifications import cli as notify_cli

    app.command("api")(serve)
    app.command("notify")(notify_cli.notify)
