"""Dispatchers move stages and book appointments; the outbox, the audit chain and warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import db
from gridcrew.config import get_settings
from tests.records import seeding


@pytest.fixture(scope="module")
def apps(records_api):
    """Applications at known ages: fresh, about to breach the survey deadline, breached."""
    with db.connect(records_api.database_url, autocommit=True) as conn:
        (customer,) = seeding.customer_ids(conn, 1)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        seeding.insert_application(conn, "AP-S-000001", customer)
        seeding.insert_application(conn, "AP-S-000002", customer)
        seeding.insert_application(
            conn, "AP-S-000010", customer, submitted_at=now - timedelta(hours=11)
        )
        seeding.insert_application(
            conn, "AP-S-000011", customer, submitted_at=now - timedelta(hours=13)
        )
        seeding.insert_application(
            conn, "AP-S-000012", customer, service_class="hv", submitted_at=now - timedelta(hours=1)
        )
        return {"customer": customer, "last4": seeding.phone_last4(conn, customer)}


def _client(api, token):
    return api.client(token)


def test_stage_change_writes_notification_and_audit(records_api, dispatcher_token, apps):
    with _client(records_api, dispatcher_token) as c:
        r = c.post("/v1/applications/AP-S-000001/stage", json={"stage": "survey"})
        assert r.status_code == 200, r.text
        moved = r.json()
        assert moved["from_stage"] == "accepted" and moved["stage"] == "survey"
        assert moved["owner"] == "survey engineer" and moved["on_time"] is True
        assert moved["next_stage"] == "plan"
        outbox = c.get("/v1/notifications", params={"subject": "AP-S-000001"}).json()
        verify = c.get("/v1/audit/verify").json()
    assert [n["kind"] for n in outbox] == ["stage_change"]
    note = outbox[0]
    assert note["id"] == moved["notification_id"] and note["sent_at"] is None
    # in the customer's language (Chinese by default), the next stage with its deadline
    assert "AP-S-000001" in note["body"] and "“现场勘查”" in note["body"]
    assert "下一步：供电方案（方案室）" in note["body"]
    with db.connect(records_api.database_url) as conn:
        phone = conn.execute(
            "SELECT phone FROM customers WHERE id = %s", (apps["customer"],)
        ).fetchone()["phone"]
        entries = conn.execute(
            "SELECT entity, entity_id, action, payload FROM audit_log"
            " WHERE (entity = 'application' AND entity_id = 'AP-S-000001')"
            " OR (entity = 'notification' AND entity_id = %s) ORDER BY id",
            (str(note["id"]),),
        ).fetchall()
        stage_row = conn.execute(
            "SELECT stage, owner, actor FROM application_stage_changes"
            " WHERE application_number = 'AP-S-000001'"
        ).fetchone()
    assert note["recipient"] == phone
    assert [(e["entity"], e["action"]) for e in entries] == [
        ("notification", "queued"),
        ("application", "stage_changed"),
    ]
    assert entries[1]["payload"]["from"] == "accepted" and entries[1]["payload"]["to"] == "survey"
    assert entries[1]["payload"]["notification_id"] == note["id"]
    assert stage_row == {"stage": "survey", "owner": "survey engineer", "actor": "dispatcher"}
    assert verify["ok"] is True

    with records_api.client() as c:
        view = c.get("/v1/track/AP-S-000001", headers={"X-Phone-Last4": apps["last4"]}).json()
    assert view["stage"] == "survey"
    survey = view["stages"][1]
    assert survey["state"] == "current" and survey["reached_at"] == moved["reached_at"]
    assert view["stages"][0]["state"] == "done"
    assert view["next"]["stage"] == "plan"


def test_stages_move_one_at_a_time(records_api, dispatcher_token, apps):
    with _client(records_api, dispatcher_token) as c:
        skip = c.post("/v1/applications/AP-S-000002/stage", json={"stage": "plan"})
        back = c.post("/v1/applications/AP-S-000002/stage", json={"stage": "accepted"})
        unknown = c.post("/v1/applications/AP-S-999999/stage", json={"stage": "survey"})
        nonsense = c.post("/v1/applications/AP-S-000002/stage", json={"stage": "done"})
        for target in ("survey", "plan", "construction", "energized"):
            assert (
                c.post("/v1/applications/AP-S-000002/stage", json={"stage": target}).status_code
                == 200
            )
        past_end = c.post("/v1/applications/AP-S-000002/stage", json={"stage": "energized"})
        outbox = c.get("/v1/notifications", params={"subject": "AP-S-000002"}).json()
    assert skip.status_code == 409 and skip.json()["code"] == "illegal_stage_change"
    assert skip.json()["allowed"] == ["survey"] and skip.json()["current"] == "accepted"
    assert back.status_code == 409
    assert unknown.status_code == 404 and unknown.json()["code"] == "application_not_found"
    assert nonsense.status_code == 422
    assert past_end.status_code == 409 and past_end.json()["allowed"] == []
    assert len(outbox) == 4


def test_appointment_reminder_is_due_one_day_before(records_api, dispatcher_token, apps):
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    ends = starts + timedelta(hours=2)
    with _client(records_api, dispatcher_token) as c:
        r = c.post(
            "/v1/applications/AP-S-000001/appointments",
            json={
                "purpose": "construction",
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        booked = r.json()
        reversed_window = c.post(
            "/v1/applications/AP-S-000001/appointments",
            json={
                "purpose": "survey",
                "starts_at": ends.isoformat(),
                "ends_at": starts.isoformat(),
            },
        )
        due_now = c.get("/v1/notifications", params={"subject": "AP-S-000001", "due": True}).json()
        outbox = c.get("/v1/notifications", params={"subject": "AP-S-000001"}).json()
    # the day before, at 18:00 local time (GRIDCREW_NOTIFY_REMINDER_HOUR)
    local = starts.astimezone(get_settings().local_zone) - timedelta(days=1)
    evening = local.replace(hour=18, minute=0, second=0)
    assert datetime.fromisoformat(booked["reminder"]["due_at"]) == evening
    reminder = next(n for n in outbox if n["id"] == booked["reminder"]["notification_id"])
    assert reminder["kind"] == "appointment_reminder"
    assert datetime.fromisoformat(reminder["due_at"]) == evening
    assert "施工预约" in reminder["body"]
    assert reminder["id"] not in [n["id"] for n in due_now]
    assert reversed_window.status_code == 422
    with db.connect(records_api.database_url) as conn:
        actions = [
            r["action"]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE entity = 'application'"
                " AND entity_id = 'AP-S-000001' ORDER BY id"
            )
        ]
    assert actions[-1] == "appointment_booked"
    with records_api.client() as c:
        view = c.get("/v1/track/AP-S-000001", headers={"X-Phone-Last4": apps["last4"]}).json()
    assert [a["purpose"] for a in view["appointments"]] == ["construction"]


def test_sender_marks_rows_sent(records_api, dispatcher_token, apps):
    with _client(records_api, dispatcher_token) as c:
        pending = c.get(
            "/v1/notifications", params={"pending": True, "due": True, "subject": "AP-S-000002"}
        ).json()
        first = c.post(f"/v1/notifications/{pending[0]['id']}/sent")
        again = c.post(f"/v1/notifications/{pending[0]['id']}/sent")
        unknown = c.post("/v1/notifications/999999999/sent")
        left = c.get("/v1/notifications", params={"pending": True, "subject": "AP-S-000002"}).json()
        sent = c.get("/v1/notifications", params={"pending": False, "subject": "AP-S-000002"})
    assert first.status_code == 200 and first.json()["sent_at"] is not None
    assert again.json()["sent_at"] == first.json()["sent_at"]
    assert unknown.status_code == 404
    assert pending[0]["id"] not in [n["id"] for n in left]
    assert [n["id"] for n in sent.json()] == [pending[0]["id"]]


def test_near_breach_and_breached_stages_are_warned(records_api, dispatcher_token, apps):
    with _client(records_api, dispatcher_token) as c:
        warnings = c.get("/v1/applications/warnings").json()
    by_number = {w["number"]: w for w in warnings}
    near = by_number["AP-S-000010"]
    assert near["stage"] == "survey" and near["owner"] == "survey engineer"
    assert near["breached"] is False and 0 < near["minutes_left"] <= 60
    assert by_number["AP-S-000011"]["breached"] is True
    assert by_number["AP-S-000011"]["minutes_left"] < 0
    assert "AP-S-000012" not in by_number
    assert "AP-S-000002" not in by_number


def test_crew_and_anonymous_are_kept_out(records_api, crew_token):
    calls = [
        ("GET", "/v1/applications/warnings", None),
        ("POST", "/v1/applications/AP-S-000001/stage", {"stage": "plan"}),
        (
            "POST",
            "/v1/applications/AP-S-000001/appointments",
            {
                "purpose": "survey",
                "starts_at": "2026-12-10T09:00:00Z",
                "ends_at": "2026-12-10T10:00:00Z",
            },
        ),
        ("GET", "/v1/notifications", None),
        ("POST", "/v1/notifications/1/sent", None),
        ("GET", "/v1/audit/verify", None),
        ("GET", "/v1/kpi?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", None),
    ]
    for method, path, body in calls:
        with records_api.client(crew_token) as c:
            r = c.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["code"] == "dispatcher_only"
        with records_api.client() as c:
            assert c.request(method, path, json=body).status_code == 401, path
