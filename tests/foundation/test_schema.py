"""The schema: hypertables, forward-only idempotent migrations, replay keys."""

from datetime import UTC, datetime

import psycopg
import pytest

from gridcrew import db


def test_time_series_are_hypertables(conn):
    names = {
        r["hypertable_name"]
        for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
    }
    assert {"meter_readings", "device_events", "crew_positions"} <= names


def test_migrate_again_applies_nothing_and_keeps_data(db_url, conn):
    before = conn.execute("SELECT count(*) AS n FROM devices").fetchone()["n"]
    assert db.migrate(db_url) == []
    assert conn.execute("SELECT count(*) AS n FROM devices").fetchone()["n"] == before
    assert db.migration_status(db_url)["ok"]


def test_a_reading_is_unique_on_device_and_time(conn):
    t = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    conn.execute(
        "INSERT INTO meter_readings (time, device_id, voltage_v) VALUES (%s, %s, 230)",
        (t, "MTR-000001"),
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO meter_readings (time, device_id, voltage_v) VALUES (%s, %s, 231)",
            (t, "MTR-000001"),
        )


def test_an_event_is_unique_on_device_id_and_time(conn):
    t = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    sql = (
        "INSERT INTO device_events (time, device_id, event_id, event_code, event_name)"
        " VALUES (%s, 'MTR-000001', '17', '10.26.80.59', 'last_gasp') ON CONFLICT DO NOTHING"
    )
    assert conn.execute(sql, (t,)).rowcount == 1
    assert conn.execute(sql, (t,)).rowcount == 0


def test_one_active_assignment_per_work_order(conn):
    wo = conn.execute("SELECT id FROM work_orders LIMIT 1").fetchone()["id"]
    conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence) VALUES (%s, 'CREW-01', 0)",
        (wo,),
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO assignments (work_order_id, crew_id, sequence) VALUES (%s, 'CREW-02', 0)",
            (wo,),
        )


def test_devices_in_planned_outage_covers_the_section_and_downstream(conn):
    conn.execute(
        "INSERT INTO planned_outages (section_id, starts_at, ends_at, reason, created_by)"
        " VALUES ('F1-S2', now() - interval '1 hour', now() + interval '1 hour', 'test', 't')"
    )
    rows = conn.execute(
        "SELECT d.id, d.section_id, d.id IN (SELECT devices_in_planned_outage("
        "  array_agg(d.id) OVER (), now())) AS planned FROM devices d WHERE d.kind = 'meter'"
    ).fetchall()
    planned = {r["section_id"] for r in rows if r["planned"]}
    assert planned == {"F1-S2", "F1-S3", "F1-S4", "F1-S5", "F1-S6"}
    later = conn.execute(
        "SELECT count(*) AS n FROM devices_in_planned_outage("
        " ARRAY(SELECT id FROM devices), now() + interval '2 hours')"
    ).fetchone()["n"]
    assert later == 0
