"""The Modbus bridge against a real pymodbus server: registers become readings and
events; a device that does not answer raises comm_loss."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gateway.modbus import ModbusDevice, PollState, parse_overrides, poll_failed, poll_rows
from gridcrew.net import free_port
from schemas.modbus import FEEDER_RTU, THREE_PHASE_METER, encode
from tests.conftest import ROOT, service_env, stop_process
from tests.gateway.conftest import T0, scalar, wait_for

METER = {
    "voltage_l1_v": 231.2,
    "current_l1_a": 12.34,
    "active_power_kw": 8.5,
    "energy_import_kwh": 12345.6,
    "power_factor": 0.92,
    "status": 1,
    "alarms": 0,
}


class FieldDevice:
    """A pymodbus TCP server in a thread answering with the current register words."""

    def __init__(self, port: int, values: dict) -> None:
        self.words = encode(THREE_PHASE_METER, values)
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),))
        self.thread.start()
        assert self.ready.wait(10)

    async def _serve(self) -> None:
        span = THREE_PHASE_METER.span

        async def refresh(fc, block_start, address, count, registers, values):
            registers[:span] = self.words
            return None

        sim = SimDevice(
            1, simdata=[SimData(0, values=[0] * span, datatype=DataType.REGISTERS)], action=refresh
        )
        self.server = ModbusTcpServer(sim, address=("127.0.0.1", self.port))
        self.stopping = asyncio.Event()
        await self.server.serve_forever(background=True)
        self.ready.set()
        await self.stopping.wait()
        await self.server.shutdown()

    def set(self, **values: float) -> None:
        self.words = encode(THREE_PHASE_METER, {**METER, **values})

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


@pytest.fixture
def field_device():
    dev = FieldDevice(free_port(), METER)
    yield dev
    dev.close()


def test_registers_are_polled_into_readings_and_events_and_a_dead_device_is_comm_loss(
    db_url, conn, field_device
):
    dead_port = free_port()
    for device, port in (("M3P-001", 1), ("RTU-F3", dead_port)):
        conn.execute(
            "UPDATE devices SET config = config || %s::jsonb WHERE id = %s",
            (json.dumps({"port": port, "interval_s": 0.2}), device),
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridcrew",
            "gateway",
            "modbus",
            "--port-override",
            f"M3P-001=127.0.0.1:{field_device.port}",
        ],
        env=service_env(db_url),
        cwd=ROOT,
    )
    try:
        wait_for(
            lambda: (
                scalar(conn, "SELECT count(*) FROM meter_readings WHERE device_id = 'M3P-001'") >= 2
            ),
            what="polled readings",
        )
        row = conn.execute(
            "SELECT * FROM meter_readings WHERE device_id = 'M3P-001' LIMIT 1"
        ).fetchone()
        assert row["voltage_v"] == pytest.approx(231.2)
        assert row["current_a"] == pytest.approx(12.34)
        assert row["energy_import_kwh"] == pytest.approx(12345.6)
        assert row["power_factor"] == pytest.approx(0.92)
        field_device.set(alarms=0b1, status=0)  # overload raised, supply lost
        wait_for(
            lambda: (
                scalar(
                    conn,
                    "SELECT count(*) FROM device_events WHERE device_id = 'M3P-001'"
                    " AND event_name IN ('overload', 'power_down')",
                )
                == 2
            ),
            what="overload and power_down events",
        )
        wait_for(
            lambda: (
                scalar(
                    conn,
                    "SELECT count(*) FROM device_events WHERE device_id = 'RTU-F3'"
                    " AND event_name = 'comm_loss'",
                )
                == 1
            ),
            what="comm_loss from the dead RTU",
        )
        statuses = dict(
            (r["id"], r["status"])
            for r in conn.execute("SELECT id, status FROM devices WHERE kind = 'modbus'")
        )
        assert statuses == {"M3P-001": "online", "RTU-F3": "offline"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop_process(proc)


RTU = ModbusDevice("RTU-F3", FEEDER_RTU, "127.0.0.1", 1, 1, 5.0, 5773.5)


def test_poll_rows_raise_events_on_bit_edges_only():
    state = PollState()
    words = encode(FEEDER_RTU, {"voltage_l1_v": 5790.0, "status": 0b101, "alarms": 0})
    reading, events = poll_rows(RTU, words, state, T0)
    assert reading is not None and reading.voltage_v == pytest.approx(5790.0) and events == []
    tripped = encode(FEEDER_RTU, {"status": 0b100, "alarms": 0b1000})
    _, events = poll_rows(RTU, tripped, state, T0)
    assert sorted(e.event_name for e in events) == ["breaker_open", "fault_current"]
    _, events = poll_rows(RTU, tripped, state, T0)
    assert events == []


def test_comm_loss_once_after_three_misses_and_overrides_parse():
    state = PollState()
    assert poll_failed(RTU, state, T0, "timeout") == []
    assert poll_failed(RTU, state, T0, "timeout") == []
    assert [e.event_name for e in poll_failed(RTU, state, T0, "timeout")] == ["comm_loss"]
    assert poll_failed(RTU, state, T0, "timeout") == []
    assert parse_overrides(["A=15020", "B=10.0.0.5:502"]) == {
        "A": (None, 15020),
        "B": ("10.0.0.5", 502),
    }
    with pytest.raises(ValueError):
        parse_overrides(["A:15020"])
