"""Command-line entry points of the gateway package (registered by gridcrew.cli)."""

from __future__ import annotations

from typing import Annotated

import typer

gateway_app = typer.Typer(
    invoke_without_command=True,
    help="MQTT -> TimescaleDB ingest, alarms to incidents and work orders; Modbus bridge.",
)


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes on the shared subscription")
    ] = 1,
    group: Annotated[str, typer.Option(help="Shared-subscription group (and client-id prefix)")] = (
        "gateway"
    ),
    shared: Annotated[
        bool | None,
        typer.Option(
            "--shared/--no-shared",
            help="Subscribe on the shared subscription (default: only with --workers > 1; "
            "pass --shared for gateway replicas on several hosts)",
        ),
    ] = None,
    worker_index: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the gateway until SIGTERM / Ctrl-C (then exit 0)."""
    if ctx.invoked_subcommand is not None:
        return
    import sys

    from gateway.service import WorkerConfig, run_worker, run_workers
    from gridcrew import logs
    from gridcrew.config import get_settings

    logs.setup("gateway")

    if shared is None:
        shared = workers > 1
    if worker_index is None and workers > 1:
        command = [sys.executable, "-m", "gridcrew", "gateway", "--group", group, "--shared"]
        raise typer.Exit(run_workers(command, workers))
    cfg = WorkerConfig.from_settings(get_settings(), worker_index or 0, group, shared=shared)
    raise typer.Exit(run_worker(cfg))


@gateway_app.command("modbus")
def modbus(
    port_override: Annotated[
        list[str] | None,
        typer.Option(help="DEVICE=PORT or DEVICE=HOST:PORT instead of the device's config"),
    ] = None,
) -> None:
    """Poll the Modbus TCP devices of the devices table into the same pipeline."""
    from gateway.modbus import parse_overrides, run_bridge
    from gridcrew import logs

    logs.setup("modbus")

    try:
        overrides = parse_overrides(port_override or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--port-override") from None
    raise typer.Exit(run_bridge(overrides))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this package's commands to the root CLI and its benchmarks to `gridcrew bench`."""
    app.add_typer(gateway_app, name="gateway")

    @bench.command("ingest")
    def bench_ingest(
        messages: Annotated[int, typer.Option(min=1, help="Messages to publish")] = 20_000,
        batch_size: Annotated[int, typer.Option(min=1, help="Readings per message")] = 1,
        workers: Annotated[str, typer.Option(help="Gateway worker counts to run, e.g. 1,2,4")] = (
            "1"
        ),
        json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
        metrics: Annotated[
            bool, typer.Option(help="The gateway counts and serves /metrics (off: its cost)")
        ] = True,
    ) -> None:
        """Broker -> committed rows against COPY, naive INSERT and a bare subscriber."""
        import json

        from gateway.bench import ingest

        counts = [int(w) for w in workers.split(",") if w.strip()]
        result = ingest(messages, batch_size, counts, metrics=metrics)
        typer.echo(json.dumps(result, indent=None if json_out else 2))

    @bench.command("alarms")
    def bench_alarms(
        alarms: Annotated[int, typer.Option(min=1, help="Last-gasp alarms in the burst")] = 5000,
        transformers: Annotated[int, typer.Option(min=1, help="Transformers behind them")] = 20,
        json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    ) -> None:
        """Latency from an alarm's publish to its work order's commit during a burst."""
        import json

        from gateway.bench import alarm_burst

        result = alarm_burst(alarms, transformers)
        typer.echo(json.dumps(result, indent=None if json_out else 2))
