"""Gateway test helpers: run the real gateway as a subprocess, publish as the bench account."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridcrew.mqtt import service_client
from tests.conftest import ROOT, Broker, service_env, stop_process, wait_for

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def scalar(conn, query: str, params: tuple = ()) -> object:
    row = conn.execute(query, params).fetchone()
    return next(iter(row.values()))


class Gateway:
    """A running ``gridcrew gateway`` subprocess whose stderr is collected."""

    def __init__(self, group: str, args: list[str], env: dict[str, str], ready_lines: int) -> None:
        self.group = group
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridcrew", "gateway", *args],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(
            lambda: (
                sum("subscribed" in line for line in self.lines) >= ready_lines
                or self.proc.poll() is not None
            ),
            what="the gateway to subscribe",
        )
        assert self.proc.poll() is None, "".join(self.lines)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)


def purge_sessions(broker: Broker, client_ids: list[str]) -> None:
    """Drop the persistent sessions a test left on the session-wide broker."""
    for cid in client_ids:
        c = service_client(cid, "svc-gateway")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        c.connect(broker.host, broker.port, clean_start=True, properties=props)
        c.loop_start()
        wait_for(c.is_connected, 10, "session purge")
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def start_gateway(broker: Broker) -> Iterator[Callable[..., Gateway]]:
    """Start gateways on a test database; every one is stopped and its session purged."""
    started: list[tuple[Gateway, list[str]]] = []

    def start(database_url: str, *, group: str | None = None, workers: int = 1, **env) -> Gateway:
        group = group or f"gwt{uuid.uuid4().hex[:8]}"
        args = ["--group", group] + (["--workers", str(workers)] if workers > 1 else [])
        gw = Gateway(group, args, service_env(database_url, **env), workers)
        started.append((gw, [f"{group}-{i}" for i in range(workers)]))
        return gw

    yield start
    for gw, ids in started:
        stop_process(gw.proc, 30)
        purge_sessions(broker, ids)


class Publisher:
    """The bench account publishing on behalf of devices (QoS 1, waits for PUBACKs)."""

    def __init__(self, broker: Broker) -> None:
        self.client = service_client(f"pub-{uuid.uuid4().hex[:8]}", "svc-bench")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(self.client.is_connected, 10, "the publisher to connect")

    def publish(self, topic: str, payload: object, retain: bool = False) -> mqtt.MQTTMessageInfo:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
        return self.client.publish(topic, body, qos=1, retain=retain)

    def publish_all(self, messages: list[tuple[str, object]]) -> None:
        infos = [self.publish(t, p) for t, p in messages]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    p = Publisher(broker)
    yield p
    p.close()


def reading(device_id: str, at: datetime, voltage: float = 231.0, current: float = 5.0) -> dict:
    return {
        "device_id": device_id,
        "time": at.isoformat(),
        "values": {"1-0:32.7.0": voltage, "1-0:31.7.0": current, "1-0:1.8.0": 1234.5},
    }


def event(device_id: str, event_id: str, at: datetime, name: str, code: str) -> dict:
    return {
        "device_id": device_id,
        "event_id": event_id,
        "time": at.isoformat(),
        "code": code,
        "name": name,
    }


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
