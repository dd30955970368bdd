"""The real stack for end-to-end tests: each part a context manager that starts it as a
subprocess (or, for devices, a fleet of device logins), waits until it is ready and stops
it on exit whatever happened.

Parts: ``gateway`` / ``dispatcher`` / ``api`` / ``crews`` (``gridcrew gateway``,
``gridcrew dispatch``, the API under uvicorn, ``gridcrew simulate crews``) on a database
clone and a broker; ``private_broker`` (a Mosquitto of the test's own that can be
restarted); ``devices`` (meters' concentrators and fault indicators logged in with their
own passwords, publishing QoS 1 from a background asyncio loop). Nothing here asserts;
it never touches the ``gridcrew`` database or the machine's broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridcrew import broker as broker_mod
from gridcrew import db
from gridcrew.broker import BrokerAddress
from gridcrew.mqtt import service_client
from gridcrew.net import free_port
from tests.conftest import ROOT, ApiServer, service_env, start_api, stop_process, wait_for

READY_S = 60.0


@dataclass
class Service:
    """A service subprocess whose stderr lines are collected (for readiness and reports)."""

    name: str
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    group: str = ""  # a gateway's shared-subscription group (its client ids: <group>-<i>)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def wait_line(self, text: str, timeout: float = READY_S, count: int = 1) -> None:
        wait_for(
            lambda: self.log().count(text) >= count or self.proc.poll() is not None,
            timeout,
            f"{self.name} to log {text!r}",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")


def spawn(name: str, args: list[str], env: dict[str, str]) -> Service:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridcrew", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    svc = Service(name, proc)
    threading.Thread(target=svc._read, daemon=True).start()
    return svc


def purge_sessions(address: BrokerAddress, client_ids: Iterable[str]) -> None:
    """End the persistent sessions the gateway left on a broker (clean start, expiry 0)."""
    for cid in client_ids:
        c = service_client(cid, "svc-gateway")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        try:
            c.connect(address.host, address.port, clean_start=True, properties=props)
        except OSError:
            continue
        c.loop_start()
        try:
            wait_for(c.is_connected, 10, "the session purge")
        finally:
            c.disconnect()
            c.loop_stop()


def clear_retained(mqtt_url: str, account: str, topics: Iterable[str]) -> None:
    """Remove retained messages a test left (an empty retained publish), so that later
    tests on the same broker do not receive them."""
    address = BrokerAddress.from_url(mqtt_url)
    c = service_client(f"clear-{uuid.uuid4().hex[:8]}", account)
    try:
        c.connect(address.host, address.port)
    except OSError:
        return
    c.loop_start()
    try:
        for info in [c.publish(t, b"", qos=1, retain=True) for t in topics]:
            info.wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


@contextmanager
def gateway(
    database_url: str, mqtt_url: str, *, group: str | None = None, purge: bool = True
) -> Iterator[Service]:
    """``gridcrew gateway`` (one worker) until it has subscribed; stopped after, and its
    persistent session purged unless *purge* is false (a later gateway resumes it)."""
    group = group or f"e2e{uuid.uuid4().hex[:8]}"
    svc = spawn(
        "gateway",
        ["gateway", "--group", group],
        service_env(database_url, GRIDCREW_MQTT_URL=mqtt_url),
    )
    svc.group = group
    try:
        svc.wait_line("subscribed")
        yield svc
    finally:
        stop_process(svc.proc, 30)
        if purge:
            purge_sessions(BrokerAddress.from_url(mqtt_url), [f"{group}-0"])


@contextmanager
def dispatcher(database_url: str, mqtt_url: str, time_limit_s: float = 0.5) -> Iterator[Service]:
    """``gridcrew dispatch`` until it leads (short solver time and debounce for tests)."""
    env = service_env(
        database_url,
        GRIDCREW_MQTT_URL=mqtt_url,
        GRIDCREW_DISPATCH_TIME_LIMIT_S=str(time_limit_s),
        GRIDCREW_DISPATCH_DEBOUNCE_S="0.2",
    )
    svc = spawn("dispatcher", ["dispatch"], env)
    try:
        svc.wait_line("leading as")
        yield svc
    finally:
        stop_process(svc.proc, 30)
        with db.connect(database_url) as conn:
            crew_ids = [r["id"] for r in conn.execute("SELECT id FROM crews")]
        clear_retained(mqtt_url, "svc-dispatch", [f"crews/{c}/plan" for c in crew_ids])


@contextmanager
def api(database_url: str, mqtt_url: str, **env: str) -> Iterator[ApiServer]:
    """The mobile API under uvicorn (``tests.conftest.start_api``) until it answers."""
    server = start_api(database_url, GRIDCREW_MQTT_URL=mqtt_url, **env)
    try:
        yield server
    finally:
        stop_process(server.process)


@contextmanager
def crews(api_url: str, logins: list[str], speed: float, seed: int = 1) -> Iterator[Service]:
    """``gridcrew simulate crews`` for *logins* at *speed* (scenario seconds per second)."""
    args = ["simulate", "crews", "--speed", str(speed), "--api-url", api_url]
    args += ["--crews", ",".join(logins), "--seed", str(seed)]
    svc = spawn("crews", args, dict(os.environ))
    try:
        yield svc
    finally:
        stop_process(svc.proc, 30)


@dataclass
class PrivateBroker:
    """A Mosquitto of one test, restartable on the same port with its persistence."""

    conf: Path
    host: str
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        self.proc = broker_mod.start(self.conf, self.host, self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self, pause_s: float = 1.0) -> None:
        self.stop()
        time.sleep(pause_s)
        self.start()


@contextmanager
def private_broker(directory: Path, device_ids: Iterable[str]) -> Iterator[PrivateBroker]:
    """A Mosquitto on a free port with the given devices provisioned (like the session's)."""
    port = free_port()
    conf = broker_mod.render(directory, list(device_ids), host="127.0.0.1", port=port)
    b = PrivateBroker(conf, "127.0.0.1", port)
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Devices:
    """Device logins (their own passwords) publishing from a background asyncio loop."""

    def __init__(self, mqtt_url: str, logins: list[str]) -> None:
        from simulators.mqtt_pool import DevicePool

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        suffix = f"-e2e{uuid.uuid4().hex[:6]}"

        async def make() -> DevicePool:
            pool = DevicePool(BrokerAddress.from_url(mqtt_url), client_suffix=suffix)
            await pool.connect(logins)
            return pool

        self.pool = self._call(make(), 60)

    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def publish(self, messages: Iterable[tuple[str, str, bytes]]) -> int:
        """Publish (login, topic, payload) QoS 1 and wait for the broker's acks."""

        async def send() -> int:
            n = 0
            for login, topic, payload in messages:
                await self.pool.publish(login, topic, payload)
                n += 1
            if not await self.pool.drain(60):
                raise RuntimeError(f"{self.pool.outstanding} messages not acknowledged in 60 s")
            return n

        return self._call(send(), 120)

    @property
    def stats(self):
        return self.pool.stats

    def close(self) -> None:
        try:
            self._call(self.pool.close(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@contextmanager
def devices(mqtt_url: str, logins: list[str]) -> Iterator[Devices]:
    """Device logins on *mqtt_url*; on exit they say offline and their retained status
    is removed again."""
    fleet = Devices(mqtt_url, logins)
    try:
        yield fleet
    finally:
        fleet.close()
        clear_retained(mqtt_url, "svc-bench", [f"devices/{d}/status" for d in logins])
