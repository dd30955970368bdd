"""``gridcrew audit consistency`` on a seeded database: silent when the day agrees with
itself, and naming every planted disagreement with its rows (exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, service_env


def _audit(db_url: str) -> tuple[int, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", "audit", "consistency", "--json"],
        env=service_env(db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def _plant(conn) -> dict[str, str]:
    """One disagreement per invariant; returns invariant -> a string its message holds."""
    conn.execute("UPDATE crews SET state = 'busy' WHERE id = 'CREW-05'")
    app = conn.execute(
        "SELECT w.id, w.application_number FROM work_orders w"
        " WHERE w.kind = 'meter_install' ORDER BY w.id LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE work_orders SET status = 'signed_off', arrived_at = now() - interval '1 hour',"
        " work_done_at = now() - interval '30 minutes' WHERE id = %s",
        (app["id"],),
    )
    conn.execute(
        "INSERT INTO signoffs (work_order_id, customer_name, signed_at, work_summary,"
        " signature_key, signature_sha256) VALUES (%s, 'c', now() - interval '20 minutes',"
        " 'done', 'k', 'x')",
        (app["id"],),
    )
    incident = conn.execute(
        "INSERT INTO incidents (cause, scope) VALUES ('customer_report', 'meter') RETURNING id"
    ).fetchone()["id"]
    conn.execute(
        "INSERT INTO work_orders (kind, status, lon, lat, incident_id, reported_at,"
        " arrival_deadline, arrived_at, work_done_at) VALUES ('fault_repair', 'signed_off',"
        " 120.75, 30.74, %s, now() - interval '2 hours', now() - interval '75 minutes',"
        " now() - interval '100 minutes', now() - interval '20 minutes')",
        (incident,),
    )
    job = conn.execute(
        "INSERT INTO work_orders (kind, status, lon, lat, required_skills, arrival_deadline)"
        " VALUES ('fault_repair', 'assigned', 120.75, 30.74, ARRAY['cable'],"
        " now() + interval '45 minutes') RETURNING id, number"
    ).fetchone()
    conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival)"
        " VALUES (%s, 'CREW-01', 1, now() + interval '3 hours')",
        (job["id"],),
    )
    stranger = conn.execute("SELECT id, phone FROM customers ORDER BY id DESC LIMIT 1").fetchone()
    conn.execute(
        "INSERT INTO notifications (recipient, customer_id, subject, kind, body)"
        " VALUES (%s, %s, %s, 'repair_update', 'your repair')",
        (stranger["phone"], stranger["id"], job["number"]),
    )
    return {
        "crew_state_follows_jobs": "CREW-05 is busy",
        "stage_follows_field_events": app["application_number"],
        "restored_incident_closed": f"incident {incident}",
        "eta_follows_timetable": job["number"],
        "number_resolves": job["number"],
    }


def test_consistency_check_is_silent_on_a_day_that_agrees(db_url):
    code, result = _audit(db_url)
    assert (code, result["violations"]) == (0, [])
    assert result["checked"]["crews"] == 12


def test_consistency_check_names_every_planted_disagreement(db_url, conn):
    planted = _plant(conn)
    code, result = _audit(db_url)
    assert code == 1
    found = {}
    for v in result["violations"]:
        found.setdefault(v["invariant"], []).append(v["message"])
        assert v["rows"], v
    for invariant, text in planted.items():
        assert any(text in m for m in found.get(invariant, [])), (invariant, found)
