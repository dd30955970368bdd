"""Health: /healthz over real HTTP and `gridcrew doctor` report database, TimescaleDB, broker,
photo storage."""

import subprocess
import sys

from tests.conftest import ROOT, service_env


def test_healthz_reports_timescaledb_broker_and_migrations(api):
    with api.client() as c:
        body = c.get("/healthz").json()
    assert body["ok"] is True
    assert body["database"]["timescaledb"].startswith("2.")
    assert body["broker"]["ok"] and body["migrations"]["ok"]
    assert body["storage"]["ok"] and body["storage"]["detail"].startswith("local folder ")


def test_doctor_says_what_to_fix_when_the_broker_is_down(db_url, broker):
    ok = subprocess.run(
        [sys.executable, "-m", "gridcrew", "doctor"],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[ok  ] database: timescaledb 2." in ok.stdout
    down = subprocess.run(
        [sys.executable, "-m", "gridcrew", "doctor"],
        env=service_env(db_url, GRIDCREW_MQTT_URL="mqtt://127.0.0.1:9"),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert down.returncode == 1
    assert "[FAIL] broker" in down.stdout and "fix:" in down.stdout
