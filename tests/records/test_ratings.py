"""Customers rate a stage through their lookup pair; a low rating opens a call-back due in 2 h."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gridcrew import db
from tests.records import seeding

GOOD = {"attitude": 5, "professional_skill": 4, "response_speed": 5, "process_standard": 4}


@pytest.fixture(scope="module")
def subjects(records_api):
    with db.connect(records_api.database_url, autocommit=True) as conn:
        (customer,) = seeding.customer_ids(conn, 1)
        seeding.insert_application(conn, "AP-R-000001", customer, stage="survey")
        install = seeding.insert_work_order(
            conn, kind="meter_install", customer_id=customer, application_number="AP-R-000001"
        )
        seeding.insert_work_order(
            conn, number="WO-R-DONE", kind="fault_repair", status="work_done", customer_id=customer
        )
        seeding.insert_work_order(
            conn, number="WO-R-BUSY", kind="fault_repair", status="on_site", customer_id=customer
        )
        return {"last4": seeding.phone_last4(conn, customer), "install": install["id"]}


def _rate(api, number, last4, **body):
    with api.client() as c:
        return c.post(f"/v1/track/{number}/ratings", headers={"X-Phone-Last4": last4}, json=body)


def test_low_rating_opens_a_call_back_due_in_two_hours(records_api, subjects):
    r = _rate(
        records_api,
        "AP-R-000001",
        subjects["last4"],
        stage="survey",
        **{**GOOD, "response_speed": 2},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["unsatisfied"] == ["response_speed"]
    rated_at = datetime.fromisoformat(body["rated_at"])
    assert datetime.fromisoformat(body["call_back"]["due_at"]) - rated_at == timedelta(hours=2)
    assert datetime.fromisoformat(body["call_back"]["plan_due_at"]) - rated_at == timedelta(
        hours=24
    )
    with db.connect(records_api.database_url) as conn:
        call_back = conn.execute(
            "SELECT work_order_id, status, reason FROM call_backs WHERE id = %s",
            (body["call_back"]["id"],),
        ).fetchone()
        rating = conn.execute(
            "SELECT work_order_id, stage, response_speed FROM ratings WHERE id = %s", (body["id"],)
        ).fetchone()
        actions = conn.execute(
            "SELECT entity, action FROM audit_log WHERE entity IN ('call_back', 'work_order')"
            " AND (payload->>'rating_id')::bigint = %s ORDER BY id",
            (body["id"],),
        ).fetchall()
    assert call_back["work_order_id"] == subjects["install"] and call_back["status"] == "open"
    assert "response_speed" in call_back["reason"]
    assert rating == {"work_order_id": subjects["install"], "stage": "survey", "response_speed": 2}
    assert [(a["entity"], a["action"]) for a in actions] == [
        ("work_order", "rated"),
        ("call_back", "opened"),
    ]
    again = _rate(records_api, "AP-R-000001", subjects["last4"], stage="survey", **GOOD)
    assert again.status_code == 409 and again.json()["code"] == "already_rated"


def test_good_rating_opens_none(records_api, subjects):
    r = _rate(records_api, "AP-R-000001", subjects["last4"], stage="accepted", **GOOD)
    assert r.status_code == 201 and r.json()["call_back"] is None


def test_only_stages_gone_through_can_be_rated(records_api, subjects):
    ahead = _rate(records_api, "AP-R-000001", subjects["last4"], stage="plan", **GOOD)
    assert ahead.status_code == 409 and ahead.json()["code"] == "not_ratable"
    busy = _rate(records_api, "WO-R-BUSY", subjects["last4"], stage="completion", **GOOD)
    assert busy.status_code == 409
    done = _rate(records_api, "WO-R-DONE", subjects["last4"], stage="completion", **GOOD)
    assert done.status_code == 201, done.text
    out_of_range = _rate(
        records_api, "WO-R-DONE", subjects["last4"], stage="completion", **{**GOOD, "attitude": 6}
    )
    assert out_of_range.status_code == 422


def test_a_wrong_pair_cannot_rate(records_api, subjects):
    wrong = _rate(
        records_api, "AP-R-000001", seeding.wrong_last4(subjects["last4"]), stage="plan", **GOOD
    )
    unknown = _rate(records_api, "AP-R-999999", subjects["last4"], stage="plan", **GOOD)
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content
