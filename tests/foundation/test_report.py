"""`gridcrew report` and `gridcrew db retention` on a seeded database."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

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
            (now - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S"),
            "--to",
            (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            "--out",
            str(tmp_path),
        ],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 6
    assert "100.0 %" in page and "0.0 %" in page


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
