"""The imperative shell around the pure streams: pace them in wall time, publish, stop cleanly.

One asyncio loop per process; SIGTERM/SIGINT set a stop event and every part winds down
(devices say ``offline``, servers close) so the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from simulators.defects import Defects, apply
from simulators.grid import Fault, Grid
from simulators.mqtt_pool import DevicePool, PoolStats
from simulators.scenario import OutageReport
from simulators.timeline import Message, RunSpec, Timeline


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the loop keeps running to shut down in order)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep *seconds*; True if *stop* was set meanwhile."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


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
    sent = 0
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for report in reports:
            if await sleep_or_stop(stop, t0 + report.at - loop.time()):
                break
            try:
                r = await http.post("/v1/outage-reports", json={"meter_id": report.meter_id})
            except httpx.HTTPError as exc:
                print(f"outage report for {report.meter_id} not sent: {exc}", file=sys.stderr)
                continue
            if r.status_code >= 400:
                print(
                    f"outage report for {report.meter_id}: HTTP {r.status_code} {r.text[:200]}",
                    file=sys.stderr,
                )
            else:
                sent += 1
    return sent
