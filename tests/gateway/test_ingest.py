"""Round trips through the real broker and the real gateway: readings, events, batches,
status (last will) and a dead letter for every kind of bad input."""

from __future__ import annotations

import json
import signal

import pytest

from gridcrew import db
from gridcrew.mqtt import make_client
from schemas.telemetry import EVENT_CODES, EventName
from tests.conftest import device_password
from tests.gateway.conftest import event, now, reading, scalar, seconds, wait_for


@pytest.fixture
def gw(db_url, start_gateway):
    return start_gateway(db_url)


def behind(conn, concentrator: str) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM devices WHERE concentrator_id = %s ORDER BY id LIMIT 3", (concentrator,)
    ).fetchall()
    return [r["id"] for r in rows]


def test_readings_events_and_batches_round_trip(gw, conn, publisher):
    t = now() - seconds(60)
    meters = behind(conn, "DC-001")
    publisher.publish_all(
        [
            ("devices/MTR-000050/readings", reading("MTR-000050", t, voltage=229.5)),
            (
                "devices/DC-001/readings",
                {
                    "concentrator_id": "DC-001",
                    "readings": [reading(m, t + seconds(1), voltage=230.0) for m in meters],
                },
            ),
            (
                "devices/MTR-000050/events",
                event("MTR-000050", "7", t, "tamper", EVENT_CODES[EventName.tamper]),
            ),
            (
                "devices/DC-001/events",
                {
                    "concentrator_id": "DC-001",
                    "events": [
                        event(m, "41", t, "voltage_sag", EVENT_CODES[EventName.voltage_sag])
                        for m in meters
                    ],
                },
            ),
        ]
    )
    wait_for(
        lambda: (
            scalar(conn, "SELECT count(*) FROM meter_readings") == 1 + len(meters)
            and scalar(conn, "SELECT count(*) FROM device_events") == 1 + len(meters)
        ),
        what="readings and events stored",
    )
    row = conn.execute("SELECT * FROM meter_readings WHERE device_id = 'MTR-000050'").fetchone()
    assert row["time"] == t and row["voltage_v"] == 229.5 and row["energy_import_kwh"] == 1234.5
    ev = conn.execute("SELECT * FROM device_events WHERE device_id = 'MTR-000050'").fetchone()
    assert (ev["event_name"], ev["event_id"], ev["severity"]) == ("tamper", "7", "warning")
    wait_for(
        lambda: scalar(conn, "SELECT last_seen FROM devices WHERE id = 'MTR-000050'") == t,
        what="last_seen",
    )
    assert scalar(conn, "SELECT count(*) FROM dead_letters") == 0


def test_a_replayed_message_is_stored_once(gw, conn, publisher):
    t = now() - seconds(30)
    msg = ("devices/MTR-000051/readings", reading("MTR-000051", t))
    publisher.publish_all([msg, msg, msg])
    publisher.publish_all([("devices/MTR-000051/readings", reading("MTR-000051", t + seconds(1)))])
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM meter_readings") == 2, what="two rows")
    assert scalar(conn, "SELECT count(*) FROM meter_readings WHERE time = %s", (t,)) == 1


def test_status_and_last_will_reach_the_device_table(gw, conn, broker):
    dev = "FCI-F1-S2"
    c = make_client(f"{dev}-will", dev, device_password(dev))
    offline = json.dumps({"status": "offline"})
    c.will_set(f"devices/{dev}/status", offline, qos=1, retain=True)
    c.connect(broker.host, broker.port)
    c.loop_start()
    wait_for(c.is_connected, 10, "device connected")
    online = json.dumps({"status": "online", "time": now().isoformat()})
    c.publish(f"devices/{dev}/status", online, qos=1, retain=True).wait_for_publish(10)
    wait_for(
        lambda: scalar(conn, "SELECT status FROM devices WHERE id = %s", (dev,)) == "online",
        what="status online",
    )
    assert scalar(conn, "SELECT last_seen FROM devices WHERE id = %s", (dev,)) is not None
    c.loop_stop()
    c.socket().close()  # the device dies without DISCONNECT: the broker sends its will
    wait_for(
        lambda: scalar(conn, "SELECT status FROM devices WHERE id = %s", (dev,)) == "offline",
        what="last will: status offline",
    )


BAD_INPUTS = {
    "malformed_json": ("devices/MTR-000060/readings", b"{not json"),
    "schema": ("devices/MTR-000061/readings", {"device_id": "MTR-000061", "values": {}}),
    "impossible_value": (
        "devices/MTR-000062/readings",
        b'{"device_id":"MTR-000062","time":"2026-11-30T08:00:00Z","values":{"1-0:32.7.0":5000}}',
    ),
    "nan": (
        "devices/MTR-000063/readings",
        b'{"device_id":"MTR-000063","time":"2026-11-30T08:00:00Z","values":{"1-0:32.7.0":NaN}}',
    ),
    "future_timestamp": ("devices/MTR-000064/readings", None),
    "oversize": ("devices/MTR-000065/events", b"x" * (300 * 1024)),
    "unknown_device": ("devices/MTR-999999/readings", None),
    "not_behind_concentrator": ("devices/DC-002/readings", None),
    "unknown_topic_kind": ("devices/MTR-000066/gossip", b"{}"),
    "device_mismatch": ("devices/MTR-000067/readings", None),
}


def test_every_kind_of_bad_input_becomes_a_dead_letter(gw, conn, publisher):
    t = now() - seconds(10)
    inputs = dict(BAD_INPUTS)
    inputs["future_timestamp"] = (
        inputs["future_timestamp"][0],
        reading("MTR-000064", now() + seconds(3600)),
    )
    inputs["unknown_device"] = (inputs["unknown_device"][0], reading("MTR-999999", t))
    stranger = behind(conn, "DC-001")[0]
    inputs["not_behind_concentrator"] = (
        inputs["not_behind_concentrator"][0],
        {"concentrator_id": "DC-002", "readings": [reading(stranger, t)]},
    )
    inputs["device_mismatch"] = (inputs["device_mismatch"][0], reading("MTR-000068", t))
    good = ("devices/MTR-000069/readings", reading("MTR-000069", t))
    publisher.publish_all([*inputs.values(), good])
    wait_for(
        lambda: (
            scalar(conn, "SELECT count(*) FROM dead_letters") == len(inputs)
            and scalar(conn, "SELECT count(*) FROM meter_readings") == 1
        ),
        what="dead letters",
    )
    rows = conn.execute("SELECT topic, device_id, reason, raw FROM dead_letters").fetchall()
    by_topic = {r["topic"]: r for r in rows}
    expected_reason = {k: k for k in inputs} | {"nan": "impossible_value"}
    for kind, (topic, _) in inputs.items():
        assert by_topic[topic]["reason"].startswith(expected_reason[kind] + ":"), (kind, rows)
    assert "NaN" in by_topic[BAD_INPUTS["nan"][0]]["reason"]
    assert len(by_topic[BAD_INPUTS["oversize"][0]]["raw"]) == 4096  # truncated
    assert by_topic["devices/DC-002/readings"]["device_id"] == stranger
    assert gw.proc.poll() is None  # never dies on input


def test_sigterm_stops_cleanly(db_url, start_gateway):
    gw = start_gateway(db_url)
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0
    with db.connect(db_url) as c:
        assert scalar(c, "SELECT count(*) FROM dead_letters") == 0
