"""Command-line entry points of the dispatch package (registered by gridcrew.cli)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer


def serve() -> None:
    """Run the dispatcher: one leader plans, further instances stand by (SIGTERM stops)."""
    from dispatch import service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise typer.Exit(service.run())


def bench_vrptw(
    instance: Annotated[Path, typer.Option(help="A Solomon-format VRPTW instance")],
    time_limit: Annotated[float, typer.Option(help="Solver time limit, seconds")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Solve a Solomon VRPTW instance with the dispatcher's routing model."""
    from dispatch import vrptw

    if not instance.is_file():
        raise typer.BadParameter(f"{instance} is not a file", param_hint="--instance")
    typer.echo(json.dumps(vrptw.bench(instance, time_limit)))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root CLI and its benchmarks to `gridcrew bench`."""
    app.command("dispatch")(serve)
    bench.command("vrptw")(bench_vrptw)
