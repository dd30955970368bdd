"""``gridcrew bench simulate-meters``: how fast the simulators make and publish telemetry.

Generation is compared with its floor (serialising the same number of prebuilt readings);
publishing through per-device logins (concentrators or meters) with one service login
sending the same payloads. Prints JSON; figures belong in reports and docs, not in tests.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from datetime import UTC, datetime

from gridcrew.mqtt import broker_address, service_client
from schemas.telemetry import MeterReading, Values
from simulators.grid import Fault, Grid, territory
from simulators.mqtt_pool import DevicePool
from simulators.timeline import RunSpec, Timeline, pick_meters


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(grid: Grid, meters: int, ticks: int, batch: bool) -> tuple[list, float]:
    spec = RunSpec(1, datetime(2026, 12, 1, tzinfo=UTC), 60.0, batch=batch, duration_s=60.0 * ticks)
    faults = [Fault("F3-S2", 30.0, 90.0), Fault("F1-S4", 100.0, 160.0)]
    indicators = [d.id for d in grid.territory.indicators]
    t0 = time.perf_counter()
    tl = Timeline(spec, grid, pick_meters(grid, meters), indicators, lambda: iter(faults))
    msgs = list(tl.messages())
    return msgs, time.perf_counter() - t0


def serialise_floor(n: int) -> float:
    when = datetime(2026, 12, 1, tzinfo=UTC)
    values = Values(
        voltage_v=230.1,
        current_a=2.5,
        active_power_kw=0.55,
        energy_import_kwh=1234.5,
        power_factor=0.95,
    )
    t0 = time.perf_counter()
    for i in range(n):
        MeterReading(device_id=f"MTR-{i:06d}", time=when, values=values).model_dump_json(
            by_alias=True
        ).encode()
    return time.perf_counter() - t0


async def publish_pool(msgs: list) -> tuple[float, int, int]:
    pool = DevicePool(client_suffix=f"-bench{uuid.uuid4().hex[:4]}")
    await pool.connect(sorted({m.client for m in msgs}))
    await pool.drain(60)  # the online statuses
    before = pool.stats.acked
    t0 = time.perf_counter()
    for i, m in enumerate(msgs):
        await pool.publish(m.client, m.topic, m.payload)
        if i % 200 == 0:
            await asyncio.sleep(0)
    await pool.drain(120)
    elapsed = time.perf_counter() - t0
    acked = pool.stats.acked - before
    await pool.close()
    return elapsed, acked, len({m.client for m in msgs})


def publish_single(msgs: list) -> float:
    """Baseline: one svc-bench connection, paho's own network thread."""
    addr = broker_address()
    client = service_client(f"bench-base-{uuid.uuid4().hex[:4]}", "svc-bench")
    client.max_inflight_messages_set(200)
    client.connect(addr.host, addr.port)
    client.loop_start()
    t0 = time.perf_counter()
    infos = [client.publish(m.topic, m.payload, qos=1) for m in msgs]
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    return elapsed


def run(meters: int, ticks: int, batch: bool, publish: bool) -> dict:
    grid = Grid(territory(1))
    msgs, gen_s = generate(grid, meters, ticks, batch)
    readings = meters * ticks
    floor_s = serialise_floor(readings)
    out: dict = {
        "meters": meters,
        "ticks": ticks,
        "mode": "concentrators" if batch else "per-meter",
        "messages": len(msgs),
        "payload_mb": round(sum(len(m.payload) for m in msgs) / 1e6, 2),
        "generate_s": round(gen_s, 3),
        "generate_readings_per_s": round(readings / gen_s),
        "baseline_serialise_readings_per_s": round(readings / floor_s),
        "generate_vs_baseline": round(floor_s / gen_s, 2),
    }
    if publish:
        pool_s, acked, logins = asyncio.run(publish_pool(msgs))
        base_s = publish_single(msgs)
        out |= {
            "device_logins": logins,
            "publish_s": round(pool_s, 3),
            "publish_msgs_per_s": round(len(msgs) / pool_s),
            "publish_readings_per_s": round(readings / pool_s),
            "acked": acked,
            "baseline_single_login_msgs_per_s": round(len(msgs) / base_s),
            "publish_vs_baseline": round(base_s / pool_s, 2),
            "broker": f"{broker_address().host}:{broker_address().port}",
        }
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    return out
