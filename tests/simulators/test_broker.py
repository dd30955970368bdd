"""Simulated devices over the real broker: each logs in as itself, the monitor sees every
message the pure stream promised, concentrators relay batches, the ACL still holds."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from gridcrew.mqtt import service_client
from schemas.telemetry import DeviceStatus
from simulators.grid import Fault, Grid, territory
from simulators.mqtt_pool import DevicePool
from simulators.runner import Telemetry, run_telemetry
from simulators.timeline import RunSpec, pick_meters


class Monitor:
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.got.append((msg.topic, msg.payload))

    def snapshot(self) -> Counter:
        with self.lock:
            return Counter(self.got)

    def snapshot_topics(self) -> set[str]:
        with self.lock:
            return {t for t, _ in self.got}

    def wait_for(self, expected: Counter, timeout: float = 30.0) -> Counter:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.snapshot()
            if not expected - got:
                return got
            time.sleep(0.1)
        return self.snapshot()


@pytest.fixture
def monitor(broker):
    m = Monitor()
    ready = threading.Event()
    c = service_client(f"sim-watch-{uuid.uuid4().hex[:6]}", "svc-monitor")
    c.on_message = m.on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("devices/#", qos=1)
    c.on_subscribe = lambda *a: ready.set()
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert ready.wait(30), "svc-monitor could not subscribe"
    yield m
    c.disconnect()
    c.loop_stop()


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid(territory(1))


def _telemetry(grid, *, batch: bool) -> Telemetry:
    spec = RunSpec(3, datetime.now(UTC), 0.5, batch=batch, duration_s=3.0)
    fault = Fault("F2-S4", 0.5, 2.0)
    return Telemetry(
        spec,
        pick_meters(grid, 200 if batch else 60),
        ["FCI-F2-S1", "FCI-F2-S2", "FCI-F2-S4", "FCI-F2-S3"],
        lambda: iter([fault]),
    )


def _run(grid, telemetry):
    async def main():
        return await run_telemetry(grid, telemetry, asyncio.Event(), f"-t{uuid.uuid4().hex[:6]}")

    return asyncio.run(main())


@pytest.mark.parametrize("batch", [False, True], ids=["per-meter", "concentrators"])
def test_every_message_arrives_from_its_own_login(broker, monitor, grid, batch):
    began = datetime.now(UTC)
    telemetry = _telemetry(grid, batch=batch)
    expected = Counter((m.topic, m.payload) for m in telemetry.messages(grid))
    stats = _run(grid, telemetry)
    got = monitor.wait_for(expected)
    assert not expected - got, f"{sum((expected - got).values())} messages never arrived"
    assert stats.refused == 0 and stats.acked == stats.published
    logins = telemetry.logins()
    if batch:
        assert all(x.startswith(("DC-", "FCI-")) for x in logins)
        assert len(logins) < len(telemetry.meters)
    statuses = {}
    with monitor.lock:
        arrived = list(monitor.got)
    for topic, payload in arrived:
        status = DeviceStatus.model_validate_json(payload) if "/status" in topic else None
        if status and status.time and status.time >= began:  # not retained from before
            statuses.setdefault(topic.split("/")[1], []).append(status.status)
    assert set(statuses) == set(logins)
    assert all(s[0] == "online" and s[-1] == "offline" for s in statuses.values())
    topics = {t for t, _ in expected}
    assert any("/FCI-F2-S4/events" in t for t in topics)
    assert not any("/FCI-F2-S3/" in t for t, _ in expected), "F2-S3 is not upstream of F2-S4"


def test_the_broker_refuses_a_device_speaking_for_another(broker):
    async def main():
        pool = DevicePool(client_suffix=f"-t{uuid.uuid4().hex[:6]}")
        await pool.connect(["MTR-000010"])
        await pool.publish("MTR-000010", "devices/MTR-000011/readings", b"{}")
        await pool.publish("MTR-000010", "devices/MTR-000010/readings", b"{}")
        await pool.drain()
        await pool.close()
        return pool.stats

    stats = asyncio.run(main())
    assert stats.refused == 1
