"""Command-line entry points of the simulators package (registered by ops.cli).

``gridcrew simulate …``: meters, fci, modbus, crews, storm, demo; and
``gridcrew bench simulate-meters``. Each command runs one asyncio loop and exits 0 on
SIGTERM/SIGINT after its devices said ``offline``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

import typer

from simulators.defects import MALFORMED_KINDS, Defects
from simulators.grid import Grid, territory
from simulators.timeline import RunSpec, pick_meters

simulate = typer.Typer(no_args_is_help=True, help="Simulated devices, crews and storm days.")
log = logging.getLogger("gridcrew.simulators")


@simulate.callback()
def _logging() -> None:
    from gridcrew import logs

    logs.setup("simulators")


Seed = Annotated[int, typer.Option(help="Seed of everything random in the run")]
TerritorySeed = Annotated[int, typer.Option(help="Seed of the territory (the database's: 1)")]
Start = Annotated[
    str | None, typer.Option(help="ISO time of the run's start (default: now); fixes timestamps")
]
Duration = Annotated[
    float | None, typer.Option(help="Stop after this many seconds (default: until SIGTERM)")
]


def _start(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO time, e.g. 2026-12-01T08:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _grid(territory_seed: int) -> Grid:
    return Grid(territory(territory_seed))


def _dry_run(messages) -> None:
    """Write the stream as JSON lines instead of publishing (the payload base64)."""
    out = sys.stdout
    for m in messages:
        line = {"at": round(m.at, 6), "client": m.client, "topic": m.topic}
        line["payload"] = base64.b64encode(m.payload).decode()
        out.write(json.dumps(line) + "\n")
    out.flush()


def _require_device_secret(command: str) -> None:
    """The simulated devices log in to the broker with passwords derived from the secret."""
    from gridcrew.secret_policy import require

    require(f"gridcrew simulate {command}", ("device_secret",))


def _run(coro) -> None:
    try:
        asyncio.run(coro)
    except OSError as exc:  # broker unreachable or refusing, port in use
        log.info(f"error: {exc}")
        raise typer.Exit(2) from None


@simulate.command("meters")
def meters_cmd(
    count: Annotated[int, typer.Option(help="How many meters (spread over the territory)")] = 1000,
    interval: Annotated[float, typer.Option(help="Seconds between a meter's readings")] = 60.0,
    batch: Annotated[bool, typer.Option(help="Relay through data concentrators DC-nnn")] = False,
    skew: Annotated[bool, typer.Option(help="Give some meters wrong clocks")] = False,
    duplicates: Annotated[float, typer.Option(help="Share of messages sent twice")] = 0.0,
    out_of_order: Annotated[float, typer.Option(help="Share delivered late")] = 0.0,
    malformed: Annotated[float, typer.Option(help="Share replaced by malformed ones")] = 0.0,
    malformed_kinds: Annotated[
        str, typer.Option(help=f"Comma-separated subset of {','.join(MALFORMED_KINDS)}")
    ] = ",".join(MALFORMED_KINDS),
    faults: Annotated[int, typer.Option(help="Faults struck over --duration")] = 0,
    seed: Seed = 1,
    territory_seed: TerritorySeed = 1,
    start: Start = None,
    duration: Duration = None,
    dry_run: Annotated[bool, typer.Option(help="Print the messages, publish nothing")] = False,
) -> None:
    """Smart meters publishing readings and events (optionally with delivery defects)."""
    from simulators.runner import Telemetry, run_telemetry, stop_on_signals
    from simulators.scenario import storm_faults

    kinds = tuple(k for k in malformed_kinds.split(",") if k)
    unknown = set(kinds) - set(MALFORMED_KINDS)
    if unknown:
        raise typer.BadParameter(
            f"unknown malformed kinds {sorted(unknown)}; use {MALFORMED_KINDS}"
        )
    if faults and duration is None:
        raise typer.BadParameter("--faults needs --duration (the span they strike in)")
    if dry_run and duration is None:
        raise typer.BadParameter("--dry-run needs --duration")
    grid = _grid(territory_seed)
    spec = RunSpec(seed, _start(start), interval, batch=batch, skew=skew, duration_s=duration)
    max_delay = 2.5 * interval  # late enough to pass the same meter's next reading
    telemetry = Telemetry(
        spec,
        pick_meters(grid, count),
        [d.id for d in grid.territory.indicators] if faults else [],
        lambda: storm_faults(grid, seed, faults, duration or 0.0),
        Defects(duplicates, out_of_order, malformed, kinds, max_delay),
    )
    if dry_run:
        _dry_run(telemetry.messages(grid))
        return
    _require_device_secret("meters")

    async def main() -> None:
        stats = await run_telemetry(grid, telemetry, stop_on_signals())
        log.info(f"meters: published {stats.published}, acked {stats.acked}")

    _run(main())


@simulate.command("fci")
def fci_cmd(
    faults: Annotated[int, typer.Option(help="Faults struck over --duration")] = 0,
    fault_every: Annotated[
        float, typer.Option(help="Without --faults: mean seconds between faults, forever")
    ] = 300.0,
    seed: Seed = 1,
    territory_seed: TerritorySeed = 1,
    start: Start = None,
    duration: Duration = None,
) -> None:
    """Fault indicators FCI-<section>: fault current passage and self-reset."""
    from simulators.runner import Telemetry, run_telemetry, stop_on_signals
    from simulators.scenario import endless_faults, storm_faults

    grid = _grid(territory_seed)
    if faults and duration is None:
        raise typer.BadParameter("--faults needs --duration (the span they strike in)")

    def plan():
        if faults:
            return storm_faults(grid, seed, faults, duration or 0.0)
        return endless_faults(grid, seed, fault_every)

    spec = RunSpec(seed, _start(start), duration_s=duration)
    telemetry = Telemetry(spec, [], [d.id for d in grid.territory.indicators], plan)
    _require_device_secret("fci")

    async def main() -> None:
        stats = await run_telemetry(grid, telemetry, stop_on_signals())
        log.info(f"fci: published {stats.published}, acked {stats.acked}")

    _run(main())


@simulate.command("modbus")
def modbus_cmd(
    port_base: Annotated[
        int | None, typer.Option(help="Serve on port-base, port-base+1 (default: device config)")
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    seed: Seed = 1,
    territory_seed: TerritorySeed = 1,
    duration: Duration = None,
) -> None:
    """Modbus TCP servers for RTU-F3 (feeder_rtu) and M3P-001 (three_phase_meter)."""
    from simulators.clock import sleep_or_stop
    from simulators.modbus_devices import field_devices, serve
    from simulators.runner import stop_on_signals

    grid = _grid(territory_seed)
    devices = field_devices(grid, port_base)

    async def main() -> None:
        stop = stop_on_signals()
        if duration is not None:
            asyncio.get_running_loop().create_task(_stop_after(stop, duration, sleep_or_stop))
        for fd in devices:
            log.info(f"{fd.device.id} ({fd.model}) on {host}:{fd.port} unit {fd.unit}")
        await serve(grid, seed, devices, stop, datetime.now(UTC), host=host)

    _run(main())


def _api_url(value: str | None) -> str:
    from gridcrew.config import get_settings

    s = get_settings()
    return value or f"http://{s.api_host}:{s.api_port}"


ApiUrl = Annotated[str | None, typer.Option(help="Mobile API base URL (default: settings)")]
PortBase = Annotated[
    int | None, typer.Option(help="Modbus ports port-base, port-base+1 (default: device config)")
]
Speed = Annotated[float, typer.Option(help="Time compression: scenario seconds per second")]


@simulate.command("crews")
def crews_cmd(
    speed: Speed = 1.0,
    api_url: ApiUrl = None,
    crews: Annotated[
        str | None, typer.Option(help="Comma-separated logins (default crew-01..crew-12)")
    ] = None,
    max_jobs: Annotated[int | None, typer.Option(help="Stop each crew after N jobs")] = None,
    seed: Seed = 1,
    territory_seed: TerritorySeed = 1,
) -> None:
    """Crews on the mobile API: plan, drive, check in, photo, work, sign-off, offline sync."""
    from simulators.crews import run_crews
    from simulators.runner import stop_on_signals

    grid = _grid(territory_seed)
    names = [c for c in (crews or "").split(",") if c] or None

    async def main() -> None:
        stats = await run_crews(
            grid, _api_url(api_url), seed, speed, stop_on_signals(), crews=names, max_jobs=max_jobs
        )
        done = sum(s.jobs_done for s in stats.values())
        log.info(f"crews: {done} jobs signed off")

    _run(main())


def _storm(
    grid: Grid,
    *,
    seed: int,
    meters: int,
    interval_s: float,
    speed: float,
    api_url: str | None,
    modbus: bool,
    port_base: int | None,
    faults: int = 0,
    duration_s: float | None = None,
    mean_gap_s: float | None = None,
):
    from simulators.modbus_devices import field_devices
    from simulators.runner import Storm, Telemetry
    from simulators.scenario import endless_faults, storm_faults

    def plan():
        if mean_gap_s is not None:
            return endless_faults(grid, seed, mean_gap_s, speed)
        return storm_faults(grid, seed, faults, duration_s or 0.0, speed)

    spec = RunSpec(seed, _start(None), interval_s, speed, batch=True, duration_s=duration_s)
    telemetry = Telemetry(
        spec, pick_meters(grid, meters), [d.id for d in grid.territory.indicators], plan
    )
    devices = field_devices(grid, port_base) if modbus else []
    return Storm(telemetry, speed, _api_url(api_url), devices)


def _run_storm(grid, storm) -> None:
    from simulators.runner import run_storm, stop_on_signals

    _require_device_secret("storm")

    async def main() -> int:
        results = await run_storm(grid, storm, stop_on_signals())
        failed = [k for k, v in results.items() if isinstance(v, BaseException)]
        t = results.get("telemetry")
        if not isinstance(t, BaseException) and t is not None:
            log.info(f"storm: published {t.published}, acked {t.acked}")
        return 1 if failed else 0

    code = asyncio.run(main())
    raise typer.Exit(code)


@simulate.command("storm")
def storm_cmd(
    seed: Seed = 1,
    faults: Annotated[int, typer.Option(help="Faults over the storm")] = 12,
    duration: Annotated[float, typer.Option(help="Storm length in hours (scenario time)")] = 8.0,
    speed: Speed = 60.0,
    meters: Annotated[int, typer.Option(help="Meters (relayed by concentrators)")] = 10_000,
    interval_min: Annotated[float, typer.Option(help="Reading interval, scenario minutes")] = 15.0,
    api_url: ApiUrl = None,
    crews: Annotated[bool, typer.Option(help="Run the crews on the API")] = True,
    reports: Annotated[bool, typer.Option(help="Customers report outages on the API")] = True,
    modbus: Annotated[bool, typer.Option(help="Serve the Modbus devices too")] = False,
    port_base: PortBase = None,
    territory_seed: TerritorySeed = 1,
) -> None:
    """A storm day: faults (more in the rural district), calls, indicators, crews."""
    grid = _grid(territory_seed)
    wall = duration * 3600 / speed
    storm = _storm(
        grid,
        seed=seed,
        meters=meters,
        interval_s=interval_min * 60 / speed,
        speed=speed,
        api_url=api_url,
        modbus=modbus,
        port_base=port_base,
        faults=faults,
        duration_s=wall,
    )
    storm = replace(storm, crews=crews, reports=reports)
    log.info(f"storm: {faults} faults over {duration} h, {wall:.0f} s at x{speed}")
    from gridcrew.progress import progress

    with progress(f"storm: {faults} faults over {duration} h at x{speed:g}", seconds=wall):
        _run_storm(grid, storm)


@simulate.command("demo")
def demo_cmd(
    seed: Seed = 1,
    speed: Speed = 10.0,
    meters: Annotated[int, typer.Option(help="Meters (relayed by concentrators)")] = 2000,
    fault_every: Annotated[float, typer.Option(help="Mean seconds between faults")] = 180.0,
    api_url: ApiUrl = None,
    modbus: Annotated[
        bool, typer.Option(help="Serve the Modbus devices (`gridcrew up` runs them apart)")
    ] = False,
    port_base: PortBase = None,
    territory_seed: TerritorySeed = 1,
) -> None:
    """The small endless storm of `./dev up`: meters, indicators, calls, crews (SIGTERM stops)."""
    grid = _grid(territory_seed)
    storm = _storm(
        grid,
        seed=seed,
        meters=meters,
        interval_s=900 / speed,
        speed=speed,
        api_url=api_url,
        modbus=modbus,
        port_base=port_base,
        mean_gap_s=fault_every,
    )
    _run_storm(grid, storm)


async def _stop_after(stop: asyncio.Event, seconds: float, sleep_or_stop) -> None:
    await sleep_or_stop(stop, seconds)
    stop.set()


@simulate.command("sms-gateway")
def sms_gateway(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8025,
) -> None:
    """A local SMS gateway that receives the notification webhook (signature checked, one
    delivery per idempotency key) and shows what it got at http://HOST:PORT/."""
    import signal
    import threading

    from gridcrew.config import get_settings
    from simulators.sms_gateway import serve

    secret = get_settings().notify_webhook_secret
    if secret is None:
        typer.echo(
            "set GRIDCREW_NOTIFY_WEBHOOK_SECRET (the HMAC key the worker signs with)", err=True
        )
        raise typer.Exit(2)
    server = serve(host, port, secret.get_secret_value().encode())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    app.add_typer(simulate, name="simulate")
