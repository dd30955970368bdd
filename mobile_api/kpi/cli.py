"""KPI commands: ``gridcrew bench kpi`` (registered by the mobile API's cli)."""

from __future__ import annotations

import typer

from mobile_api.kpi.bench import bench_kpi


def register(app: typer.Typer, bench: typer.Typer) -> None:
    bench.command("kpi")(bench_kpi)
