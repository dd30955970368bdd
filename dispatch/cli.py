"""Command-line entry points of the dispatch package (registered by ops.cli)."""

from __future__ import annotations

import logging

import typer


def serve() -> None:
    """Run the dispatcher: one leader plans, further instances stand by (SIGTERM stops)."""
    from dispatch import service
    from gridcrew.secret_policy import require

    require("gridcrew dispatch", ("service_password",))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise typer.Exit(service.run())


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    app.command("dispatch")(serve)
