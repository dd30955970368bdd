"""Modbus field devices: a feeder RTU / recloser and a three-phase meter.

The register contents are pure functions of seed, device and time (and the faults in
play), encoded with the shared maps of :mod:`schemas.modbus`; :func:`serve` is the
shell that answers a poller over Modbus TCP (pymodbus) on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from schemas.modbus import FEEDER_RTU, MAPS, THREE_PHASE_METER, encode
from simulators.demo.territory import Device
from simulators.grid import Fault, Grid, dark_at
from simulators.readings import load_factor
from simulators.seeding import rng_for

PHASE_V_10KV = 10_000 / 3**0.5  # phase voltage of the 10 kV feeder


@dataclass(frozen=True)
class FieldDevice:
    device: Device
    port: int
    unit: int

    @property
    def model(self) -> str:
        return self.device.config["model"]


def field_devices(grid: Grid, port_base: int | None = None) -> list[FieldDevice]:
    """The territory's Modbus devices with their ports (config, or *port_base* + index)."""
    devs = sorted((d for d in grid.territory.devices if d.kind == "modbus"), key=lambda d: d.id)
    return [
        FieldDevice(d, d.config["port"] if port_base is None else port_base + i, d.config["unit"])
        for i, d in enumerate(devs)
    ]


def rtu_values(
    grid: Grid, seed: int, dev: Device, t: float, when: datetime, faults: list[Fault]
) -> dict:
    """A feeder-head RTU: phase voltages, feeder currents, power, breaker and alarm bits."""
    rng = rng_for(seed, dev.id, int(t))
    feeder = dev.feeder_id
    sections = [s.id for s in grid.territory.sections if s.feeder_id == feeder]
    live = [s for s in sections if not dark_at(grid, faults, s, t)]
    share = len(live) / len(sections)
    base_a = 180 * load_factor("residential", when) * share
    on_feeder = [f for f in faults if f.active(t) and f.section_id in sections]
    head_fault = any(f.section_id == dev.section_id and not f.silent for f in on_feeder)
    values = {}
    for i in (1, 2, 3):
        values[f"voltage_l{i}_v"] = 0.0 if head_fault else PHASE_V_10KV * rng.gauss(1, 0.004)
        values[f"current_l{i}_a"] = 0.0 if head_fault else max(0.0, base_a * rng.gauss(1, 0.03))
    values["active_power_kw"] = (
        sum(values[f"voltage_l{i}_v"] * values[f"current_l{i}_a"] for i in (1, 2, 3)) * 0.95 / 1000
    )
    status = 0b100 | (0 if head_fault else 0b1) | (0b10 if head_fault else 0)
    alarms = 0
    if any(not f.silent for f in on_feeder):
        alarms |= 0b1000 | 0b1  # fault current passed, overcurrent
    if head_fault:
        alarms |= 0b100  # undervoltage
    values["status"], values["alarms"] = status, alarms
    return values


def meter3p_values(
    grid: Grid, seed: int, dev: Device, t: float, when: datetime, faults: list[Fault], speed: float
) -> dict:
    """A commercial three-phase meter: its energy register grows with scenario time."""
    rng = rng_for(seed, dev.id, int(t))
    if dark_at(grid, faults, dev.section_id or "", t):
        energy = rng_for(seed, dev.id, "energy0").uniform(1e4, 9e4) + 12.0 * t * speed / 3600
        return {"energy_import_kwh": round(energy, 1), "status": 0, "alarms": 0}
    kw = 12.0 * load_factor("commercial", when) * rng.gauss(1, 0.05)
    pf = min(0.99, rng.gauss(0.9, 0.01))
    values = {}
    for i in (1, 2, 3):
        v = 230 * rng.gauss(1, 0.006)
        values[f"voltage_l{i}_v"] = v
        values[f"current_l{i}_a"] = kw * 1000 / 3 / (v * pf)
    alarms = 0b10 if values["voltage_l1_v"] < 207 else 0
    values.update(
        active_power_kw=kw,
        energy_import_kwh=rng_for(seed, dev.id, "energy0").uniform(1e4, 9e4)
        + 12.0 * t * speed / 3600,
        power_factor=pf,
        status=1,
        alarms=alarms,
    )
    return values


def words_at(
    grid: Grid,
    seed: int,
    fd: FieldDevice,
    start: datetime,
    t: float,
    faults: list[Fault],
    speed: float = 1.0,
) -> list[int]:
    """The holding registers of *fd* at *t* seconds after *start* (the declared map)."""
    when = start + timedelta(seconds=t)
    if fd.model == FEEDER_RTU.model:
        return encode(FEEDER_RTU, rtu_values(grid, seed, fd.device, t, when, faults))
    return encode(THREE_PHASE_METER, meter3p_values(grid, seed, fd.device, t, when, faults, speed))


async def serve(
    grid: Grid,
    seed: int,
    devices: list[FieldDevice],
    stop: asyncio.Event,
    start: datetime,
    faults_at: Callable[[float], list[Fault]] = lambda t: [],
    speed: float = 1.0,
    host: str = "127.0.0.1",
) -> None:
    """Serve every device on its own port until *stop* is set."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    servers = []
    for fd in devices:
        span = MAPS[fd.model].span

        async def refresh(fc, block_start, address, count, registers, values, fd=fd, span=span):
            t = loop.time() - t0
            registers[:span] = words_at(grid, seed, fd, start, t, faults_at(t), speed)
            return None

        sim = SimDevice(
            fd.unit,
            simdata=[SimData(0, values=[0] * span, datatype=DataType.REGISTERS)],
            action=refresh,
        )
        server = ModbusTcpServer(sim, address=(host, fd.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            for s in servers:
                await s.shutdown()
            raise OSError(
                f"cannot serve {fd.device.id} on {host}:{fd.port} (in use?); "
                "choose other ports with --port-base"
            ) from None
        servers.append(server)
    try:
        await stop.wait()
    finally:
        for server in servers:
            await server.shutdown()
