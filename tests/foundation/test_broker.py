"""The project's broker: devices authenticate and publish only on their own topics."""

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from gridcrew.mqtt import make_client, service_client
from tests.conftest import device_password


def _connect(client: mqtt.Client, broker) -> mqtt.ReasonCode:
    done = threading.Event()
    out = {}

    def on_connect(c, userdata, flags, rc, props):
        out["rc"] = rc
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert done.wait(10), "no CONNACK"
    return out["rc"]


@pytest.fixture
def watcher(broker):
    """A monitor subscribed to every device topic; collects what the broker delivers."""
    got: list[tuple[str, bytes]] = []
    ready = threading.Event()
    c = service_client(f"watch-{uuid.uuid4().hex[:6]}", "svc-monitor")
    c.on_message = lambda cl, u, msg: got.append((msg.topic, msg.payload))
    c.on_subscribe = lambda *a: ready.set()
    assert not _connect(c, broker).is_failure
    c.subscribe("devices/#", qos=1)
    assert ready.wait(10)
    yield got
    c.loop_stop()
    c.disconnect()


def _publish_and_ack(client, topic, payload) -> mqtt.ReasonCode:
    acked = threading.Event()
    out = {}

    def on_publish(c, userdata, mid, rc, props):
        out["rc"] = rc
        acked.set()

    client.on_publish = on_publish
    client.publish(topic, payload, qos=1)
    assert acked.wait(10)
    return out["rc"]


def test_device_publishes_on_its_own_topic(broker, watcher):
    dev = "MTR-000001"
    c = make_client(f"{dev}-t1", dev, device_password(dev))
    assert not _connect(c, broker).is_failure
    rc = _publish_and_ack(c, f"devices/{dev}/readings", b"hello")
    assert not rc.is_failure
    c.loop_stop()
    c.disconnect()
    import time

    deadline = time.monotonic() + 5
    while not watcher and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (f"devices/{dev}/readings", b"hello") in watcher


def test_device_is_refused_on_another_devices_topic(broker, watcher):
    dev = "MTR-000002"
    c = make_client(f"{dev}-t2", dev, device_password(dev))
    assert not _connect(c, broker).is_failure
    rc = _publish_and_ack(c, "devices/MTR-000003/events", b"spoofed")
    own = _publish_and_ack(c, f"devices/{dev}/events", b"marker")
    assert rc.is_failure and rc.value == 0x87  # Not authorized
    assert not own.is_failure
    import time

    deadline = time.monotonic() + 5
    while (f"devices/{dev}/events", b"marker") not in watcher and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (f"devices/{dev}/events", b"marker") in watcher
    assert all(payload != b"spoofed" for _, payload in watcher)
    c.loop_stop()
    c.disconnect()


def test_wrong_password_and_anonymous_are_refused(broker):
    c = make_client("MTR-000004-t3", "MTR-000004", "not-the-password")
    assert _connect(c, broker).is_failure
    c.loop_stop()
    anon = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    assert _connect(anon, broker).is_failure
    anon.loop_stop()
