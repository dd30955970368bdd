"""Complaints over real HTTP: grading, deadlines, return visit, reopen, warnings, KPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mobile_api.complaints.rules import SHANGHAI
from tests.channels.conftest import meters_on


@pytest.fixture(scope="module")
def desk(channels_api):
    """A client logged in as the dispatcher (the complaint desk)."""
    with channels_api.client(channels_api.login("dispatcher")) as c:
        yield c


@pytest.fixture(scope="module")
def customer(mconn):
    return meters_on(mconn, "F3-S4")[0]


def _file(client, customer, **extra):
    body = {
        "phone": customer["phone"],
        "category": "repair_delay",
        "description": "Nobody came to repair the line for hours.",
        **extra,
    }
    r = client.post("/v1/complaints", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _dt(s: str) -> datetime:
    return datetime.fromisoformat(s)


def test_customer_files_and_follows_with_the_last_four_digits(channels_api, customer, mconn):
    with channels_api.client() as anon:
        c = _file(anon, customer, severity="minor")
        assert c["level"] == 4 and c["teams"] == ["customer_service_centre"]
        assert _dt(c["contact_due"]) - _dt(c["received_at"]) == timedelta(hours=24)
        assert c["next_step"] == "contact" and c["status"] == "received"
        ok = anon.get(
            f"/v1/complaints/{c['number']}", headers={"X-Phone-Last4": customer["phone"][-4:]}
        )
        assert ok.status_code == 200 and ok.json()["steps"][0]["step"] == "received"
        wrong = anon.get(f"/v1/complaints/{c['number']}", headers={"X-Phone-Last4": "0000"})
        assert wrong.status_code == 404 and wrong.json()["code"] == "complaint_not_found"
        agent_only = anon.post(
            "/v1/complaints",
            json={
                "phone": customer["phone"],
                "category": "x1",
                "description": "hello there",
                "channel": "call_centre",
            },
        )
        assert agent_only.status_code == 403
    notice = mconn.execute(
        "SELECT id, recipient, customer_id, body FROM notifications WHERE subject = %s",
        (c["number"],),
    ).fetchone()
    assert notice["customer_id"] == customer["customer_id"]
    audited = mconn.execute(
        "SELECT payload FROM audit_log WHERE entity = 'notification' AND entity_id = %s"
        " AND action = 'queued'",
        (str(notice["id"]),),
    ).fetchone()
    assert audited is not None and audited["payload"]["body"] == notice["body"]


def test_level_one_deadlines_and_joint_routing(desk, customer):
    c = _file(desk, customer, severity="critical", channel="hotline_95598")
    received = _dt(c["received_at"])
    assert c["level"] == 1 and c["teams"] == ["supervision", "marketing"]
    assert _dt(c["contact_due"]) - received == timedelta(minutes=30)
    assert _dt(c["specialist_due"]) - received == timedelta(hours=2)
    assert _dt(c["plan_due"]) - received == timedelta(hours=8)


def test_public_exposure_and_repetition_raise_the_level(desk, mconn):
    who = meters_on(mconn, "F3-S5")[0]
    first = _file(desk, who, severity="moderate")
    second = _file(desk, who, severity="moderate")
    third = _file(desk, who, severity="moderate")
    exposed = _file(desk, meters_on(mconn, "F3-S3")[0], severity="moderate", public_exposure=True)
    assert [first["level"], second["level"], third["level"]] == [3, 3, 2]
    assert exposed["level"] == 2 and exposed["teams"] == ["supervision"]


def test_working_days_deadline_across_a_weekend(desk, customer):
    # the last Friday 15:00 Shanghai time that lies in the past
    now = datetime.now(SHANGHAI)
    friday = (now - timedelta(days=(now.weekday() - 4) % 7 or 7)).replace(
        hour=15, minute=0, second=0, microsecond=0
    )
    c = _file(
        desk, customer, severity="serious", channel="call_centre", received_at=friday.isoformat()
    )
    due = _dt(c["resolve_due"]).astimezone(SHANGHAI)
    assert due.weekday() == 1 and due.hour == 15  # Tuesday, two working days later
    assert (due.date() - friday.date()).days == 4


def test_overdue_first_contact_is_warned(desk, customer, channels_api):
    late = _file(
        desk,
        customer,
        severity="critical",
        channel="call_centre",
        received_at=(datetime.now(UTC) - timedelta(minutes=45)).isoformat(),
    )
    near = _file(
        desk,
        customer,
        severity="critical",
        channel="call_centre",
        received_at=(datetime.now(UTC) - timedelta(minutes=25)).isoformat(),
    )
    fresh = _file(desk, customer, severity="minor")
    r = desk.get("/v1/complaints/warnings")
    assert r.status_code == 200
    by_number = {w["number"]: w for w in r.json()}
    assert by_number[late["number"]]["warning"] == "overdue"
    assert by_number[late["number"]]["step"] == "contact"
    assert by_number[near["number"]]["warning"] == "near_overdue"
    assert fresh["number"] not in by_number
    with channels_api.client() as anon:
        assert anon.get("/v1/complaints/warnings").status_code == 401


def test_steps_to_the_return_visit_then_reopen_then_close(desk, customer, mconn):
    c = _file(desk, customer, severity="serious")
    number = c["number"]
    audit_before = mconn.execute(
        "SELECT count(*) AS n FROM audit_log WHERE entity = 'complaint' AND entity_id = %s",
        (number,),
    ).fetchone()["n"]
    skipped = desk.post(f"/v1/complaints/{number}/steps", json={"step": "resolve"})
    assert skipped.status_code == 409 and skipped.json()["allowed"] == "contact"
    for step in ("contact", "specialist", "plan", "resolve"):
        r = desk.post(f"/v1/complaints/{number}/steps", json={"step": step, "note": step})
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["next_step"] == "return_visit"
    assert body["return_visit_due"] is not None
    r = desk.post(f"/v1/complaints/{number}/steps", json={"step": "return_visit"})
    assert r.json()["next_step"] == "satisfaction"
    r = desk.post(
        f"/v1/complaints/{number}/steps", json={"step": "satisfaction", "satisfied": False}
    )
    reopened = r.json()
    assert reopened["status"] == "contacted" and reopened["reopen_count"] == 1
    assert reopened["next_step"] == "specialist"
    assert reopened["satisfied"] is False
    for step in ("specialist", "plan", "resolve", "return_visit"):
        desk.post(f"/v1/complaints/{number}/steps", json={"step": step})
    r = desk.post(
        f"/v1/complaints/{number}/steps", json={"step": "satisfaction", "satisfied": True}
    )
    closed = r.json()
    assert closed["status"] == "closed" and closed["next_step"] is None
    steps = [s["step"] for s in closed["steps"]]
    assert steps == [
        "received",
        "contact",
        "specialist",
        "plan",
        "resolve",
        "return_visit",
        "reopened",
        "specialist",
        "plan",
        "resolve",
        "return_visit",
        "satisfaction",
    ]
    audit_after = mconn.execute(
        "SELECT count(*) AS n FROM audit_log WHERE entity = 'complaint' AND entity_id = %s",
        (number,),
    ).fetchone()["n"]
    assert audit_after - audit_before == 11

    # the customer was told at every step, each notice queued with its own audit entry
    notices = mconn.execute(
        "SELECT n.id, n.kind, n.body, n.recipient, a.payload->>'body' AS audited"
        " FROM notifications n LEFT JOIN audit_log a ON a.entity = 'notification'"
        "  AND a.entity_id = n.id::text AND a.action = 'queued'"
        " WHERE n.subject = %s ORDER BY n.id",
        (number,),
    ).fetchall()
    assert [n["kind"] for n in notices] == ["complaint_received"] + ["complaint_step"] * 11
    assert all(n["audited"] == n["body"] for n in notices)
    assert {n["recipient"] for n in notices} == {customer["phone"]}
    # in Chinese (the customer's language), with the next step's deadline while there is one
    assert "重新处理" in notices[6]["body"] and "已办结" in notices[-1]["body"]
    assert "下一步时限" in notices[1]["body"] and "下一步" not in notices[-1]["body"]


def test_complaint_kpi(desk, customer, channels_api, mconn):
    """The KPI equals a recount of the complaint rows, on cases this test sets up itself."""
    ago = datetime.now(UTC) - timedelta(minutes=45)
    _file(desk, customer, severity="critical", channel="call_centre", received_at=ago.isoformat())
    reopened = _file(desk, customer, severity="critical")["number"]
    for step in ("contact", "specialist", "plan", "resolve", "return_visit"):
        assert desk.post(f"/v1/complaints/{reopened}/steps", json={"step": step}).status_code == 200
    r = desk.post(
        f"/v1/complaints/{reopened}/steps", json={"step": "satisfaction", "satisfied": False}
    )
    assert r.json()["reopen_count"] == 1
    resolved = _file(desk, customer, severity="serious")["number"]
    for step in ("contact", "specialist", "plan", "resolve"):
        assert desk.post(f"/v1/complaints/{resolved}/steps", json={"step": step}).status_code == 200
    _file(desk, customer, severity="minor")

    k = desk.get("/v1/kpi/complaints").json()
    since, until = _dt(k["since"]), _dt(k["until"])
    rows = mconn.execute(
        "SELECT level, contacted_at, contact_due, resolved_at, resolve_due, reopen_count"
        " FROM complaints WHERE received_at >= %s AND received_at < %s",
        (since, until),
    ).fetchall()
    now = datetime.now(UTC)
    contact_due = [c for c in rows if c["contacted_at"] or c["contact_due"] < now]
    contact_on_time = [
        c for c in rows if c["contacted_at"] and c["contacted_at"] <= c["contact_due"]
    ]
    resolve_on_time = [c for c in rows if c["resolved_at"] and c["resolved_at"] <= c["resolve_due"]]
    assert k["total"] == len(rows) == sum(k["by_level"].values()) >= 3
    assert k["by_level"]["1"] == sum(c["level"] == 1 for c in rows) >= 2
    assert k["first_contact"]["due"] == len(contact_due) >= 2  # the overdue one and the contacted
    assert k["first_contact"]["on_time"] == len(contact_on_time) >= 1
    assert k["first_contact"]["on_time_share"] < 1  # the overdue one is not contacted
    assert k["resolution"]["on_time"] == len(resolve_on_time) >= 1
    assert k["reopened"] == sum(c["reopen_count"] > 0 for c in rows) >= 1
    assert 0 < k["reopened_share"] < 1
    with channels_api.client() as anon:
        assert anon.get("/v1/kpi/complaints").status_code == 401


def test_desk_lists_by_team_and_customer_follows_by_application_number(channels_api, desk, mconn):
    app = mconn.execute(
        "SELECT a.number, c.phone FROM applications a JOIN customers c ON c.id = a.customer_id"
        " ORDER BY a.number LIMIT 1"
    ).fetchone()
    who = {"phone": app["phone"]}
    c = _file(desk, who, severity="moderate", application_number=app["number"])
    assert c["teams"] == ["marketing"]
    marketing = desk.get("/v1/complaints", params={"team": "marketing"}).json()
    assert c["number"] in {m["number"] for m in marketing}
    assert all("marketing" in m["teams"] for m in marketing)
    centre = desk.get("/v1/complaints", params={"team": "customer_service_centre"}).json()
    assert c["number"] not in {m["number"] for m in centre}
    with channels_api.client() as anon:
        r = anon.get(
            f"/v1/complaints/{app['number']}", headers={"X-Phone-Last4": app["phone"][-4:]}
        )
        assert r.status_code == 200 and r.json()["number"] == c["number"]
        assert anon.get("/v1/complaints").status_code == 401
