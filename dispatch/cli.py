"""Command-line entry points of the dispatch package (registered by ops.cli)."""

from __future__ import annotations

import typer


def serve() -> None:
    """Run the dispatcher: one leader plans, further instances stand by (SIGTERM stops)."""
    from dispatch import service
    from gridcrew import logs, metrics
    from gridcrew.config import get_settings
    from gridcrew.secret_policy import require

    logs.setup("dispatcher")
    require("gridcrew dispatch", ("service_password",))
    metrics.serve(get_settings().dispatch_metrics_port, "dispatcher")
    raise typer.Exit(service.run())


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    app.command("dispatch")(serve)
