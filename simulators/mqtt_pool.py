"""MQTT connections of many simulated devices on one asyncio loop (the imperative shell).

Each device logs in as itself (username = device id, password derived from the
provisioning secret), publishes a retained ``online`` status with an ``offline`` last
will, and publishes QoS 1. Paho clients run on the asyncio loop's sockets: no thread per
device. Publishing waits when too many messages are unacknowledged, so a slow broker
slows the simulator instead of growing its memory.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from gridcrew.broker import BrokerAddress
from gridcrew.config import get_settings
from gridcrew.mqtt import broker_address, make_client
from gridcrew.security import device_password
from schemas.telemetry import DeviceStatus, topic


def _status(state: str) -> bytes:
    return DeviceStatus(status=state, time=datetime.now(UTC)).model_dump_json().encode()


@dataclass
class PoolStats:
    published: int = 0
    acked: int = 0
    refused: int = 0  # PUBACK with a failure reason (e.g. not authorised)
    reconnects: int = 0


@dataclass
class _Device:
    client: mqtt.Client
    connected: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    up: bool = False


class DevicePool:
    """Logins of many devices; :meth:`publish` as any of them."""

    def __init__(
        self,
        address: BrokerAddress | None = None,
        *,
        client_suffix: str = "",
        max_outstanding: int = 20_000,
    ) -> None:
        self.address = address or broker_address()
        self.suffix = client_suffix
        self.max_outstanding = max_outstanding
        self.stats = PoolStats()
        self._devices: dict[str, _Device] = {}
        self._loop = asyncio.get_running_loop()
        self._acked = asyncio.Event()
        self._misc: asyncio.Task | None = None
        self._closing = False

    @property
    def outstanding(self) -> int:
        return self.stats.published - self.stats.acked - self.stats.refused

    # -- asyncio <-> paho glue -------------------------------------------------
    def _attach(self, client: mqtt.Client) -> None:
        def opened(c, userdata, sock):
            self._loop.add_reader(sock, c.loop_read)

        def closed(c, userdata, sock):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

        client.on_socket_open = opened
        client.on_socket_close = closed
        client.on_socket_register_write = lambda c, u, sock: self._loop.add_writer(
            sock, c.loop_write
        )
        client.on_socket_unregister_write = lambda c, u, sock: self._loop.remove_writer(sock)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1)
            for device_id, dev in list(self._devices.items()):
                if dev.client.loop_misc() == mqtt.MQTT_ERR_NO_CONN and not self._closing:
                    self._reconnect(device_id, dev)

    def _reconnect(self, device_id: str, dev: _Device) -> None:
        try:
            dev.client.reconnect()
            self.stats.reconnects += 1
        except OSError:
            pass  # the broker is away; try again next second

    # -- public ----------------------------------------------------------------
    async def connect(self, device_ids: Iterable[str], timeout: float = 30.0) -> None:
        """Log every device in; raise with the refused ids when the broker says no."""
        secret = get_settings().device_secret
        for device_id in device_ids:
            if device_id in self._devices:
                continue
            client = make_client(
                f"{device_id}{self.suffix}", device_id, device_password(device_id, secret)
            )
            client.max_inflight_messages_set(200)
            client.will_set(topic(device_id, "status"), _status("offline"), qos=1, retain=True)
            dev = _Device(client)
            self._devices[device_id] = dev
            self._attach(client)
            client.on_connect = self._on_connect(device_id, dev)
            client.on_publish = self._on_publish
            client.on_disconnect = self._on_disconnect(dev)
            try:
                client.connect(self.address.host, self.address.port, keepalive=60)
            except OSError as exc:
                raise ConnectionError(
                    f"cannot reach the broker at {self.address.host}:{self.address.port} "
                    f"({exc}); start it with `./dev up` or set GRIDCREW_MQTT_URL"
                ) from None
            client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
            await asyncio.sleep(0)
        if self._misc is None:
            self._misc = self._loop.create_task(self._misc_loop())
        pending = [d.connected for d in self._devices.values() if not d.connected.done()]
        if pending:
            await asyncio.wait_for(asyncio.gather(*pending), timeout)
        refused = [i for i, d in self._devices.items() if d.connected.result() is not None]
        if refused:
            raise PermissionError(
                f"the broker refused {len(refused)} device login(s), e.g. {refused[0]}: "
                "is the device provisioned (`gridcrew broker render`) and "
                "GRIDCREW_DEVICE_SECRET the broker's?"
            )

    def _on_connect(self, device_id: str, dev: _Device):
        def on_connect(c, userdata, flags, rc, props):
            if rc.is_failure:
                if not dev.connected.done():
                    dev.connected.set_result(str(rc))
                return
            dev.up = True
            c.publish(topic(device_id, "status"), _status("online"), qos=1, retain=True)
            self.stats.published += 1
            if not dev.connected.done():
                dev.connected.set_result(None)

        return on_connect

    def _on_disconnect(self, dev: _Device):
        def on_disconnect(c, userdata, flags, rc, props):
            dev.up = False

        return on_disconnect

    def _on_publish(self, c, userdata, mid, rc, props) -> None:
        if rc.is_failure:
            self.stats.refused += 1
        else:
            self.stats.acked += 1
        self._acked.set()

    async def publish(self, device_id: str, topic_: str, payload: bytes) -> None:
        """Publish QoS 1 as *device_id*; waits while too many messages are unacknowledged."""
        while self.outstanding >= self.max_outstanding:
            self._acked.clear()
            await self._acked.wait()
        self._devices[device_id].client.publish(topic_, payload, qos=1)
        self.stats.published += 1

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the broker acknowledged everything; False on timeout."""
        deadline = self._loop.time() + timeout
        while self.outstanding > 0 and self._loop.time() < deadline:
            self._acked.clear()
            try:
                await asyncio.wait_for(self._acked.wait(), max(0.01, deadline - self._loop.time()))
            except TimeoutError:
                break
        return self.outstanding <= 0

    async def close(self, timeout: float = 10.0) -> None:
        """Say ``offline`` (retained) for every device, wait for the acks, disconnect."""
        self._closing = True
        for device_id, dev in self._devices.items():
            if dev.up:
                dev.client.publish(
                    topic(device_id, "status"), _status("offline"), qos=1, retain=True
                )
                self.stats.published += 1
        await self.drain(timeout)
        for dev in self._devices.values():
            dev.client.disconnect()
        await asyncio.sleep(0.05)
        if self._misc is not None:
            self._misc.cancel()
        for dev in self._devices.values():
            sock = dev.client.socket()
            if sock is not None:
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
