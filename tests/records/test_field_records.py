"""Records follow the work (issue 16), over real HTTP: field events move an application's
stages, a customer behind a fault can follow its repair, the customer's steps carry the
recorded times, and a customer-report incident closes with its repair."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from gridcrew import db
from tests.records import seeding

GOOD = {"attitude": 5, "professional_skill": 5, "response_speed": 4, "process_standard": 5}
SITE = (120.75, 30.74)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture(scope="module")
def crew(records_api, crew_token) -> httpx.Client:
    return records_api.client(crew_token)


def _assigned(conn, **columns) -> dict:
    wo = seeding.insert_work_order(conn, status="assigned", **columns)
    conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence) VALUES (%s, 'CREW-01', 1)",
        (wo["id"],),
    )
    return wo


def _walk(crew: httpx.Client, job: int, *statuses: str) -> None:
    for s in statuses:
        if s == "check_in":
            body = {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 5, "client_time": _now()}
            r = crew.post(f"/v1/jobs/{job}/check-ins", json=body)
            assert r.status_code == 201 and r.json()["accepted"], r.text
            continue
        r = crew.post(f"/v1/jobs/{job}/status", json={"status": s, "client_time": _now()})
        assert r.status_code == 200, r.text


def _sign_off(crew: httpx.Client, job: int) -> None:
    body = {
        "customer_name": "Test Customer",
        "signed_at": _now(),
        "work_summary": "done",
        "strokes": [[[0, 0], [10, 5], [20, 0]]],
        "ratings": GOOD,
        "comment": "",
    }
    r = crew.post(f"/v1/jobs/{job}/signoff", json=body)
    assert r.status_code == 201, r.text


def test_consistency_field_events_move_the_application(records_api, crew):
    """Issue 16: an installation signed off in the field left its application 'accepted'
    (survey pending, a survey warning, construction not ratable)."""
    with db.connect(records_api.database_url, autocommit=True) as conn:
        [customer] = seeding.customer_ids(conn, 1)
        seeding.insert_application(conn, "AP-F-000001", customer)
        wo = _assigned(
            conn,
            kind="meter_install",
            customer_id=customer,
            application_number="AP-F-000001",
            lon=SITE[0],
            lat=SITE[1],
        )
        last4 = seeding.phone_last4(conn, customer)
    _walk(crew, wo["id"], "accepted", "en_route", "check_in", "on_site")
    headers = {"X-Phone-Last4": last4}
    with records_api.client() as c:
        view = c.get("/v1/track/AP-F-000001", headers=headers).json()
    assert view["stage"] == "construction"
    reached = {s["stage"]: s["reached_at"] for s in view["stages"]}
    assert all(reached[s] for s in ("survey", "plan", "construction"))
    _walk(crew, wo["id"], "work_done")
    _sign_off(crew, wo["id"])
    with records_api.client() as c:
        view = c.get("/v1/track/AP-F-000001", headers=headers).json()
        rated = c.post(
            "/v1/track/AP-F-000001/ratings", headers=headers, json={"stage": "construction", **GOOD}
        )
    assert view["stage"] == "energized" and view["next"] is None
    assert rated.status_code == 201, rated.text
    with records_api.client(records_api.login("dispatcher")) as desk:
        warned = {w["number"] for w in desk.get("/v1/applications/warnings").json()}
    assert "AP-F-000001" not in warned


def test_consistency_a_customer_behind_a_fault_follows_its_repair(records_api, crew):
    """Issue 16: WO-000007 from alarms had no customer; the number given was a 404."""
    with db.connect(records_api.database_url, autocommit=True) as conn:
        meter = conn.execute(
            "SELECT d.id, d.transformer_id, d.customer_id FROM devices d"
            " WHERE d.kind = 'meter' AND d.customer_id IS NOT NULL ORDER BY d.id LIMIT 1"
        ).fetchone()
        incident = conn.execute(
            "INSERT INTO incidents (cause, scope, transformer_id) VALUES ('alarm', 'transformer',"
            " %s) RETURNING id",
            (meter["transformer_id"],),
        ).fetchone()["id"]
        wo = _assigned(conn, kind="fault_repair", incident_id=incident, lon=SITE[0], lat=SITE[1])
        last4 = seeding.phone_last4(conn, meter["customer_id"])
        elsewhere = conn.execute(
            "SELECT c.id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM devices d"
            " WHERE d.customer_id = c.id AND d.transformer_id = %s) ORDER BY c.id LIMIT 1",
            (meter["transformer_id"],),
        ).fetchone()["id"]
        other4 = seeding.phone_last4(conn, elsewhere)
    _walk(crew, wo["id"], "accepted", "en_route")
    with records_api.client() as c:
        mine = c.get(f"/v1/track/{wo['number']}", headers={"X-Phone-Last4": last4})
        stranger = c.get(f"/v1/track/{wo['number']}", headers={"X-Phone-Last4": other4})
    assert mine.status_code == 200, mine.text
    if other4 != last4:
        assert stranger.status_code == 404
    steps = {s["step"]: s for s in mine.json()["steps"]}
    assert steps["assigned"]["at"] and steps["en_route"]["at"]
    assert steps["reported"]["label"] == "Fault reported"
    _walk(crew, wo["id"], "check_in", "on_site")  # off the road for the next test


def test_consistency_an_installation_is_not_labelled_a_fault(records_api):
    with db.connect(records_api.database_url, autocommit=True) as conn:
        [customer] = seeding.customer_ids(conn, 1)
        wo = seeding.insert_work_order(conn, kind="meter_install", customer_id=customer)
        last4 = seeding.phone_last4(conn, customer)
    with records_api.client() as c:
        view = c.get(f"/v1/track/{wo['number']}", headers={"X-Phone-Last4": last4}).json()
    labels = {s["step"]: s["label"] for s in view["steps"]}
    assert labels["reported"] == "Installation requested"
    assert labels["work_done"] == "Installation done"


def test_consistency_a_customer_report_incident_closes_with_its_repair(records_api, crew):
    """Issue 16: incidents from customer reports stayed open: nothing ever closed them."""
    with db.connect(records_api.database_url, autocommit=True) as conn:
        incident = conn.execute(
            "INSERT INTO incidents (cause, scope) VALUES ('customer_report', 'meter') RETURNING id"
        ).fetchone()["id"]
        wo = _assigned(conn, kind="fault_repair", incident_id=incident, lon=SITE[0], lat=SITE[1])
    _walk(crew, wo["id"], "accepted", "en_route", "check_in", "on_site", "work_done")
    with db.connect(records_api.database_url) as conn:
        i = conn.execute(
            "SELECT status, closed_at, details FROM incidents WHERE id = %s", (incident,)
        ).fetchone()
        w = conn.execute(
            "SELECT work_done_at, restored_at FROM work_orders WHERE id = %s", (wo["id"],)
        ).fetchone()
    assert i["status"] == "closed" and i["closed_at"] == w["work_done_at"] == w["restored_at"]
    assert i["details"]["restoration"] == "crew_reported" and i["details"]["verified"] is False
