"""Offline sync over real HTTP: order, replay applied once, reused keys, per-action conflicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.api.conftest import SITE, clear_the_road, make_job, now_iso, query, reassign
from tests.api.test_signoffs import GOOD


def key() -> str:
    return uuid.uuid4().hex


def offline_day(job: int) -> list[dict]:
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    at = [(t0 + timedelta(minutes=m)).isoformat() for m in range(6)]
    return [
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": job,
            "body": {"status": "accepted", "client_time": at[0]},
        },
        {
            "idempotency_key": key(),
            "type": "position",
            "body": {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 5, "time": at[1]},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": job,
            "body": {"status": "en_route", "client_time": at[1]},
        },
        {
            "idempotency_key": key(),
            "type": "check_in",
            "job_id": job,
            "body": {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 6, "client_time": at[2]},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": job,
            "body": {"status": "on_site", "client_time": at[2]},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": job,
            "body": {"status": "work_done", "client_time": at[3]},
        },
        {
            "idempotency_key": key(),
            "type": "signoff",
            "job_id": job,
            "body": {
                "customer_name": "Li Na",
                "signed_at": at[4],
                "work_summary": "fuse replaced",
                "strokes": [[[0, 0], [4, 4]]],
                "ratings": GOOD,
                "comment": "",
            },
        },
    ]


def test_a_retried_batch_is_applied_once(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    actions = offline_day(job)
    first = c.post("/v1/sync", json={"actions": actions})
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 200, 201, 200, 200, 201], results
    assert [r["idempotency_key"] for r in results] == [a["idempotency_key"] for a in actions]
    assert results[3]["body"]["accepted"] is True

    again = c.post("/v1/sync", json={"actions": actions}).json()["results"]
    assert all(r["replayed"] for r in again)
    assert [r["body"] for r in again] == [r["body"] for r in results]
    counts = query(
        api.database_url,
        "SELECT (SELECT count(*) FROM work_order_transitions WHERE work_order_id = %s) AS t,"
        " (SELECT count(*) FROM check_ins WHERE work_order_id = %s) AS c,"
        " (SELECT count(*) FROM signoffs WHERE work_order_id = %s) AS s",
        job,
        job,
        job,
    )
    assert counts == [{"t": 5, "c": 1, "s": 1}]
    times = query(
        api.database_url,
        "SELECT client_time < server_time - interval '20 minutes' AS late"
        " FROM work_order_transitions WHERE work_order_id = %s",
        job,
    )
    assert all(t["late"] for t in times)  # the client's time is kept, not the upload's


def test_a_reused_key_with_another_body_is_refused_per_action(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    k = key()
    accept = {
        "idempotency_key": k,
        "type": "status",
        "job_id": job,
        "body": {"status": "accepted", "client_time": now_iso()},
    }
    assert c.post("/v1/sync", json={"actions": [accept]}).json()["results"][0]["status"] == 200
    changed = {**accept, "body": {"status": "declined", "client_time": now_iso(), "reason": "x"}}
    fine = {
        "idempotency_key": key(),
        "type": "status",
        "job_id": job,
        "body": {"status": "en_route", "client_time": now_iso()},
    }
    results = c.post("/v1/sync", json={"actions": [changed, fine]}).json()["results"]
    assert results[0]["status"] == 422
    assert results[0]["body"]["code"] == "idempotency_key_reused"
    assert results[1]["status"] == 200 and results[1]["body"]["status"] == "en_route"


def test_conflicts_come_back_per_action_and_nothing_else_is_lost(api, clients):
    clear_the_road(api.database_url, "CREW-01")
    mine = make_job(api.database_url, "CREW-01")
    taken = make_job(api.database_url, "CREW-01")
    reassign(api.database_url, taken, "CREW-02")
    someone_elses = make_job(api.database_url, "CREW-03")
    c = clients["crew-01"].http
    now = now_iso()
    actions = [
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": taken,
            "body": {"status": "accepted", "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": mine,
            "body": {"status": "accepted", "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": mine,
            "body": {"status": "work_done", "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "check_in",
            "job_id": someone_elses,
            "body": {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 5, "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "check_in",
            "job_id": mine,
            "body": {"lon": "east", "lat": SITE[1]},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "body": {"status": "accepted", "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": 99999999,
            "body": {"status": "accepted", "client_time": now},
        },
        {
            "idempotency_key": key(),
            "type": "status",
            "job_id": mine,
            "body": {"status": "en_route", "client_time": now},
        },
    ]
    results = c.post("/v1/sync", json={"actions": actions}).json()["results"]
    codes = [(r["status"], r["body"].get("code")) for r in results]
    assert codes == [
        (403, "job_reassigned"),
        (200, None),
        (409, "illegal_transition"),
        (403, "not_your_job"),
        (422, "validation_error"),
        (422, "job_id_required"),
        (404, "job_not_found"),
        (200, None),
    ]
    assert results[2]["body"]["allowed"] == ["en_route", "cannot_complete"]
    assert query(api.database_url, "SELECT status FROM work_orders WHERE id = %s", mine) == [
        {"status": "en_route"}
    ]
    assert query(api.database_url, "SELECT status FROM work_orders WHERE id = %s", taken) == [
        {"status": "assigned"}
    ]


def test_sync_is_for_crews(api, clients):
    r = clients["dispatcher"].http.post("/v1/sync", json={"actions": []})
    assert r.status_code == 403
