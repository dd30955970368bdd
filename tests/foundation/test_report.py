"""`gridcrew report` and `gridcrew db retention` on a seeded database."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from gridcrew.config import get_settings
from ops import report
from tests.conftest import ROOT, service_env


def _faults(conn):
    now = datetime.now(UTC).replace(microsecond=0)
    # urban: on time (30 min of 45); rural: late (100 min of 90)
    for area, minutes, lon_lat in (
        ("SA-CITY", 30, (120.755, 30.746)),
        ("SA-RURAL", 100, (120.70, 30.62)),
    ):
        reported = now - timedelta(hours=2)
        conn.execute(
            "INSERT INTO work_orders (kind, lon, lat, service_area_id, reported_at,"
            " arrival_deadline, arrived_at, restored_at, status)"
            " SELECT 'fault_repair', %s, %s, id, %s, %s + arrival_deadline_min * interval '1 min',"
            " %s, %s, 'signed_off' FROM service_areas WHERE id = %s",
            (
                *lon_lat,
                reported,
                reported,
                reported + timedelta(minutes=minutes),
                reported + timedelta(minutes=minutes + 40),
                area,
            ),
        )
    conn.execute(
        "INSERT INTO dead_letters (topic, reason, raw) VALUES ('devices/x/readings',"
        " 'bad json', '\\x00')"
    )
    return now


def test_report_counts_what_the_rows_say(conn, tmp_path, db_url):
    now = _faults(conn)
    data = report.collect(conn, now - timedelta(hours=6), now + timedelta(hours=1))
    s = report.summary(data)
    assert (s["faults_urban"], s["on_time_urban"]) == (1, 1)
    assert (s["faults_rural"], s["on_time_rural"]) == (1, 0)
    assert s["dead_letters"] == 1
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridcrew",
            "report",
            "--from",
            (now - timedelta(hours=6)).isoformat(),
            "--to",
            (now + timedelta(hours=1)).isoformat(),
            "--out",
            str(tmp_path),
        ],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    page, reliability = (tmp_path / "report.html").read_text().split('<section id="reliability">')
    assert page.count("data:image/png;base64,") == 6
    assert reliability.count("data:image/png;base64,") == 2
    assert "100.0 %" in page and "0.0 %" in page


def test_consistency_a_fault_not_yet_due_is_no_miss(conn):
    """Issue 16: "urban 0.0 % (0 of 1)" for one fault whose deadline had not come yet."""
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO work_orders (kind, lon, lat, service_area_id, reported_at, arrival_deadline)"
        " VALUES ('fault_repair', 120.755, 30.746, 'SA-CITY', %s, %s)",
        (now - timedelta(minutes=10), now + timedelta(minutes=35)),
    )
    data = report.collect(conn, now - timedelta(hours=1), now + timedelta(hours=1))
    s = report.summary(data)
    assert (s["faults_urban"], s["due_urban"], s["on_time_urban"]) == (1, 0, 0)
    page = report.render_html(data)
    assert "0.0 %" not in page and "0 of 0 due (1 reported)" in page


def test_consistency_utilisation_counts_no_future_time(conn):
    """Issue 16: CREW-06 "69 %" after one minute on site (counted up to the period's end)."""
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    wo = conn.execute(
        "INSERT INTO work_orders (kind, status, lon, lat, reported_at, arrived_at)"
        " VALUES ('fault_repair', 'on_site', 120.755, 30.746, %s, %s) RETURNING id",
        (now - timedelta(minutes=20), now - timedelta(minutes=1)),
    ).fetchone()["id"]
    conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence) VALUES (%s, 'CREW-06', 1)",
        (wo,),
    )
    data = report.collect(conn, now - timedelta(hours=1), now + timedelta(hours=23))
    [crew] = [c for c in data.crews if c["crew_id"] == "CREW-06"]
    assert 0.9 / 60 < float(crew["hours_on_site"]) < 1.5 / 60


def test_consistency_report_defaults_to_today_in_the_local_zone(conn, tmp_path, db_url):
    """Issue 16: ``--out`` alone failed ("Missing option '--from'"); the period said UTC."""
    _faults(conn)
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", "report", "--out", str(tmp_path)],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "report.html").read_text()
    zone = get_settings().local_zone
    today = datetime.now(zone).date().isoformat()
    assert f"Period {today} 00:00" in page and f"({zone})" in page and "(UTC)" not in page


def test_retention_drops_only_old_chunks(conn, db_url):
    old = datetime.now(UTC) - timedelta(days=500)
    conn.execute(
        "INSERT INTO meter_readings (time, device_id, voltage_v) VALUES (%s, 'MTR-000001',"
        " 230), (now(), 'MTR-000001', 231)",
        (old,),
    )
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", "db", "retention", "--keep-days", "400"],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "meter_readings: dropped 1 chunk(s)" in out.stdout
    assert conn.execute("SELECT count(*) AS n FROM meter_readings").fetchone()["n"] == 1
