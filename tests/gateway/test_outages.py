"""Alarms through the real broker and gateway become incidents and fault-repair work
orders: one per transformer in a burst, a fault-indicator pattern localised to its
section, restores closing them, planned outages opening nothing."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from gridcrew import audit, db
from gridcrew.mqtt import service_client
from schemas.telemetry import EVENT_CODES, EventName
from tests.gateway.conftest import event, now, scalar, seconds, wait_for


def last_gasp(meter: str, seq: str, at) -> tuple[str, dict]:
    code = EVENT_CODES[EventName.last_gasp]
    return f"devices/{meter}/events", event(meter, seq, at, "last_gasp", code)


def power_up(meter: str, seq: str, at) -> tuple[str, dict]:
    code = EVENT_CODES[EventName.power_up]
    return f"devices/{meter}/events", event(meter, seq, at, "power_up", code)


def fault_current(indicator: str, at) -> tuple[str, dict]:
    code = EVENT_CODES[EventName.fault_current]
    return f"devices/{indicator}/events", event(indicator, "1", at, "fault_current", code)


def meters_where(conn, *, transformers: list[str] = (), section_like: str = "") -> list[str]:
    rows = conn.execute(
        "SELECT d.id FROM devices d JOIN transformers t ON t.id = d.transformer_id"
        " WHERE d.kind = 'meter' AND (t.id = ANY(%s) OR t.section_id LIKE %s) ORDER BY d.id",
        (list(transformers), section_like or "-"),
    ).fetchall()
    return [r["id"] for r in rows]


@pytest.fixture
def announcements(broker):
    """What the gateway publishes on gridcrew/work_orders/<id>."""
    got: list[dict] = []
    ready = threading.Event()
    c = service_client(f"mon-{uuid.uuid4().hex[:6]}", "svc-monitor")
    c.on_message = lambda cl, u, msg: got.append(json.loads(msg.payload))
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, *a: cl.subscribe("gridcrew/work_orders/#", qos=1)
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert ready.wait(10)
    yield got
    c.disconnect()
    c.loop_stop()


def test_a_burst_behind_twenty_transformers_opens_twenty_work_orders_and_restores_close_them(
    db_url, conn, publisher, start_gateway, announcements
):
    listener = db.connect(db_url, autocommit=True)
    listener.execute("LISTEN work_orders")
    start_gateway(db_url, workers=2)  # both correlate; the advisory lock makes them agree
    txs = [
        r["id"]
        for r in conn.execute(
            "SELECT DISTINCT ON (section_id) id FROM transformers ORDER BY section_id, id LIMIT 20"
        )
    ]
    meters = meters_where(conn, transformers=txs)
    t = now() - seconds(5)
    publisher.publish_all([last_gasp(m, "1", t) for m in meters])
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM device_events") == len(meters), what="events"
    )
    wait_for(
        lambda: (
            scalar(conn, "SELECT min(meters_affected) FROM incidents") == len(meters) // 20
            and scalar(conn, "SELECT sum(meters_affected) FROM incidents") == len(meters)
        ),
        what="incidents settled",
    )
    incidents = conn.execute("SELECT * FROM incidents ORDER BY transformer_id").fetchall()
    assert len(incidents) == 20
    assert sorted(i["transformer_id"] for i in incidents) == sorted(txs)
    assert {(i["scope"], i["status"]) for i in incidents} == {("transformer", "open")}
    orders = conn.execute(
        "SELECT * FROM work_orders WHERE kind = 'fault_repair' ORDER BY id"
    ).fetchall()
    assert len(orders) == 20
    for wo in orders:
        assert wo["kind"] == "fault_repair" and wo["required_skills"] == ["transformer"]
        area = conn.execute(
            "SELECT arrival_deadline_min FROM service_areas WHERE id = %s",
            (wo["service_area_id"],),
        ).fetchone()
        minutes = (wo["arrival_deadline"] - wo["reported_at"]).total_seconds() / 60
        assert minutes == area["arrival_deadline_min"] in (45, 90)
        assert 1 <= wo["priority"] <= 5
    created = {n["id"] for n in _notified(listener) if n["change"] == "created"}
    assert created == {wo["id"] for wo in orders}
    wait_for(
        lambda: (
            {a["id"] for a in announcements if a["change"] == "created"}
            == {wo["id"] for wo in orders}
        ),
        what="MQTT announcements",
    )
    assert audit.verify(conn)["ok"]
    assert (
        scalar(
            conn, "SELECT count(*) FROM audit_log WHERE actor = 'gateway' AND action = 'created'"
        )
        == 20
    )

    publisher.publish_all([power_up(m, "2", t + seconds(2)) for m in meters])
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM incidents WHERE status = 'closed'") == 20,
        what="restores close every incident",
    )
    assert scalar(conn, "SELECT count(*) FROM incidents WHERE closed_at IS NULL") == 0
    assert scalar(conn, "SELECT count(*) FROM work_orders WHERE restored_at IS NOT NULL") == 20
    listener.close()


def _notified(listener) -> list[dict]:
    return [json.loads(n.payload) for n in listener.notifies(timeout=1)]


def test_a_fault_indicator_pattern_localises_the_section(db_url, conn, publisher, start_gateway):
    start_gateway(db_url)
    t = now() - seconds(5)
    meters = meters_where(conn, section_like="F3-%")
    trips = [fault_current(f"FCI-F3-S{i}", t - seconds(1)) for i in (1, 2, 3)]
    publisher.publish_all(trips + [last_gasp(m, "1", t) for m in meters])
    wait_for(
        lambda: (
            scalar(conn, "SELECT sum(meters_affected) FROM incidents WHERE status = 'open'")
            == len(meters)
            and scalar(conn, "SELECT count(*) FROM incidents WHERE status = 'open'") == 1
        ),
        what="one incident for the feeder",
    )
    inc = conn.execute("SELECT * FROM incidents WHERE status = 'open'").fetchone()
    assert (inc["scope"], inc["section_id"]) == ("section", "F3-S3")
    wo = conn.execute("SELECT * FROM work_orders WHERE incident_id = %s", (inc["id"],)).fetchone()
    sec = conn.execute("SELECT * FROM feeder_sections WHERE id = 'F3-S3'").fetchone()
    assert wo["required_skills"] == ["overhead_line"]
    assert (wo["lon"], wo["lat"]) == pytest.approx((sec["mid_lon"], sec["mid_lat"]))
    assert wo["status"] == "open" and wo["priority"] <= 2


def test_alarms_inside_a_planned_outage_open_no_work_order(db_url, conn, publisher, start_gateway):
    conn.execute(
        "INSERT INTO planned_outages (section_id, starts_at, ends_at, reason, created_by)"
        " VALUES ('F2-S6', now() - interval '1 hour', now() + interval '1 hour',"
        " 'pole replacement', 'test'), ('F2-S5', now() + interval '1 second',"
        " now() + interval '1 hour', 'later work', 'test')"
    )
    start_gateway(db_url)
    meters = meters_where(conn, section_like="F2-S6")
    t = now() - seconds(5)
    other = meters_where(conn, section_like="F2-S5")[0]  # dark before its section's window
    publisher.publish_all([last_gasp(m, "1", t) for m in meters] + [last_gasp(other, "1", t)])
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM device_events") == len(meters) + 1,
        what="alarms stored",
    )
    wait_for(
        lambda: scalar(conn, "SELECT count(*) FROM work_orders WHERE kind = 'fault_repair'") == 1,
        what="one order",
    )
    inc = conn.execute("SELECT * FROM incidents").fetchone()
    assert (inc["scope"], inc["meters_affected"]) == ("meter", 1)
