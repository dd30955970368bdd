"""KPI commands: ``gridcrew bench kpi`` and ``gridcrew bench reliability`` (registered by
the mobile API's cli)."""

from __future__ import annotations

import typer

from mobile_api.kpi.bench import bench_kpi
from mobile_api.kpi.reliability_bench import bench_reliability


def register(app: typer.Typer, bench: typer.Typer) -> None:
    bench.command("kpi")(bench_kpi)
    bench.command("reliability")(bench_reliability)
