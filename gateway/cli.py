"""Command-line entry points of the gateway package (registered by ops.cli)."""

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
    from gridcrew.secret_policy import require

    logs.setup("gateway")
    require("gridcrew gateway", ("service_password",))
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
    from gridcrew.secret_policy import require

    logs.setup("modbus")

    require("gridcrew gateway modbus", ("service_password",))
    try:
        overrides = parse_overrides(port_override or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--port-override") from None
    raise typer.Exit(run_bridge(overrides))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    app.add_typer(gateway_app, name="gateway")
