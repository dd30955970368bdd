"""Pure decoding and validation: no broker, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.decode import DeviceInfo, Limits, decode, parse_topic

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
REGISTRY = {
    "MTR-1": DeviceInfo("MTR-1", "meter", "DC-1"),
    "MTR-2": DeviceInfo("MTR-2", "meter", "DC-2"),
    "DC-1": DeviceInfo("DC-1", "concentrator"),
    "DC-2": DeviceInfo("DC-2", "concentrator"),
    "FCI-F1-S1": DeviceInfo("FCI-F1-S1", "fci"),
}


def reading(dev: str, at: datetime = NOW, **values: float) -> dict:
    return {"device_id": dev, "time": at.isoformat(), "values": values or {"1-0:32.7.0": 230.1}}


def run(topic: str, payload: object, limits: Limits = Limits()):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode(topic, raw, REGISTRY, NOW, limits)


def test_parse_topic():
    assert parse_topic("devices/MTR-1/readings") == ("MTR-1", "readings")
    assert parse_topic("devices//readings") is None
    assert parse_topic("devices/MTR-1/readings/extra") is None
    assert parse_topic("other/MTR-1/readings") is None


def test_a_reading_becomes_a_row_with_readable_columns():
    out = run("devices/MTR-1/readings", reading("MTR-1", voltage_v=229.0, current_a=3.5))
    assert not out.dead_letters
    (row,) = out.readings
    assert (row.device_id, row.time, row.voltage_v, row.current_a) == ("MTR-1", NOW, 229.0, 3.5)


def test_a_concentrator_batch_keeps_the_good_and_dead_letters_the_rest():
    batch = {
        "concentrator_id": "DC-1",
        "readings": [reading("MTR-1"), reading("MTR-2"), reading("MTR-9")],
    }
    out = run("devices/DC-1/readings", batch)
    assert [r.device_id for r in out.readings] == ["MTR-1"]
    reasons = sorted(d.reason.split(":")[0] for d in out.dead_letters)
    assert reasons == ["not_behind_concentrator", "unknown_device"]
    assert {d.device_id for d in out.dead_letters} == {"MTR-2", "MTR-9"}


def test_events_get_their_severity_and_status_its_time():
    ev = {
        "device_id": "FCI-F1-S1",
        "event_id": "12",
        "time": NOW.isoformat(),
        "code": "11.26.131.85",
        "name": "fault_current",
        "details": {"peak_a": 812.0},
    }
    out = run("devices/FCI-F1-S1/events", ev)
    (row,) = out.events
    assert (row.event_name, row.severity, row.details) == (
        "fault_current",
        "critical",
        {"peak_a": 812.0},
    )
    status = run("devices/FCI-F1-S1/status", {"status": "offline"})
    assert status.statuses[0].status == "offline" and status.statuses[0].time == NOW


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("devices/MTR-1/readings", b"{nope", "malformed_json"),
        ("devices/MTR-1/readings", {"device_id": "MTR-1"}, "schema"),
        (
            "devices/MTR-1/readings",
            b'{"device_id":"MTR-1","time":"2026-11-30T08:00:00Z","values":{"1-0:32.7.0":NaN}}',
            "impossible_value",
        ),
        ("devices/MTR-1/readings", reading("MTR-1", **{"1-0:13.7.0": 3.0}), "impossible_value"),
        ("devices/MTR-1/readings", reading("MTR-1", NOW + timedelta(hours=1)), "future_timestamp"),
        ("devices/MTR-1/readings", b"x" * 2000, "oversize"),
        ("devices/MTR-7/readings", reading("MTR-7"), "unknown_device"),
        ("devices/MTR-1/readings", reading("MTR-2"), "device_mismatch"),
        (
            "devices/DC-1/readings",
            {"concentrator_id": "DC-2", "readings": [reading("MTR-2")]},
            "device_mismatch",
        ),
        ("devices/MTR-1/chatter", b"{}", "unknown_topic_kind"),
        ("sensors/MTR-1", b"{}", "unknown_topic"),
        (
            "devices/MTR-1/readings",
            {"concentrator_id": "DC-1", "readings": [reading("MTR-1")]},
            "schema",
        ),
    ],
)
def test_bad_input_becomes_a_dead_letter_with_its_reason(topic, payload, reason):
    out = run(topic, payload, Limits(max_payload_bytes=1000, max_future_s=300))
    assert not out.readings and not out.events
    (dead,) = out.dead_letters
    assert dead.reason.split(":")[0] == reason, dead.reason
    assert dead.topic == topic and len(dead.raw) <= 4096


def test_row_times_keep_their_instant_and_form():
    for stamp in ("2026-11-30T07:59:00Z", "2026-11-30T07:59:00+00:00", "2026-11-30T15:59:00+08:00"):
        payload = {"device_id": "MTR-1", "time": stamp, "values": {"1-0:32.7.0": 230.1}}
        (row,) = run("devices/MTR-1/readings", payload).readings
        parsed = datetime.fromisoformat(stamp)
        assert row.time == parsed and row.time.isoformat() == parsed.isoformat()
