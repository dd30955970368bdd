"""Command-line entry points of the gateway package (registered by gridcrew.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root CLI and its benchmarks to `gridcrew bench`."""
