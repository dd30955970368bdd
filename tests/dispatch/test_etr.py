"""Estimated restoration: the repair-time table, one estimate per plan, shown to customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from dispatch import etr, service
from dispatch.travel import provider_for
from gridcrew.config import get_settings
from tests.conftest import Broker, start_api, stop_process
from tests.records.seeding import phone_last4

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def test_repair_time_comes_from_the_table_by_fault_kind_and_line_type():
    assert etr.repair_minutes("section", "cable") > etr.repair_minutes("section", "overhead")
    assert etr.repair_minutes("transformer", "cable") == etr.REPAIR_MIN[("transformer", "cable")]
    assert etr.repair_minutes(None, None) == etr.DEFAULT_REPAIR_MIN
    coming = etr.Repair(1, "transformer", "overhead", NOW + timedelta(minutes=20))
    assert etr.estimate(coming, NOW) == NOW + timedelta(minutes=20 + 90)
    # on site longer than the table says: still some minutes from now, never in the past
    late = etr.Repair(1, "meter", "cable", NOW, arrived_at=NOW - timedelta(hours=3))
    assert etr.estimate(late, NOW) == NOW + etr.MIN_REMAINING


def test_an_incident_is_restored_with_its_last_repair_and_unknown_while_one_has_no_crew():
    a = etr.Repair(1, "section", "overhead", NOW + timedelta(minutes=10))
    b = etr.Repair(1, "transformer", "overhead", NOW + timedelta(minutes=40))
    unplanned = etr.Repair(2, "transformer", "cable", None)
    (one,) = etr.incidents([a, b, unplanned], NOW)
    assert one.incident_id == 1
    assert one.crew_eta == NOW + timedelta(minutes=10)
    assert one.estimated_restoration == max(etr.estimate(a, NOW), etr.estimate(b, NOW))
    stats = etr.error_stats([-30, 10, 5, 60, -2])
    assert stats == {"n": 5, "median_abs_error_min": 10, "p90_abs_error_min": 60}


def _meter_with_customer(conn: psycopg.Connection) -> dict:
    return conn.execute(
        "SELECT d.id, d.customer_id, d.transformer_id, d.section_id, s.line_type,"
        " t.lon, t.lat FROM devices d JOIN feeder_sections s ON s.id = d.section_id"
        " JOIN transformers t ON t.id = d.transformer_id"
        " JOIN service_areas a ON a.id = d.service_area_id"
        " WHERE d.kind = 'meter' AND d.customer_id IS NOT NULL AND a.kind = 'urban'"
        " ORDER BY d.id LIMIT 1"
    ).fetchone()


@pytest.fixture
def api_on(db_url: str, broker: Broker):
    server = start_api(db_url)
    yield server
    stop_process(server.process)


def test_every_plan_stores_the_etr_and_customers_see_it(conn: psycopg.Connection, api_on):
    meter = _meter_with_customer(conn)
    incident = conn.execute(
        "INSERT INTO incidents (scope, section_id, transformer_id, customers_affected)"
        " VALUES ('transformer', %s, %s, 80) RETURNING id",
        (meter["section_id"], meter["transformer_id"]),
    ).fetchone()["id"]
    skill = {"overhead": "overhead_line", "cable": "cable"}[meter["line_type"]]
    wo = conn.execute(
        "INSERT INTO work_orders (kind, priority, lon, lat, required_skills, service_area_id,"
        " arrival_deadline, incident_id, customer_id) VALUES ('fault_repair', 2, %s, %s, %s,"
        " 'SA-CITY', now() + interval '45 minutes', %s, %s) RETURNING id, number",
        (meter["lon"], meter["lat"], [skill], incident, meter["customer_id"]),
    ).fetchone()
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": 0.2})
    written = service.replan(conn, settings, provider_for(None), leader="test", trigger="test")

    row = conn.execute(
        "SELECT a.planned_arrival, a.estimated_restoration, i.estimated_restoration AS incident"
        " FROM assignments a JOIN work_orders w ON w.id = a.work_order_id"
        " JOIN incidents i ON i.id = w.incident_id WHERE a.active AND w.id = %s",
        (wo["id"],),
    ).fetchone()
    repair = timedelta(minutes=etr.repair_minutes("transformer", meter["line_type"]))
    assert row["estimated_restoration"] == row["planned_arrival"] + repair
    assert row["incident"] == row["estimated_restoration"]
    history = conn.execute(
        "SELECT plan_id, crew_eta, estimated_restoration FROM restoration_estimates"
        " WHERE incident_id = %s",
        (incident,),
    ).fetchall()
    assert [(h["plan_id"], h["crew_eta"]) for h in history] == [
        (written.plan_id, row["planned_arrival"])
    ]
    plan = conn.execute(
        "SELECT planned_at FROM dispatch_plans WHERE id = %s", (written.plan_id,)
    ).fetchone()
    assert plan["planned_at"] is not None

    # the customer's lookup shows the crew's arrival and the ETR as JSON fields
    last4 = phone_last4(conn, meter["customer_id"])
    with httpx.Client(base_url=api_on.base_url, timeout=30) as c:
        r = c.get(f"/v1/track/{wo['number']}", headers={"X-Phone-Last4": last4})
        assert r.status_code == 200, r.text
        body = r.json()
        assert datetime.fromisoformat(body["crew_eta"]) == row["planned_arrival"]
        assert datetime.fromisoformat(body["estimated_restoration"]) == row["incident"]

        # and so does the outage-report answer, in Chinese by default, English on request
        zone = get_settings().local_zone
        etr_local = row["incident"].astimezone(zone).strftime("%H:%M")
        eta_local = row["planned_arrival"].astimezone(zone).strftime("%H:%M")
        r = c.post("/v1/outage-reports", json={"meter_id": meter["id"]})
        assert r.status_code == 201, r.text
        answer = r.json()
        assert answer["outcome"] == "joined" and answer["crew_status"] == "on_the_way"
        assert datetime.fromisoformat(answer["crew_eta"]) == row["planned_arrival"]
        assert datetime.fromisoformat(answer["estimated_restoration"]) == row["incident"]
        assert "恢复供电" in answer["message"] and etr_local in answer["message"]
        r = c.post(
            "/v1/outage-reports",
            json={"meter_id": meter["id"]},
            headers={"Accept-Language": "en"},
        )
        message = r.json()["message"]
        assert f"arriving about {eta_local}" in message
        assert f"power expected back about {etr_local}" in message

    # once power is back, the ETR error is a KPI
    restored = row["incident"] + timedelta(minutes=12)
    conn.execute(
        "UPDATE work_orders SET status = 'signed_off', restored_at = %s WHERE id = %s",
        (restored, wo["id"]),
    )
    kpi = service.etr_errors(conn, restored - timedelta(hours=1), restored + timedelta(hours=1))
    assert kpi["first"] == {"n": 1, "median_abs_error_min": 12.0, "p90_abs_error_min": 12.0}
