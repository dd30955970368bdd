"""Jobs over real HTTP: the list in plan order, permissions per role, the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import db
from mobile_api.jobs import machine
from tests.api.conftest import clear_the_road, make_job, now_iso, query, reassign


def status(client, job_id: int, new: str, reason: str | None = None, **headers):
    body = {"status": new, "client_time": now_iso()}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"/v1/jobs/{job_id}/status", json=body, headers=headers)


def test_my_jobs_in_plan_order_with_contract_fields(api, clients):
    second = make_job(api.database_url, "CREW-03", sequence=2)
    first = make_job(api.database_url, "CREW-03", sequence=1)
    make_job(api.database_url, "CREW-04")
    with api.client(api.login("crew-03")) as c:
        jobs = c.get("/v1/jobs").json()
    assert [j["id"] for j in jobs] == [first, second]
    job = jobs[0]
    for field in (
        "id number kind status priority lon lat address customer required_skills eta"
        " arrival_deadline sequence explanation"
    ).split():
        assert field in job
    assert job["customer"]["name"] and job["customer"]["phone"]
    assert job["explanation"] == {"reason": "nearest crew with overhead_line"}
    assert job["allowed"] == ["accepted", "declined", "cannot_complete"]


def test_another_crews_job_is_403_everywhere(api, clients):
    job = make_job(api.database_url, "CREW-02")
    crew1 = clients["crew-01"].http
    assert crew1.get(f"/v1/jobs/{job}").json()["code"] == "not_your_job"
    r = status(crew1, job, "accepted")
    assert r.status_code == 403 and r.json()["code"] == "not_your_job"
    r = crew1.post(
        f"/v1/jobs/{job}/check-ins",
        json={"lon": 120.755, "lat": 30.746, "accuracy_m": 5, "client_time": now_iso()},
    )
    assert r.status_code == 403
    assert crew1.get("/v1/jobs/999999").status_code == 404


def test_dispatcher_reads_but_does_not_drive_jobs(api, clients):
    job = make_job(api.database_url, "CREW-02")
    d = clients["dispatcher"].http
    assert d.get(f"/v1/jobs/{job}").status_code == 200
    assert d.get("/v1/jobs").json()["code"] == "crew_only"
    assert status(d, job, "accepted").status_code == 403


def test_the_whole_happy_path_records_client_and_server_times(api, clients):
    clear_the_road(api.database_url, "CREW-01")
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    for new in ("accepted", "en_route", "on_site", "work_done"):
        r = status(c, job, new)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == new
    rows = query(
        api.database_url,
        "SELECT from_status, to_status, client_time, server_time FROM work_order_transitions"
        " WHERE work_order_id = %s ORDER BY id",
        job,
    )
    assert [(r["from_status"], r["to_status"]) for r in rows] == [
        ("assigned", "accepted"),
        ("accepted", "en_route"),
        ("en_route", "on_site"),
        ("on_site", "work_done"),
    ]
    assert all(r["client_time"] and r["server_time"] for r in rows)
    audit = query(
        api.database_url,
        "SELECT action FROM audit_log WHERE entity = 'work_order' AND entity_id = %s ORDER BY id",
        str(job),
    )
    assert [a["action"] for a in audit] == [
        "status:accepted",
        "status:en_route",
        "status:on_site",
        "status:work_done",
    ]
    assert query(api.database_url, "SELECT work_done_at FROM work_orders WHERE id = %s", job)[0][
        "work_done_at"
    ]


# Every (from, to) pair the crew may not take, reached through legal moves.
_PATH = ["assigned", "accepted", "en_route", "on_site", "work_done"]
_ILLEGAL = [
    (current, requested)
    for current in _PATH
    for requested in machine.STATUSES
    if requested not in machine.allowed_moves(current)
]


@pytest.mark.parametrize(("current", "requested"), _ILLEGAL)
def test_every_illegal_transition_is_409_with_allowed(api, clients, current, requested):
    clear_the_road(api.database_url, "CREW-01")
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    for step in _PATH[1 : _PATH.index(current) + 1]:
        assert status(c, job, step).status_code == 200
    r = status(c, job, requested, reason="because")
    assert r.status_code == 409, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["code"] == "illegal_transition"
    assert body["allowed"] == list(machine.allowed_moves(current))
    assert (
        query(api.database_url, "SELECT status FROM work_orders WHERE id = %s", job)[0]["status"]
        == current
    )


def test_decline_needs_a_reason_then_frees_and_forbids(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    r = status(c, job, "declined")
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    r = status(c, job, "declined", reason="truck broke down")
    assert r.status_code == 200 and r.json()["status"] == "open"
    assert not query(
        api.database_url, "SELECT 1 FROM assignments WHERE work_order_id = %s AND active", job
    )
    forbid = query(
        api.database_url,
        "SELECT crew_id, kind FROM dispatch_constraints WHERE work_order_id = %s",
        job,
    )
    assert forbid == [{"crew_id": "CREW-01", "kind": "forbid"}]
    # the forbid is audited like a dispatcher's pin (one writer: gridcrew.constraints)
    audited = query(
        api.database_url,
        "SELECT payload FROM audit_log WHERE entity = 'work_order' AND entity_id = %s"
        " AND action = 'forbidden'",
        str(job),
    )
    assert audited == [
        {"payload": {"crew_id": "CREW-01", "reason": "declined by crew: truck broke down"}}
    ]
    assert job not in [j["id"] for j in c.get("/v1/jobs").json()]
    again = status(c, job, "accepted")
    assert again.status_code == 403 and again.json()["code"] == "job_reassigned"


def test_cannot_complete_needs_a_reason(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    assert status(c, job, "accepted").status_code == 200
    assert status(c, job, "cannot_complete", reason="  ").status_code == 422
    r = status(c, job, "cannot_complete", reason="transformer needs a crane")
    assert r.status_code == 200 and r.json()["status"] == "cannot_complete"


def test_reassigned_job_is_refused_to_the_old_crew(api, clients):
    job = make_job(api.database_url, "CREW-01")
    reassign(api.database_url, job, "CREW-02")
    r = status(clients["crew-01"].http, job, "accepted")
    assert r.status_code == 403 and r.json()["code"] == "job_reassigned"
    assert status(clients["crew-02"].http, job, "accepted").status_code == 200


def test_status_with_idempotency_key_replays(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    body = {"status": "accepted", "client_time": now_iso()}
    first = c.post(f"/v1/jobs/{job}/status", json=body, headers={"Idempotency-Key": "k-1"})
    again = c.post(f"/v1/jobs/{job}/status", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = c.post(
        f"/v1/jobs/{job}/status",
        json={**body, "status": "en_route"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    n = query(
        api.database_url,
        "SELECT count(*) AS n FROM work_order_transitions WHERE work_order_id = %s",
        job,
    )
    assert n[0]["n"] == 1


def _crew_state(database_url: str, crew_id: str) -> str:
    return query(database_url, "SELECT state FROM crews WHERE id = %s", crew_id)[0]["state"]


def test_consistency_crew_state_follows_its_jobs(api, clients):
    """Issue 16: every crew stayed "available" while en route or on site."""
    clear_the_road(api.database_url, "CREW-02")
    job = make_job(api.database_url, "CREW-02")
    c = clients["crew-02"].http
    seen = []
    for new in ("accepted", "en_route", "on_site", "work_done"):
        assert status(c, job, new).status_code == 200
        seen.append(_crew_state(api.database_url, "CREW-02"))
    assert seen == ["available", "busy", "busy", "available"]
    board = clients["dispatcher"].http.get("/v1/board/kpi").json()
    busy = query(api.database_url, "SELECT count(*) AS n FROM crews WHERE state = 'busy'")
    assert board["busy"] == busy[0]["n"]


def test_consistency_one_crew_is_en_route_to_one_job_at_a_time(api, clients):
    clear_the_road(api.database_url, "CREW-02")
    first = make_job(api.database_url, "CREW-02")
    second = make_job(api.database_url, "CREW-02", sequence=2)
    c = clients["crew-02"].http
    for job in (first, second):
        assert status(c, job, "accepted").status_code == 200
    assert status(c, first, "en_route").status_code == 200
    r = status(c, second, "en_route")
    assert r.status_code == 409 and r.json()["code"] == "already_en_route", r.text
    assert (
        r.json()["other_job"]
        == query(api.database_url, "SELECT number FROM work_orders WHERE id = %s", first)[0][
            "number"
        ]
    )
    assert status(c, first, "on_site").status_code == 200
    assert status(c, second, "en_route").status_code == 200


def test_consistency_on_site_without_an_accepted_check_in_is_flagged(api, clients):
    """Accepted (a poor fix must not stop the work) but recorded and shown on the board."""
    clear_the_road(api.database_url, "CREW-02")
    job = make_job(api.database_url, "CREW-02")
    c = clients["crew-02"].http
    for new in ("accepted", "en_route", "on_site"):
        assert status(c, job, new).status_code == 200
    [t] = query(
        api.database_url,
        "SELECT reason FROM work_order_transitions WHERE work_order_id = %s"
        " AND to_status = 'on_site'",
        job,
    )
    assert t["reason"] == machine.NO_CHECK_IN
    board = clients["dispatcher"].http.get("/v1/board").json()
    [shown] = [f for f in board["features"] if f["id"] == f"job:{job}"]
    assert shown["properties"]["flags"] == [machine.NO_CHECK_IN]


def test_consistency_a_synced_work_done_keeps_the_terminals_time(api, clients):
    """Issue 16: a work_done uploaded late took the server's time."""
    clear_the_road(api.database_url, "CREW-02")
    job = make_job(api.database_url, "CREW-02")
    c = clients["crew-02"].http
    for new in ("accepted", "en_route", "on_site"):
        assert status(c, job, new).status_code == 200
    with db.transaction(api.database_url) as conn:  # reported an hour ago
        conn.execute(
            "UPDATE work_orders SET reported_at = now() - interval '1 hour' WHERE id = %s", (job,)
        )
    tapped = datetime.now(UTC) - timedelta(minutes=20)
    r = c.post(
        "/v1/sync",
        json={
            "actions": [
                {
                    "idempotency_key": f"done-{job}",
                    "type": "status",
                    "job_id": job,
                    "body": {"status": "work_done", "client_time": tapped.isoformat()},
                }
            ]
        },
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == 200, r.text
    [row] = query(api.database_url, "SELECT work_done_at FROM work_orders WHERE id = %s", job)
    assert abs(row["work_done_at"] - tapped) < timedelta(seconds=1)
