"""``gridcrew bench ...``: every benchmark, JSON on stdout, each against a baseline in the
same run. Mounted by ops.cli; product packages never import this package."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bench.api import bench_api
from bench.kpi import bench_kpi
from bench.reliability import bench_reliability
from gridcrew import progress

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (JSON on stdout).")


@bench_app.callback()
def _bench_progress(ctx: typer.Context) -> None:
    """Every benchmark shows its progress on a terminal (quiet with --json)."""
    display = progress.progress(f"bench {ctx.invoked_subcommand}", quiet="--json" in sys.argv)
    display.__enter__()
    ctx.call_on_close(lambda: display.__exit__(None, None, None))


bench_app.command("api")(bench_api)
bench_app.command("kpi")(bench_kpi)
bench_app.command("reliability")(bench_reliability)


@bench_app.command("ingest")
def bench_ingest(
    messages: Annotated[int, typer.Option(min=1, help="Messages to publish")] = 20_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Readings per message")] = 1,
    workers: Annotated[str, typer.Option(help="Gateway worker counts to run, e.g. 1,2,4")] = ("1"),
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    metrics: Annotated[
        bool, typer.Option(help="The gateway counts and serves /metrics (off: its cost)")
    ] = True,
) -> None:
    """Broker -> committed rows against COPY, naive INSERT and a bare subscriber."""
    import json

    from bench.ingest import ingest

    counts = [int(w) for w in workers.split(",") if w.strip()]
    result = ingest(messages, batch_size, counts, metrics=metrics)
    typer.echo(json.dumps(result, indent=None if json_out else 2))


@bench_app.command("alarms")
def bench_alarms(
    alarms: Annotated[int, typer.Option(min=1, help="Last-gasp alarms in the burst")] = 5000,
    transformers: Annotated[int, typer.Option(min=1, help="Transformers behind them")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """Latency from an alarm's publish to its work order's commit during a burst."""
    import json

    from bench.ingest import alarm_burst

    result = alarm_burst(alarms, transformers)
    typer.echo(json.dumps(result, indent=None if json_out else 2))


def bench_vrptw(
    instance: Annotated[
        Path,
        typer.Option(
            help="A Solomon-format VRPTW instance (Solomon, Gehring & Homberger), or a folder"
        ),
    ],
    time_limit: Annotated[float, typer.Option(help="Solver time limit, seconds")] = 10.0,
    baseline: Annotated[
        bool, typer.Option(help="Also solve with PyVRP, same time limit (when installed)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Solve VRPTW instances with the dispatcher's routing model, PyVRP as the baseline."""
    from bench import vrptw

    if instance.is_dir():
        typer.echo(json.dumps(vrptw.bench_folder(instance, time_limit, baseline=baseline)))
        return
    if not instance.is_file():
        raise typer.BadParameter(f"{instance} is neither a file nor a folder", "--instance")
    typer.echo(json.dumps(vrptw.bench(instance, time_limit, baseline=baseline)))


def bench_storm(
    seed: Annotated[int, typer.Option(help="Storm seed")] = 1,
    faults: Annotated[int, typer.Option(help="Faults over the storm")] = 120,
    crews: Annotated[int, typer.Option(help="Crews on shift")] = 12,
    hours: Annotated[float, typer.Option(help="Hours over which faults arrive")] = 6.0,
    time_limit: Annotated[float, typer.Option(help="Solver time per re-plan, seconds")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Storm day on the demo territory, virtual clock: OR-Tools against the greedy
    nearest-crew and the EDF nearest-free-crew baselines."""
    from bench import storm

    result = storm.bench(seed, faults, crews, hours=hours, time_limit_s=time_limit)
    typer.echo(json.dumps(result))


def bench_scale(
    sizes: Annotated[str, typer.Option(help="Job counts, comma-separated")] = "50,100,200,300,500",
    crews: Annotated[int, typer.Option(help="Crews")] = 30,
    time_limit: Annotated[float | None, typer.Option(help="Solver time, seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = True,
) -> None:
    """Full re-plan time (load, solve, commit) on a scratch database at growing job counts."""
    from bench import dispatch_scale as scale
    from gridcrew.config import get_settings

    counts = [int(x) for x in sizes.split(",") if x.strip()]
    limit = time_limit if time_limit is not None else get_settings().dispatch_time_limit_s
    typer.echo(json.dumps(scale.bench(counts, crews, limit)))


def bench_meters(
    meters: Annotated[int, typer.Option(help="Meters")] = 10_000,
    ticks: Annotated[int, typer.Option(help="Readings per meter")] = 3,
    batch: Annotated[
        bool, typer.Option(help="Through concentrators (else per-meter logins)")
    ] = True,
    publish: Annotated[
        bool, typer.Option(help="Publish to the broker too (GRIDCREW_MQTT_URL)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (the only format)")] = True,
) -> None:
    """Simulator throughput: generation vs serialisation floor, per-device publishing vs one
    service login."""
    from bench.simulate_meters import run

    typer.echo(json.dumps(run(meters, ticks, batch, publish), indent=2))


bench_app.command("vrptw")(bench_vrptw)
bench_app.command("storm")(bench_storm)
bench_app.command("dispatch-scale")(bench_scale)
bench_app.command("simulate-meters")(bench_meters)
