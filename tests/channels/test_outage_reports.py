"""One-tap outage reports over real HTTP: join the right incident, open one, de-duplicate."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import httpx
import psycopg
import pytest

from gridcrew import db
from gridcrew.mqtt import service_client
from gridcrew.net import free_port
from tests.channels.conftest import meters_on
from tests.conftest import start_api, stop_process


@pytest.fixture
def announcements(broker):
    """What arrives on gridcrew/work_orders/# of the session broker while the test runs."""
    got: list[dict] = []
    ready = threading.Event()
    c = service_client(f"mon-{uuid.uuid4().hex[:6]}", "svc-monitor")
    c.on_message = lambda cl, u, msg: got.append({"topic": msg.topic, **json.loads(msg.payload)})
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, *a: cl.subscribe("gridcrew/work_orders/#", qos=1)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert ready.wait(30)
        yield got
    finally:
        c.disconnect()
        c.loop_stop()


def _wait_for(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _incident(
    conn: psycopg.Connection, scope: str, *, section=None, transformer=None, status="open"
):
    """An incident row as the gateway writes it."""
    return conn.execute(
        "INSERT INTO incidents (scope, feeder_id, section_id, transformer_id, status,"
        " first_alarm_at) SELECT %s, s.feeder_id, s.id, %s, %s, now()"
        " FROM feeder_sections s WHERE s.id = %s"
        " RETURNING id",
        (scope, transformer, status, section),
    ).fetchone()["id"]


def _assigned_job(conn: psycopg.Connection, incident_id: int, crew: str, eta_min: int) -> dict:
    wo = conn.execute(
        "INSERT INTO work_orders (kind, status, lon, lat, incident_id, required_skills)"
        " VALUES ('fault_repair', 'assigned', 120.75, 30.74, %s, ARRAY['cable'])"
        " RETURNING id, number",
        (incident_id,),
    ).fetchone()
    a = conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival)"
        " VALUES (%s, %s, 1, now() + make_interval(mins => %s)) RETURNING planned_arrival",
        (wo["id"], crew, eta_min),
    ).fetchone()
    return {**wo, "planned_arrival": a["planned_arrival"]}


def _report(api, **body) -> httpx.Response:
    with api.client() as c:  # the English wording (Chinese is the default)
        return c.post("/v1/outage-reports", json=body, headers={"Accept-Language": "en"})


def _count(conn: psycopg.Connection, sql: str, *args) -> int:
    return conn.execute(sql, args).fetchone()["n"]


def test_report_joins_the_incident_that_covers_the_meter(channels_api, mconn):
    meter = meters_on(mconn, "F2-S5")[0]
    other_tx = meters_on(mconn, "F2-S5")[1]["transformer_id"]
    _incident(mconn, "section", section="F2-S4")  # sibling branch: not upstream
    _incident(mconn, "transformer", section="F2-S5", transformer=other_tx)
    _incident(
        mconn, "transformer", section="F2-S5", transformer=meter["transformer_id"], status="closed"
    )
    covering = _incident(mconn, "section", section="F2-S3")
    job = _assigned_job(mconn, covering, "CREW-06", 25)
    orders_before = _count(mconn, "SELECT count(*) AS n FROM work_orders")

    r = _report(channels_api, meter_id=meter["id"])

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "joined"
    assert body["incident_id"] == covering
    assert body["work_order_number"] == job["number"]
    assert body["crew_status"] == "on_the_way"
    assert body["eta"] is not None
    assert "We know about this outage" in body["message"] and "arriving about" in body["message"]
    assert _count(mconn, "SELECT count(*) AS n FROM work_orders") == orders_before
    row = mconn.execute("SELECT details FROM incidents WHERE id = %s", (covering,)).fetchone()
    assert row["details"]["customer_reports"] == 1


def test_transformer_incident_wins_over_an_upstream_section_incident(channels_api, mconn):
    meter = meters_on(mconn, "F3-S6")[0]
    _incident(mconn, "section", section="F3-S2")
    own = _incident(mconn, "transformer", section="F3-S6", transformer=meter["transformer_id"])
    body = _report(channels_api, meter_id=meter["id"]).json()
    assert body["outcome"] == "joined" and body["incident_id"] == own
    assert body["crew_status"] == "none"


def test_silent_meter_opens_an_incident_with_a_repair_job(
    channels_api, mconn, module_db_url, announcements
):
    meter, neighbour = mconn.execute(
        "SELECT d.id, d.transformer_id, d.service_area_id, s.line_type, a.arrival_deadline_min"
        " FROM devices d JOIN feeder_sections s ON s.id = d.section_id"
        " JOIN service_areas a ON a.id = d.service_area_id"
        " WHERE d.kind = 'meter' AND d.section_id = 'F4-S3' ORDER BY d.id LIMIT 2"
    ).fetchall()
    assert meter["transformer_id"] == neighbour["transformer_id"]
    audit_before = _count(mconn, "SELECT count(*) AS n FROM audit_log")
    with db.connect(module_db_url, autocommit=True) as listener:
        listener.execute("LISTEN work_orders")
        listener.execute("LISTEN incidents")
        r = _report(channels_api, meter_id=meter["id"].lower(), note="lights out on the street")
        notes = {n.channel: n.payload for n in listener.notifies(timeout=30, stop_after=2)}

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "opened" and body["meter_id"] == meter["id"]
    assert body["crew_status"] == "being_assigned"
    incident = mconn.execute(
        "SELECT * FROM incidents WHERE id = %s", (body["incident_id"],)
    ).fetchone()
    assert incident["cause"] == "customer_report" and incident["scope"] == "transformer"
    assert incident["transformer_id"] == meter["transformer_id"]
    wo = mconn.execute(
        "SELECT * FROM work_orders WHERE incident_id = %s", (incident["id"],)
    ).fetchone()
    assert wo["kind"] == "fault_repair" and wo["number"] == body["work_order_number"]
    skill = {"overhead": "overhead_line", "cable": "cable"}[meter["line_type"]]
    assert wo["required_skills"] == [skill]
    assert wo["service_area_id"] == meter["service_area_id"]
    assert wo["arrival_deadline"] - wo["reported_at"] == timedelta(
        minutes=meter["arrival_deadline_min"]
    )
    # the incident, the work order, and the customer's "report received" notice
    assert _count(mconn, "SELECT count(*) AS n FROM audit_log") == audit_before + 3
    told = mconn.execute(
        "SELECT body FROM notifications WHERE kind = 'outage_report_received'"
        " AND customer_id = (SELECT customer_id FROM devices WHERE id = %s)"
        " ORDER BY id DESC LIMIT 1",
        (meter["id"],),
    ).fetchone()
    assert told is not None and wo["number"] in told["body"]
    assert '"created"' in notes["work_orders"] and str(wo["id"]) in notes["work_orders"]
    assert '"opened"' in notes["incidents"]
    # and on the broker, as the contract lists it, after the commit
    topic = f"gridcrew/work_orders/{wo['id']}"
    assert _wait_for(lambda: any(a["topic"] == topic for a in announcements)), "not announced"
    assert [a for a in announcements if a["topic"] == topic] == [
        {
            "topic": topic,
            "id": wo["id"],
            "number": wo["number"],
            "status": "open",
            "change": "created",
        }
    ]

    # the neighbour on the same transformer joins it instead of opening another
    again = _report(channels_api, meter_id=neighbour["id"]).json()
    assert again["outcome"] == "joined" and again["incident_id"] == incident["id"]
    n = _count(
        mconn,
        "SELECT count(*) AS n FROM incidents WHERE transformer_id = %s",
        meter["transformer_id"],
    )
    assert n == 1


def test_same_meter_reported_again_is_a_duplicate(channels_api, mconn):
    meter = meters_on(mconn, "F1-S6")[0]
    first = _report(channels_api, meter_id=meter["id"]).json()
    orders = _count(mconn, "SELECT count(*) AS n FROM work_orders")
    second = _report(channels_api, meter_id=meter["id"]).json()
    assert first["outcome"] == "opened"
    assert second["outcome"] == "duplicate"
    assert second["incident_id"] == first["incident_id"]
    assert second["work_order_number"] == first["work_order_number"]
    assert "already reported" in second["message"]
    assert _count(mconn, "SELECT count(*) AS n FROM work_orders") == orders


def test_report_by_phone_number(channels_api, mconn):
    meter = meters_on(mconn, "F1-S4")[0]
    phone = meter["phone"]
    spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    body = _report(channels_api, phone=spaced).json()
    assert body["meter_id"] == meter["id"]
    assert body["outcome"] == "opened"
    via = mconn.execute(
        "SELECT via FROM outage_reports WHERE id = %s", (body["report_id"],)
    ).fetchone()["via"]
    assert via == "phone"


def test_meter_inside_a_planned_outage_gets_the_planned_answer(channels_api, mconn):
    meter = meters_on(mconn, "F2-S6")[0]
    number = mconn.execute(
        "INSERT INTO planned_outages (section_id, starts_at, ends_at, reason, created_by)"
        " VALUES ('F2-S4', now() - interval '10 minutes', now() + interval '2 hours',"
        " 'replacing insulators', 'dispatcher') RETURNING number"
    ).fetchone()["number"]
    incidents = _count(mconn, "SELECT count(*) AS n FROM incidents")
    body = _report(channels_api, meter_id=meter["id"]).json()
    assert body["outcome"] == "planned"
    assert body["planned_outage"]["number"] == number
    assert "planned work" in body["message"]
    assert _count(mconn, "SELECT count(*) AS n FROM incidents") == incidents


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"meter_id": "MTR-999999"}, 404, "unknown_meter"),
        ({"phone": "13000000000"}, 404, "unknown_phone"),
        ({}, 422, "validation_error"),
        ({"meter_id": "MTR-000001", "phone": "13000000000"}, 422, "validation_error"),
        ({"phone": "call me"}, 422, "validation_error"),
    ],
)
def test_bad_reports_are_problems(channels_api, body, status, code):
    r = _report(channels_api, **body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_report_opens_its_work_order_while_the_broker_is_away(db_url, broker):
    """No broker at the configured address: the report still succeeds, nothing is lost in SQL."""
    server = start_api(db_url, GRIDCREW_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}")
    try:
        with db.connect(db_url, autocommit=True) as conn:
            meter = conn.execute(
                "SELECT id FROM devices WHERE kind = 'meter' AND section_id = 'F1-S2'"
                " ORDER BY id LIMIT 1"
            ).fetchone()
            for _ in range(2):  # the second one finds the client already made
                r = _report(server, meter_id=meter["id"])
                assert r.status_code == 201, r.text
            assert r.json()["outcome"] == "duplicate"
            n = _count(
                conn,
                "SELECT count(*) AS n FROM work_orders WHERE number = %s",
                r.json()["work_order_number"],
            )
        assert n == 1
        assert server.process.poll() is None
    finally:
        stop_process(server.process)


def test_reports_are_rate_limited_per_client(db_url, broker):
    server = start_api(db_url, GRIDCREW_LOOKUP_LIMIT_PER_MINUTE="3")
    try:
        codes = [_report(server, meter_id="MTR-999999").status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        with server.client() as c:
            r = c.post("/v1/outage-reports", json={"meter_id": "MTR-000001"})
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert r.headers["retry-after"] == "60"
    finally:
        stop_process(server.process)
