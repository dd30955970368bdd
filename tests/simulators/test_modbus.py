"""The Modbus field devices answer a real pymodbus client with the declared register maps."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from pymodbus.client import AsyncModbusTcpClient

from gridcrew.net import free_port
from schemas.modbus import FEEDER_RTU, MAPS, THREE_PHASE_METER, decode
from simulators.grid import Fault, Grid, territory
from simulators.modbus_devices import field_devices, serve, words_at

GRID = Grid(territory(1))
START = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # noon in Jiaxing


def _poll(faults: list[Fault]) -> dict[str, dict[str, float]]:
    async def main():
        devices = [replace(fd, port=free_port()) for fd in field_devices(GRID)]
        stop = asyncio.Event()
        task = asyncio.create_task(serve(GRID, 1, devices, stop, START, lambda t: faults))
        out = {}
        try:
            for fd in devices:
                client = AsyncModbusTcpClient("127.0.0.1", port=fd.port, timeout=10)
                for _ in range(100):
                    if await client.connect():
                        break
                    await asyncio.sleep(0.1)
                span = MAPS[fd.model].span
                rr = await client.read_holding_registers(0, count=span, device_id=fd.unit)
                assert not rr.isError(), rr
                assert len(rr.registers) == span
                out[fd.device.id] = decode(MAPS[fd.model], rr.registers)
                client.close()
        finally:
            stop.set()
            await task
        return out

    return asyncio.run(main())


def test_ports_come_from_the_device_config_or_the_base():
    assert {fd.device.id: fd.port for fd in field_devices(GRID)} == {
        "RTU-F3": 15020,
        "M3P-001": 15021,
    }
    assert sorted(fd.port for fd in field_devices(GRID, 40000)) == [40000, 40001]


def test_registers_are_deterministic_words_of_the_map():
    fd = next(f for f in field_devices(GRID) if f.model == "feeder_rtu")
    a = words_at(GRID, 1, fd, START, 12.3, [])
    assert a == words_at(GRID, 1, fd, START, 12.7, []) and len(a) == FEEDER_RTU.span
    assert a != words_at(GRID, 2, fd, START, 12.3, [])


def test_healthy_feeder_and_meter():
    values = _poll([])
    rtu, m3p = values["RTU-F3"], values["M3P-001"]
    for i in (1, 2, 3):
        assert 5600 < rtu[f"voltage_l{i}_v"] < 5950  # 10 kV phase voltage
        assert 20 < rtu[f"current_l{i}_a"] < 600
        assert 215 < m3p[f"voltage_l{i}_v"] < 245
        assert 0 < m3p[f"current_l{i}_a"] < 200
    assert int(rtu["status"]) & 1 and not int(rtu["alarms"])  # breaker closed, no alarm
    assert 0 < rtu["active_power_kw"] < 20_000
    assert int(m3p["status"]) == 1 and 0.8 < m3p["power_factor"] <= 1
    assert m3p["energy_import_kwh"] > 1000
    assert set(m3p) == {r.name for r in THREE_PHASE_METER.registers}


def test_fault_shows_in_status_and_alarm_bits():
    m3p_section = next(d.section_id for d in GRID.territory.devices if d.id == "M3P-001")
    values = _poll([Fault("F3-S1", 0, 1e9), Fault(m3p_section, 0, 1e9)])
    rtu, m3p = values["RTU-F3"], values["M3P-001"]
    alarms = {
        FEEDER_RTU.alarm_bits[b] for b in FEEDER_RTU.alarm_bits if int(rtu["alarms"]) >> b & 1
    }
    assert {"fault_current", "overcurrent", "undervoltage"} <= alarms
    status = {
        FEEDER_RTU.status_bits[b] for b in FEEDER_RTU.status_bits if int(rtu["status"]) >> b & 1
    }
    assert "breaker_closed" not in status and "recloser_lockout" in status
    assert int(m3p["status"]) == 0 and m3p["voltage_l1_v"] == 0
