"""The imperative shell around the pure streams: pace them in wall time, publish, stop cleanly.

One asyncio loop per process; SIGTERM/SIGINT set a stop event and every part winds down
(devices say ``offline``, servers close) so the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from simulators.clock import sleep_or_stop
from simulators.crews import run_crews
from simulators.defects import Defects, apply
from simulators.grid import Fault, FaultPlan, Grid
from simulators.modbus_devices import serve
from simulators.mqtt_pool import DevicePool, PoolStats
from simulators.scenario import OutageReport, outage_reports
from simulators.timeline import Message, RunSpec, Timeline

log = logging.getLogger("gridcrew.simulators")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the loop keeps running to shut down in order)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def play(messages: Iterator[Message], pool: DevicePool, stop: asyncio.Event) -> int:
    """Publish each message when its time comes; returns how many were published."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    n = 0
    for msg in messages:
        delay = t0 + msg.at - loop.time()
        if delay > 0.002:
            if await sleep_or_stop(stop, delay):
                break
        elif stop.is_set():
            break
        await pool.publish(msg.client, msg.topic, msg.payload)
        n += 1
        if n % 200 == 0:
            await asyncio.sleep(0)  # let acks and keep-alives in
    return n


@dataclass(frozen=True)
class Telemetry:
    """What one telemetry run publishes: meters (direct or via concentrators) and indicators."""

    spec: RunSpec
    meters: list
    indicators: list[str]
    faults: Callable[[], Iterator[Fault]]
    defects: Defects = Defects()

    def logins(self) -> list[str]:
        ids = (
            sorted({m.concentrator_id for m in self.meters})
            if self.spec.batch
            else [m.id for m in self.meters]
        )
        return [*ids, *self.indicators]

    def messages(self, grid: Grid) -> Iterator[Message]:
        timeline = Timeline(self.spec, grid, self.meters, self.indicators, self.faults)
        return apply(timeline.messages(), self.defects, self.spec.seed)


async def run_telemetry(
    grid: Grid, telemetry: Telemetry, stop: asyncio.Event, client_suffix: str = ""
) -> PoolStats:
    pool = DevicePool(client_suffix=client_suffix)
    try:
        await pool.connect(telemetry.logins())
        await play(telemetry.messages(grid), pool, stop)
    finally:
        await pool.close()
    return pool.stats


async def post_outage_reports(
    reports: Iterator[OutageReport], api_url: str, stop: asyncio.Event
) -> int:
    """Customers calling in: ``POST /v1/outage-reports {"meter_id"}`` when each call is due."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent = failed = 0
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for report in reports:
            if await sleep_or_stop(stop, t0 + report.at - loop.time()):
                break
            try:
                r = await http.post("/v1/outage-reports", json={"meter_id": report.meter_id})
                problem = f"HTTP {r.status_code} {r.text[:200]}" if r.status_code >= 400 else ""
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            if not problem:
                sent += 1
                continue
            failed += 1
            if failed <= 3 or failed % 100 == 0:
                log.warning(
                    "outage report for %s not accepted (%d so far): %s",
                    report.meter_id,
                    failed,
                    problem,
                )
    return sent


@dataclass(frozen=True)
class Storm:
    """A storm run: telemetry plus (optionally) Modbus devices, customers' calls and crews."""

    telemetry: Telemetry
    speed: float
    api_url: str
    modbus: list = field(default_factory=list)  # FieldDevice
    crews: bool = True
    reports: bool = True


async def run_storm(grid: Grid, storm: Storm, stop: asyncio.Event, client_suffix: str = "") -> dict:
    """Run every part until the telemetry's duration ends or *stop* is set."""
    t = storm.telemetry
    done = asyncio.Event()
    parts: dict[str, asyncio.Task] = {}
    parts["telemetry"] = asyncio.create_task(run_telemetry(grid, t, done, client_suffix))
    if storm.modbus:
        plan = FaultPlan(t.faults())

        def faults_at(at: float) -> list[Fault]:
            plan.forget_before(at - 3600)
            return plan.active(at)

        parts["modbus"] = asyncio.create_task(
            serve(grid, t.spec.seed, storm.modbus, done, datetime.now(UTC), faults_at, storm.speed)
        )
    if storm.reports:
        meter_ids = {m.id for m in t.meters}
        reports = outage_reports(grid, t.spec.seed, t.faults(), meter_ids)
        parts["reports"] = asyncio.create_task(post_outage_reports(reports, storm.api_url, done))
    if storm.crews:
        parts["crews"] = asyncio.create_task(
            run_crews(grid, storm.api_url, t.spec.seed, storm.speed, done)
        )

    async def relay_stop() -> None:
        await stop.wait()
        done.set()

    relay = asyncio.create_task(relay_stop())
    await asyncio.wait([parts["telemetry"], relay], return_when=asyncio.FIRST_COMPLETED)
    done.set()
    relay.cancel()
    results = {}
    for name, task in parts.items():
        try:
            results[name] = await task
        except Exception as exc:  # one broken part must not hide the others' results
            log.error("storm part %s failed: %r", name, exc)
            results[name] = exc
    return results
