"""Command-line entry points of the dispatch package (registered by gridcrew.cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def serve() -> None:
    """Run the dispatcher: one leader plans, further instances stand by (SIGTERM stops)."""
    from dispatch import service
    from gridcrew import logs, metrics
    from gridcrew.config import get_settings

    logs.setup("dispatcher")
    metrics.serve(get_settings().dispatch_metrics_port, "dispatcher")
    raise typer.Exit(service.run())


def bench_vrptw(
    instance: Annotated[
        Path, typer.Option(help="A Solomon-format VRPTW instance, or a folder of them")
    ],
    time_limit: Annotated[float, typer.Option(help="Solver time limit, seconds")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Solve a Solomon VRPTW instance with the dispatcher's routing model."""
    from dispatch import vrptw

    if instance.is_dir():
        typer.echo(json.dumps(vrptw.bench_folder(instance, time_limit)))
        return
    if not instance.is_file():
        raise typer.BadParameter(f"{instance} is neither a file nor a folder", "--instance")
    typer.echo(json.dumps(vrptw.bench(instance, time_limit)))


def bench_storm(
    seed: Annotated[int, typer.Option(help="Storm seed")] = 1,
    faults: Annotated[int, typer.Option(help="Faults over the storm")] = 120,
    crews: Annotated[int, typer.Option(help="Crews on shift")] = 12,
    hours: Annotated[float, typer.Option(help="Hours over which faults arrive")] = 6.0,
    time_limit: Annotated[float, typer.Option(help="Solver time per re-plan, seconds")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Storm day on the demo territory, virtual clock: OR-Tools against the greedy baseline."""
    from dispatch import storm

    result = storm.bench(seed, faults, crews, hours=hours, time_limit_s=time_limit)
    typer.echo(json.dumps(result))


def bench_scale(
    sizes: Annotated[str, typer.Option(help="Job counts, comma-separated")] = "50,100,200,300,500",
    crews: Annotated[int, typer.Option(help="Crews")] = 30,
    time_limit: Annotated[float | None, typer.Option(help="Solver time, seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Full re-plan time (load, solve, commit) on a scratch database at growing job counts."""
    from dispatch import scale
    from gridcrew.config import get_settings

    counts = [int(x) for x in sizes.split(",") if x.strip()]
    limit = time_limit if time_limit is not None else get_settings().dispatch_time_limit_s
    typer.echo(json.dumps(scale.bench(counts, crews, limit)))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root CLI and its benchmarks to `gridcrew bench`."""
    app.command("dispatch")(serve)
    bench.command("vrptw")(bench_vrptw)
    bench.command("storm")(bench_storm)
    bench.command("dispatch-scale")(bench_scale)
