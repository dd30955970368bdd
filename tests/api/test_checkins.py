"""Check-ins and positions over real HTTP: geofence, accuracy, polygon, late fixes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from gridcrew import db
from gridcrew.grid import offset
from mobile_api.checkins import service
from mobile_api.deps import User
from tests.api.conftest import SITE, make_job, now_iso, query
from tests.conftest import wait_for


def check_in(client, job_id: int, lon: float, lat: float, accuracy_m: float = 8):
    return client.post(
        f"/v1/jobs/{job_id}/check-ins",
        json={"lon": lon, "lat": lat, "accuracy_m": accuracy_m, "client_time": now_iso()},
    )


def test_outside_then_inside_sets_arrival_once(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    far = offset(*SITE, 400, 0)
    r = check_in(c, job, *far)
    assert r.status_code == 201
    body = r.json()
    assert body["accepted"] is False and body["flag"] == "outside_geofence"
    assert 390 < body["distance_m"] < 410 and body["arrived_at"] is None

    near = offset(*SITE, 100, 50)
    first = check_in(c, job, *near).json()
    assert first["accepted"] is True and first["flag"] is None and first["arrived_at"]
    later = check_in(c, job, *SITE).json()
    assert later["accepted"] and later["arrived_at"] == first["arrived_at"]
    rows = query(
        api.database_url,
        "SELECT accepted, flag FROM check_ins WHERE work_order_id = %s ORDER BY id",
        job,
    )
    assert [r["accepted"] for r in rows] == [False, True, True]
    detail = c.get(f"/v1/jobs/{job}").json()
    assert len(detail["check_ins"]) == 3 and detail["arrived_at"] == first["arrived_at"]


def test_accuracy_widens_the_fence_but_poor_accuracy_is_flagged(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    edge = offset(*SITE, 190, 0)
    assert check_in(c, job, *edge, accuracy_m=10).json()["flag"] == "outside_geofence"
    assert check_in(c, job, *edge, accuracy_m=50).json()["accepted"] is True
    poor = check_in(c, job, *SITE, accuracy_m=400).json()
    assert poor["accepted"] is False and poor["flag"] == "poor_accuracy"


def test_site_polygon_decides_when_present(api, clients):
    corners = [offset(*SITE, e, n) for e, n in ((0, 0), (600, 0), (600, 300), (0, 300))]
    polygon = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in [*corners, corners[0]]) + "))"
    job = make_job(api.database_url, "CREW-01", polygon_wkt=polygon)
    c = clients["crew-01"].http
    inside = check_in(c, job, *offset(*SITE, 500, 250)).json()
    assert inside["accepted"] is True and inside["distance_m"] == 0
    outside = check_in(c, job, *offset(*SITE, -100, 150)).json()
    assert outside["accepted"] is False and outside["flag"] == "outside_geofence"
    assert 90 < outside["distance_m"] < 110


def test_check_in_on_a_closed_job_is_409(api, clients):
    job = make_job(api.database_url, "CREW-01", status="cannot_complete")
    r = check_in(clients["crew-01"].http, job, *SITE)
    assert r.status_code == 409 and r.json()["code"] == "job_not_active"


def _fix(when: datetime, lon: float, lat: float) -> dict:
    return {"lon": lon, "lat": lat, "accuracy_m": 5, "time": when.isoformat()}


def test_late_backlog_fix_never_moves_the_crew_back(api, clients):
    c = clients["crew-02"].http
    now = datetime.now(UTC)
    assert c.post("/v1/positions", json=_fix(now, 120.76, 30.75)).json() == {"moved": True}
    old = c.post("/v1/positions", json=_fix(now - timedelta(minutes=10), 120.70, 30.70))
    assert old.json() == {"moved": False}
    crew = query(api.database_url, "SELECT last_lon, last_lat FROM crews WHERE id = 'CREW-02'")
    assert crew == [{"last_lon": 120.76, "last_lat": 30.75}]
    stored = query(
        api.database_url, "SELECT count(*) AS n FROM crew_positions WHERE crew_id = 'CREW-02'"
    )
    assert stored[0]["n"] == 2
    future = c.post("/v1/positions", json=_fix(now + timedelta(hours=1), 120.7, 30.7))
    assert future.status_code == 422 and future.json()["code"] == "fix_in_future"


def test_positions_are_for_crews_only(api, clients):
    r = clients["dispatcher"].http.post("/v1/positions", json=_fix(datetime.now(UTC), 120, 30))
    assert r.status_code == 403


def test_arrival_is_the_fix_time_of_a_check_in_synced_late(api, clients):
    job = make_job(api.database_url, "CREW-01")
    query(
        api.database_url,
        "UPDATE work_orders SET reported_at = now() - interval '1 hour' WHERE id = %s RETURNING id",
        job,
    )
    c = clients["crew-01"].http
    taken = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    r = c.post(
        f"/v1/jobs/{job}/check-ins",
        json={"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": taken.isoformat()},
    )
    assert r.status_code == 201 and r.json()["accepted"]
    assert datetime.fromisoformat(r.json()["arrived_at"]) == taken


def test_arrival_is_never_before_the_report_nor_after_the_server_received_it(api, clients):
    c = clients["crew-01"].http
    early = make_job(api.database_url, "CREW-01")
    [reported] = query(api.database_url, "SELECT reported_at FROM work_orders WHERE id = %s", early)
    before = (reported["reported_at"] - timedelta(hours=3)).isoformat()
    body = {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": before}
    got = c.post(f"/v1/jobs/{early}/check-ins", json=body).json()
    assert datetime.fromisoformat(got["arrived_at"]) == reported["reported_at"]

    late = make_job(api.database_url, "CREW-01")
    ahead = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    body = {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": ahead}
    r = c.post(f"/v1/jobs/{late}/check-ins", json=body)
    assert r.status_code == 201
    [row] = query(
        api.database_url,
        "SELECT w.arrived_at, c.server_time FROM work_orders w JOIN check_ins c"
        " ON c.work_order_id = w.id WHERE w.id = %s",
        late,
    )
    assert row["arrived_at"] == row["server_time"]


def _held_check_in(database_url: str, job: int, lon: float, lat: float):
    """A check-in of CREW-01 in a transaction left open: the caller commits or drops it."""
    conn = db.connect(database_url)
    crew = User("crew-01", "crew", "CREW-01")
    done = db.run_steps(
        conn,
        service.check_in_steps(
            crew, job, lon=lon, lat=lat, accuracy_m=8, client_time=datetime.now(UTC)
        ),
    )
    return conn, done


def test_check_ins_of_one_job_do_not_queue_behind_each_other(api, clients):
    """A check-in holds its job FOR KEY SHARE: the next check-in of the job (here the
    first accepted one, which sets the arrival) goes through while the first is open."""
    job = make_job(api.database_url, "CREW-01")
    held, first = _held_check_in(api.database_url, job, *offset(*SITE, 400, 0))
    try:
        assert first["accepted"] is False
        c = clients["crew-01"].http
        r = c.post(
            f"/v1/jobs/{job}/check-ins",
            json={"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()},
            timeout=5,
        )
        assert r.status_code == 201 and r.json()["arrived_at"]
    finally:
        held.rollback()
        held.close()


def test_racing_first_arrivals_set_it_once_and_both_answer_it(api, clients):
    job = make_job(api.database_url, "CREW-01")
    held, first = _held_check_in(api.database_url, job, *SITE)
    assert first["accepted"] and first["arrived_at"]
    c = clients["crew-01"].http
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(
            c.post,
            f"/v1/jobs/{job}/check-ins",
            json={"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()},
            timeout=10,
        )
        # the second's arrival UPDATE waits for the first's commit: seen as a lock wait
        wait_for(lambda: _waiting_on_a_lock(api.database_url), timeout=10, what="a lock wait")
        assert not second.done()
        held.commit()
        held.close()
        r = second.result()
    assert r.status_code == 201
    assert datetime.fromisoformat(r.json()["arrived_at"]) == first["arrived_at"]
    rows = query(api.database_url, "SELECT arrived_at FROM work_orders WHERE id = %s", job)
    assert rows == [{"arrived_at": first["arrived_at"]}]


def _waiting_on_a_lock(database_url: str) -> bool:
    rows = query(
        database_url,
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return rows[0]["n"] > 0


def _announced(listener, channel_id: int | str, seconds: float = 1.0) -> list[dict]:
    """The notifications about *channel_id* that reached *listener* within *seconds*."""
    got = [json.loads(n.payload) for n in listener.notifies(timeout=seconds)]
    return [g for g in got if g["id"] == channel_id]


def test_a_check_in_is_announced_after_its_commit_and_a_keyed_retry_applies_once(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    url = f"/v1/jobs/{job}/check-ins"
    body = {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()}
    with db.connect(api.database_url, autocommit=True) as listener:
        listener.execute("LISTEN work_orders")
        plain = c.post(url, json={**body, "accuracy_m": 7})
        assert plain.status_code == 201
        assert _announced(listener, job) == [{"id": job, "change": "updated"}]

        key = {"Idempotency-Key": "check-in-1"}
        first = c.post(url, json=body, headers=key)
        again = c.post(url, json=body, headers=key)
        other = c.post(url, json={**body, "accuracy_m": 9}, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        assert _announced(listener, job) == [{"id": job, "change": "updated"}]  # the first only
    rows = query(api.database_url, "SELECT id FROM check_ins WHERE work_order_id = %s", job)
    assert sorted(r["id"] for r in rows) == sorted([plain.json()["id"], first.json()["id"]])
    audited = query(
        api.database_url,
        "SELECT count(*) AS n FROM audit_log WHERE entity = 'work_order' AND entity_id = %s"
        " AND action = 'check_in'",
        str(job),
    )
    assert audited == [{"n": 2}]


def test_a_refused_keyed_check_in_replays_its_refusal_and_announces_nothing(api, clients):
    job = make_job(api.database_url, "CREW-02")
    c = clients["crew-01"].http
    body = {"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()}
    with db.connect(api.database_url, autocommit=True) as listener:
        listener.execute("LISTEN work_orders")
        key = {"Idempotency-Key": "not-mine-1"}
        first = c.post(f"/v1/jobs/{job}/check-ins", json=body, headers=key)
        again = c.post(f"/v1/jobs/{job}/check-ins", json=body, headers=key)
        assert first.status_code == again.status_code == 403
        assert first.json()["code"] == again.json()["code"] == "not_your_job"
        assert again.headers["Idempotent-Replayed"] == "true"
        assert _announced(listener, job) == []
    assert query(api.database_url, "SELECT id FROM check_ins WHERE work_order_id = %s", job) == []


def test_a_keyed_position_retry_is_stored_once_and_moves_the_crew_once(api, clients):
    c = clients["crew-02"].http
    count = "SELECT count(*) AS n FROM crew_positions WHERE crew_id = 'CREW-02'"
    [before] = query(api.database_url, count)
    fix = _fix(datetime.now(UTC), 120.71, 30.71)
    with db.connect(api.database_url, autocommit=True) as listener:
        listener.execute("LISTEN crews")
        first = c.post("/v1/positions", json=fix, headers={"Idempotency-Key": "fix-1"})
        again = c.post("/v1/positions", json=fix, headers={"Idempotency-Key": "fix-1"})
        assert first.json() == again.json() == {"moved": True}
        assert again.headers["Idempotent-Replayed"] == "true"
        assert _announced(listener, "CREW-02") == [{"id": "CREW-02", "change": "position"}]
    assert query(api.database_url, count) == [{"n": before["n"] + 1}]
