"""TLS for devices: a broker rendered with the TLS listener takes certificates of its CA only."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gridcrew import broker as broker_mod
from gridcrew import pki
from gridcrew.net import free_port
from tests.conftest import device_password, stop_process

DEVICE = "MTR-000042"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class TlsBroker:
    port: int
    tls_port: int
    pki: pki.BrokerPki
    directory: Path


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    directory = tmp_path_factory.mktemp("tls-broker")
    port, tls_port = free_port(), free_port()
    listener = broker_mod.tls_listener(directory, HOST, tls_port)
    conf = broker_mod.render(directory, [DEVICE], host=HOST, port=port, tls_listener=listener)
    proc = broker_mod.start(conf, HOST, port)
    try:
        broker_mod.wait_listening(HOST, tls_port, timeout=30)
        files = pki.ensure_broker_pki(directory / "tls")
        yield TlsBroker(port, tls_port, files, directory)
    finally:
        stop_process(proc)


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)


def _connects(client: mqtt.Client, port: int) -> bool:
    """True when the broker answers CONNACK success; False on any refusal."""
    done = threading.Event()
    result = {"ok": False}

    def on_connect(c, userdata, flags, rc, props):
        result["ok"] = not rc.is_failure
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *args: done.set()
    try:
        client.connect(HOST, port)
    except (ssl.SSLError, OSError):
        return False
    client.loop_start()
    finished = done.wait(30)
    client.loop_stop()
    return finished and result["ok"]


def _publish(client: mqtt.Client, topic: str) -> mqtt.ReasonCode:
    acked = threading.Event()
    out = {}

    def on_publish(c, userdata, mid, rc, props):
        out["rc"] = rc
        acked.set()

    client.on_publish = on_publish
    client.publish(topic, b"{}", qos=1)
    assert acked.wait(30)
    return out["rc"]


def test_private_keys_are_owner_only(tls_broker):
    assert tls_broker.pki.ca_key.stat().st_mode & 0o077 == 0
    assert tls_broker.pki.server_key.stat().st_mode & 0o077 == 0


def test_device_certificate_connects_and_the_acl_follows_its_name(tls_broker, tmp_path):
    cert, key = pki.issue_device_cert(tls_broker.pki, DEVICE, tmp_path)
    client = _client(f"{DEVICE}-tls")
    client.tls_set(ca_certs=str(tls_broker.pki.ca_cert), certfile=str(cert), keyfile=str(key))
    assert _connects(client, tls_broker.tls_port)
    client.loop_start()
    try:
        assert not _publish(client, f"devices/{DEVICE}/readings").is_failure
        assert _publish(client, "devices/MTR-000043/readings").value == 0x87
    finally:
        client.loop_stop()
        client.disconnect()


def test_no_certificate_is_refused(tls_broker):
    client = _client("no-cert")
    client.tls_set(ca_certs=str(tls_broker.pki.ca_cert))
    client.username_pw_set(DEVICE, device_password(DEVICE))
    assert not _connects(client, tls_broker.tls_port)


def test_certificate_of_a_foreign_ca_is_refused(tls_broker, tmp_path):
    foreign = pki.ensure_broker_pki(tmp_path / "foreign")
    cert, key = pki.issue_device_cert(foreign, DEVICE, tmp_path)
    client = _client("foreign-ca")
    client.tls_set(ca_certs=str(tls_broker.pki.ca_cert), certfile=str(cert), keyfile=str(key))
    assert not _connects(client, tls_broker.tls_port)


def test_password_listener_still_works_beside_tls(tls_broker):
    client = _client(f"{DEVICE}-plain")
    client.username_pw_set(DEVICE, device_password(DEVICE))
    assert _connects(client, tls_broker.port)
    client.disconnect()
