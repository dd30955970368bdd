"""A compressed storm day through the whole real stack.

The session's Mosquitto, a clone of the seeded TimescaleDB, ``gridcrew gateway``,
``gridcrew dispatch``, the mobile API under uvicorn and ``gridcrew simulate crews``: four
faults (one in the city, three in the rural district) struck by the devices themselves
(fault indicators and the meters' concentrators with their own logins), crews driving,
checking in, photographing, signing off; each fault cleared (``power_up`` + ``fci_reset``)
once its crew is on site. One module-scoped storm, then small assertions on what it left.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gridcrew import db, reliability
from gridcrew.config import get_settings
from ops import report
from simulators.fieldwork import distance_m
from tests import stack
from tests.conftest import ROOT, ApiServer, Broker, service_env
from tests.e2e.fleet import GRID, Fleet, logins_for, sample_meters

FAULTS = {"F1-S4": "urban", "F3-S5": "rural", "F4-S6": "rural", "F2-S5": "rural"}
SKILL = {
    "F1-S4": "cable",
    "F3-S5": "overhead_line",
    "F4-S6": "overhead_line",
    "F2-S5": "overhead_line",
}
DEADLINE_MIN = {"urban": 45, "rural": 90}
# Crews on shift: no meter skill, so the seeded meter installations stay open.
CREWS = ["crew-01", "crew-06", "crew-10", "crew-11"]
SPEED = 150.0  # scenario seconds per wall second for the crews
SAMPLE_METERS = 300
STORM_TIMEOUT_S = 150.0
NEAR_SITE_M = 250.0
ON_SITE = ("on_site", "work_done", "signed_off")


@dataclass
class StormDay:
    db_url: str
    api: ApiServer
    data_dir: Path
    start: datetime
    end: datetime
    published: dict[str, int]
    restored_at: dict[str, datetime] = field(default_factory=dict)
    faulted_at: dict[str, datetime] = field(default_factory=dict)
    seconds: float = 0.0

    def conn(self) -> psycopg.Connection:
        return db.connect(self.db_url, autocommit=True)


def fault_state(conn: psycopg.Connection, section: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT i.id AS incident_id, i.status AS incident_status, w.id, w.status, w.arrived_at,"
        " w.lon, w.lat, a.crew_id, c.last_lon, c.last_lat"
        " FROM incidents i JOIN work_orders w ON w.incident_id = i.id"
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " LEFT JOIN crews c ON c.id = a.crew_id"
        " WHERE i.cause = 'alarm' AND i.section_id = %s AND i.merged_into IS NULL"
        " ORDER BY i.id LIMIT 1",
        (section,),
    ).fetchone()


def crew_on_site(s: dict[str, Any]) -> bool:
    """On site by status or check-in, or (a crew working offline syncs later) by its last
    GPS fix at the site."""
    if s["status"] in ON_SITE or s["arrived_at"] is not None:
        return True
    if s["last_lon"] is None:
        return False
    return distance_m((s["last_lon"], s["last_lat"]), (s["lon"], s["lat"])) <= NEAR_SITE_M


def count(conn: psycopg.Connection, query: str, params: tuple = ()) -> int:
    return conn.execute(query, params).fetchone()["n"]


@pytest.fixture(scope="module")
def storm(module_db_url: str, broker: Broker, tmp_path_factory) -> Iterator[StormDay]:
    data_dir = tmp_path_factory.mktemp("data")
    crew_ids = [f"CREW-{c[-2:]}" for c in CREWS]
    with db.connect(module_db_url, autocommit=True) as conn:
        conn.execute("UPDATE crews SET state = 'offline' WHERE id <> ALL(%s)", (crew_ids,))
    sections = list(FAULTS)
    meters = sample_meters(sections, SAMPLE_METERS)
    started = time.monotonic()
    start = datetime.now(UTC).replace(microsecond=0)
    fleet = Fleet(start)
    published = {"readings": 0, "last_gasp": 0, "power_up": 0, "messages": 0}
    with ExitStack() as services:
        server = services.enter_context(
            stack.api(module_db_url, broker.url, GRIDCREW_DATA_DIR=str(data_dir))
        )
        services.enter_context(stack.gateway(module_db_url, broker.url))
        services.enter_context(stack.dispatcher(module_db_url, broker.url))
        devices = services.enter_context(stack.devices(broker.url, logins_for(meters, sections)))
        services.enter_context(stack.crews(server.base_url, CREWS, SPEED))

        published["messages"] += devices.publish(fleet.readings(meters, start, 0))
        published["readings"] += len(meters)
        faulted_at: dict[str, datetime] = {}
        for section in sections:
            faulted_at[section] = datetime.now(UTC)
            published["messages"] += devices.publish(fleet.fault(section, faulted_at[section]))
            published["last_gasp"] += len(GRID.meters_losing_power(section))
            time.sleep(1.0)

        day = StormDay(module_db_url, server, data_dir, start, start, published)
        day.faulted_at = faulted_at
        with day.conn() as conn:

            def progress() -> bool:
                for section in sections:
                    s = fault_state(conn, section)
                    if s is None or section in day.restored_at or not crew_on_site(s):
                        continue
                    back = datetime.now(UTC)
                    published["messages"] += devices.publish(fleet.restore(section, back))
                    published["power_up"] += len(GRID.meters_losing_power(section))
                    day.restored_at[section] = back
                states = [fault_state(conn, s) for s in sections]
                return len(day.restored_at) == len(sections) and all(
                    s is not None
                    and s["status"] == "signed_off"
                    and s["incident_status"] == "closed"
                    for s in states
                )

            stack.wait_for(progress, STORM_TIMEOUT_S, "every fault worked, signed off and restored")
            after = datetime.now(UTC)
            published["messages"] += devices.publish(fleet.readings(meters, after, 1))
            published["readings"] += len(meters)
            stack.wait_for(
                lambda: (
                    count(conn, "SELECT count(*) AS n FROM meter_readings") >= published["readings"]
                ),
                30,
                "the last readings stored",
            )
        day.end = datetime.now(UTC) + timedelta(seconds=1)
        day.seconds = time.monotonic() - started
        yield day


def by_section(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    return {s: fault_state(conn, s) for s in FAULTS}


def test_last_gasps_of_every_dark_meter_were_stored(storm: StormDay):
    with storm.conn() as conn:
        for section in FAULTS:
            dark = [m.id for m in GRID.meters_losing_power(section)]
            stored = count(
                conn,
                "SELECT count(DISTINCT device_id) AS n FROM device_events"
                " WHERE event_name = 'last_gasp' AND device_id = ANY(%s)",
                (dark,),
            )
            assert stored == len(dark), section
        total = count(
            conn, "SELECT count(*) AS n FROM device_events WHERE event_name = 'last_gasp'"
        )
        assert total == storm.published["last_gasp"]


def test_exactly_one_incident_per_fault_on_its_section(storm: StormDay):
    with storm.conn() as conn:
        rows = conn.execute(
            "SELECT section_id, count(*) AS n FROM incidents"
            " WHERE cause = 'alarm' AND merged_into IS NULL GROUP BY section_id"
        ).fetchall()
        merged = count(conn, "SELECT count(*) AS n FROM incidents WHERE merged_into IS NOT NULL")
    assert {r["section_id"]: r["n"] for r in rows} == {s: 1 for s in FAULTS}
    assert merged == 0


def test_work_order_per_fault_with_the_deadline_of_its_area(storm: StormDay):
    with storm.conn() as conn:
        for section, area in FAULTS.items():
            rows = conn.execute(
                "SELECT w.kind, sa.kind AS area, w.required_skills,"
                " extract(epoch FROM w.arrival_deadline - w.reported_at) / 60 AS minutes"
                " FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
                " JOIN service_areas sa ON sa.id = w.service_area_id"
                " WHERE i.section_id = %s AND i.cause = 'alarm'",
                (section,),
            ).fetchall()
            assert len(rows) == 1, section
            wo = rows[0]
            assert (wo["kind"], wo["area"]) == ("fault_repair", area), section
            assert float(wo["minutes"]) == pytest.approx(DEADLINE_MIN[area]), section
            assert wo["required_skills"] == [SKILL[section]], section


def test_a_qualified_crew_was_assigned_to_each_fault(storm: StormDay):
    with storm.conn() as conn:
        for section, s in by_section(conn).items():
            skills = conn.execute(
                "SELECT skills FROM crews WHERE id = %s", (s["crew_id"],)
            ).fetchone()["skills"]
            assert SKILL[section] in skills, (section, s["crew_id"], skills)
        doubled = conn.execute(
            "SELECT work_order_id FROM assignments WHERE active"
            " GROUP BY work_order_id HAVING count(*) > 1"
        ).fetchall()
    assert doubled == []


def test_the_crews_check_in_was_accepted_inside_the_geofence(storm: StormDay):
    radius = get_settings().checkin_radius_m
    with storm.conn() as conn:
        for section, s in by_section(conn).items():
            rows = conn.execute(
                "SELECT crew_id, accepted, distance_m, accuracy_m FROM check_ins"
                " WHERE work_order_id = %s AND accepted",
                (s["id"],),
            ).fetchall()
            assert rows, section
            assert all(r["crew_id"] == s["crew_id"] for r in rows), section
            assert all(r["distance_m"] <= radius + r["accuracy_m"] for r in rows), section
            assert s["arrived_at"] is not None, section


def test_photos_are_stored_with_the_sha256_of_their_file(storm: StormDay):
    with storm.conn() as conn:
        for section, s in by_section(conn).items():
            photos = conn.execute(
                "SELECT sha256, storage_key, size_bytes FROM photos WHERE work_order_id = %s",
                (s["id"],),
            ).fetchall()
            assert photos, section
            for p in photos:
                data = (storm.data_dir / "photos" / p["storage_key"]).read_bytes()
                assert len(data) == p["size_bytes"]
                assert hashlib.sha256(data).hexdigest() == p["sha256"], section


def test_each_job_has_a_customer_signoff_and_a_rating(storm: StormDay):
    with storm.conn() as conn:
        for section, s in by_section(conn).items():
            assert s["status"] == "signed_off", section
            signoff = conn.execute(
                "SELECT customer_name, signature_sha256 FROM signoffs WHERE work_order_id = %s",
                (s["id"],),
            ).fetchone()
            assert signoff and signoff["customer_name"] and signoff["signature_sha256"], section
            rating = conn.execute(
                "SELECT attitude, professional_skill, response_speed, process_standard"
                " FROM ratings WHERE work_order_id = %s",
                (s["id"],),
            ).fetchone()
            assert rating and all(1 <= v <= 5 for v in rating.values()), section


def test_the_incident_closed_when_supply_came_back(storm: StormDay):
    with storm.conn() as conn:
        for section, s in by_section(conn).items():
            row = conn.execute(
                "SELECT i.status, i.closed_at, w.restored_at FROM incidents i"
                " JOIN work_orders w ON w.incident_id = i.id WHERE i.id = %s",
                (s["incident_id"],),
            ).fetchone()
            assert row["status"] == "closed", section
            assert row["closed_at"] >= storm.restored_at[section] - timedelta(seconds=1), section
            assert row["restored_at"] is not None, section
        ups = count(conn, "SELECT count(*) AS n FROM device_events WHERE event_name = 'power_up'")
        resets = count(
            conn, "SELECT count(*) AS n FROM device_events WHERE event_name = 'fci_reset'"
        )
    assert ups == storm.published["power_up"]
    assert resets == sum(len(GRID.indicators_tripped(s)) for s in FAULTS)


def test_the_audit_chain_verifies(storm: StormDay):
    token = storm.api.login("dispatcher")
    with storm.api.client(token) as http:
        r = http.get("/v1/audit/verify")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"], body["problems"][:5]
    with storm.conn() as conn:
        entries = count(conn, "SELECT count(*) AS n FROM audit_log")
    assert body["entries"] == entries


def _recount(conn: psycopg.Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """The KPIs counted in Python from the raw rows (not the API's SQL)."""
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    faults = conn.execute(
        "SELECT sa.kind AS area, w.reported_at, w.arrival_deadline, w.arrived_at, w.restored_at"
        " FROM work_orders w JOIN service_areas sa ON sa.id = w.service_area_id"
        " WHERE w.kind = 'fault_repair' AND w.status <> 'cancelled'"
    ).fetchall()
    faults = [f for f in faults if start <= f["reported_at"] < end]
    out: dict[str, Any] = {}
    for area in ("urban", "rural"):
        mine = [f for f in faults if f["area"] == area]
        due = [f for f in mine if f["arrived_at"] is not None or f["arrival_deadline"] < now]
        within = [f for f in mine if f["arrived_at"] and f["arrived_at"] <= f["arrival_deadline"]]
        arrivals = [
            (f["arrived_at"] - f["reported_at"]).total_seconds() / 60
            for f in mine
            if f["arrived_at"]
        ]
        out[area] = {
            "due": len(due),
            "within": len(within),
            "arrived": len(arrivals),
            "arrival_mean_min": sum(arrivals) / len(arrivals) if arrivals else None,
            "restored": sum(1 for f in mine if f["restored_at"] is not None),
        }
    ratings = [
        r for r in conn.execute("SELECT * FROM ratings").fetchall() if start <= r["rated_at"] < end
    ]
    out["ratings"] = len(ratings)
    out["attitude"] = sum(r["attitude"] for r in ratings) / len(ratings) if ratings else None
    signed = conn.execute(
        "SELECT s.signed_at FROM work_orders w JOIN signoffs s ON s.work_order_id = w.id"
        " WHERE w.status = 'signed_off'"
    ).fetchall()
    out["outcomes"] = sum(1 for r in signed if start <= r["signed_at"] < end)
    return out


def test_kpi_endpoint_matches_a_recount_from_the_raw_tables(storm: StormDay):
    start, end = storm.start - timedelta(minutes=5), storm.end + timedelta(minutes=1)
    token = storm.api.login("dispatcher")
    with storm.api.client(token) as http:
        r = http.get(
            "/v1/kpi", params={"from": start.isoformat(), "to": end.isoformat(), "bucket": "hour"}
        )
    assert r.status_code == 200, r.text
    kpi = r.json()
    with storm.conn() as conn:
        want = _recount(conn, start, end)
    for area in ("urban", "rural"):
        got_a, got_t = kpi["arrival_within_deadline"][area], kpi["times"][area]
        assert (got_a["due"], got_a["within"]) == (want[area]["due"], want[area]["within"]), area
        assert (got_t["arrived"], got_t["restored"]) == (
            want[area]["arrived"],
            want[area]["restored"],
        ), area
        assert got_t["arrival_mean_min"] == pytest.approx(want[area]["arrival_mean_min"]), area
    assert want["urban"]["arrived"] == 1 and want["rural"]["arrived"] == 3
    assert kpi["ratings"]["count"] == want["ratings"] == len(FAULTS)
    assert kpi["ratings"]["mean"]["attitude"] == pytest.approx(want["attitude"])
    assert kpi["first_time_fix"]["outcomes"] == want["outcomes"] == len(FAULTS)


def test_reliability_indices_match_the_faults(storm: StormDay):
    """Per feeder: the customers behind each faulted section x the minutes until its
    supply came back; and the endpoint splits the same interruptions into sustained and
    momentary by the setting (a compressed storm's outages last seconds to minutes)."""
    start, end = storm.start - timedelta(minutes=5), storm.end + timedelta(minutes=1)
    settings = get_settings()
    with storm.conn() as conn:
        got = reliability.compute(
            conn, start, end, by="feeder", zone=settings.local_timezone, momentary_min=1e-6
        )["groups"]
    token = storm.api.login("dispatcher")
    with storm.api.client(token) as http:
        r = http.get(
            "/v1/kpi/reliability",
            params={"from": start.isoformat(), "to": end.isoformat(), "by": "feeder"},
        )
    assert r.status_code == 200, r.text
    served = r.json()["groups"]
    for section in FAULTS:
        feeder = section.split("-")[0]
        customers = len(GRID.meters_losing_power(section))
        minutes = (storm.restored_at[section] - storm.faulted_at[section]).total_seconds() / 60
        g = got[feeder]
        assert (g["interruptions"], g["customers_interrupted"]) == (customers, customers), feeder
        assert g["customer_minutes"] == pytest.approx(customers * minutes, rel=1e-3), feeder
        assert g["saidi_min"] == pytest.approx(customers * minutes / g["customers_served"])
        s = served[feeder]
        assert s["interruptions"] + s["momentary_events"] == customers, feeder
    assert set(got) == {s.split("-")[0] for s in FAULTS}


def test_no_dead_letters(storm: StormDay):
    with storm.conn() as conn:
        rows = conn.execute("SELECT topic, reason FROM dead_letters LIMIT 5").fetchall()
    assert rows == []


def test_every_published_reading_was_stored_once(storm: StormDay):
    with storm.conn() as conn:
        n = count(conn, "SELECT count(*) AS n FROM meter_readings")
        distinct = count(conn, "SELECT count(DISTINCT (device_id, time)) AS n FROM meter_readings")
    assert n == distinct == storm.published["readings"]


def test_the_report_renders_the_storm(storm: StormDay, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    start, end = storm.start - timedelta(minutes=5), storm.end + timedelta(minutes=1)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridcrew",
            "report",
            "--from",
            start.isoformat(),  # with its offset: a bare time is read as local
            "--to",
            end.isoformat(),
            "--out",
            str(out),
        ],
        env=service_env(storm.db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page, reliability_page = (out / "report.html").read_text().split('<section id="reliability">')
    assert page.count("data:image/png;base64,") == 6
    assert reliability_page.count("data:image/png;base64,") == 2
    for feeder in {s.split("-")[0] for s in FAULTS}:
        assert f"<td>{feeder}</td>" in reliability_page  # a worst-served feeder row each
    assert "1 of 1" in page and "3 of 3" in page  # urban and rural reached within deadline
    assert f"{storm.published['readings']:,} / " in page
    with storm.conn() as conn:
        worked = {s["crew_id"] for s in by_section(conn).values()}
        crews = report.collect(conn, start, end).crews
    idle = [r for r in crews if r["crew_id"] not in worked]
    assert idle and all(float(r["hours_on_site"]) == 0 for r in idle), idle
    assert all(r["jobs"] >= 1 for r in crews if r["crew_id"] in worked)
