"""The board over real HTTP on a real database: auth, GeoJSON shape, the stream, pins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gridcrew import db
from tests.map.board_data import SseClient, open_fault

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def dispatcher(api) -> str:
    return api.login("dispatcher")


@pytest.fixture(scope="module")
def crew_token(api) -> str:
    return api.login("crew-01")


@pytest.fixture(scope="module")
def db_conn(api):
    with db.connect(api.database_url, autocommit=True) as c:
        yield c


def layers(board: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in board["features"]:
        out.setdefault(f["properties"]["layer"], []).append(f)
    return out


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/board"),
        ("GET", "/v1/board/stream"),
        ("GET", "/v1/board/kpi"),
        ("POST", "/v1/board/pins"),
        ("DELETE", "/v1/board/pins/1"),
    ],
)
def test_board_needs_a_dispatcher(api, crew_token, method, path) -> None:
    body = {"json": {"work_order_id": 1, "crew_id": "CREW-03"}} if method == "POST" else {}
    with api.client() as anonymous:
        r = anonymous.request(method, path, **body)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "not_authenticated"
    with api.client(crew_token) as crew:
        r = crew.request(method, path, **body)
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "dispatcher_only"


def test_stream_refuses_a_crew_token_in_the_query(api, crew_token) -> None:
    with api.client() as c:
        assert c.get("/v1/board/stream", params={"access_token": crew_token}).status_code == 403
        assert c.get("/v1/board/stream", params={"access_token": "junk"}).status_code == 401


def test_board_is_geojson_with_every_layer(api, dispatcher, db_conn) -> None:
    incident, work_order = open_fault(db_conn, "F1-S3")
    with api.client(dispatcher) as c:
        r = c.get("/v1/board")
    assert r.status_code == 200
    board = r.json()
    assert board["type"] == "FeatureCollection"
    by_layer = layers(board)
    for f in board["features"]:
        assert f["type"] == "Feature" and isinstance(f["id"], str)
        assert f["geometry"] is None or f["geometry"]["type"] in (
            "Point",
            "LineString",
            "Polygon",
            "MultiPolygon",
        )
    assert len(by_layer["crew"]) == 12
    assert {f["properties"]["state"] for f in by_layer["crew"]} <= {
        "available",
        "busy",
        "off_shift",
        "offline",
    }
    assert len(by_layer["section"]) == 24 and len(by_layer["substation"]) == 2
    assert {f["properties"]["kind"] for f in by_layer["area"]} == {"urban", "rural"}
    jobs = {f["properties"]["id"]: f["properties"] for f in by_layer["job"]}
    fault = jobs[work_order]
    assert fault["incident_id"] == incident and fault["area_kind"] == "urban"
    assert 40 < fault["minutes_left"] <= 45 and fault["urgency"] == "green"
    assert len(jobs) == 7  # six seeded installations and the fault
    incidents = {f["properties"]["id"]: f for f in by_layer["incident"]}
    assert incidents[incident]["geometry"]["type"] == "LineString"
    assert incidents[incident]["properties"]["section_id"] == "F1-S3"
    assert len(by_layer["alarm"]) == 5 and len(by_layer["meter_off"]) == 5
    assert set(board["kpi"]) >= {"on_time_urban", "on_time_rural", "open_jobs", "busy", "free"}
    assert board["kpi"]["open_jobs"] == 7


def test_stream_delivers_a_new_work_order(api, dispatcher, db_conn) -> None:
    stream = SseClient(
        f"{api.base_url}/v1/board/stream", {"Authorization": f"Bearer {dispatcher}"}
    ).start()
    try:
        stream.wait_for(lambda e, d: e == "hello")
        sent = time.monotonic()
        incident, work_order = open_fault(db_conn, "F2-S4")
        _, change, received = stream.wait_for(
            lambda e, d: e == "change" and any(f["id"] == f"job:{work_order}" for f in d["upsert"])
        )
    finally:
        stream.stop()
    latency_ms = (received - sent) * 1000
    print(f"board stream: new work order delivered {latency_ms:.0f} ms after COMMIT")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "board_stream_latency.json").write_text(json.dumps({"ms": latency_ms}))
    upserted = {f["id"]: f for f in change["upsert"]}
    assert upserted[f"job:{work_order}"]["properties"]["status"] == "open"
    assert {n["channel"] for n in change["notices"]} <= {"incidents", "work_orders"}


def listeners(conn) -> int:
    return conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
        " AND pid <> pg_backend_pid()"
    ).fetchone()["n"]


def test_stream_accepts_the_token_in_the_query_and_lets_go(api, dispatcher, db_conn) -> None:
    before = listeners(db_conn)
    stream = SseClient(f"{api.base_url}/v1/board/stream?access_token={dispatcher}").start()
    try:
        _, hello, _ = stream.wait_for(lambda e, d: e == "hello")
        assert listeners(db_conn) == before + 1
    finally:
        stream.stop()
    assert "work_orders" in hello["channels"]
    deadline = time.monotonic() + 30
    while listeners(db_conn) > before:  # a closed stream releases its LISTEN connection
        assert time.monotonic() < deadline, "the stream kept its database connection"
        time.sleep(0.1)


def test_pin_needs_the_skills_then_pins_and_unpins(api, dispatcher, db_conn) -> None:
    job = db_conn.execute(
        "SELECT id FROM work_orders WHERE kind = 'meter_install' ORDER BY id LIMIT 1"
    ).fetchone()["id"]
    with db.connect(api.database_url, autocommit=True) as listener, api.client(dispatcher) as c:
        listener.execute("LISTEN constraints")
        r = c.post("/v1/board/pins", json={"work_order_id": job, "crew_id": "CREW-01"})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "missing_skill" and r.json()["missing"] == ["meter"]

        r = c.post("/v1/board/pins", json={"work_order_id": job, "crew_id": "CREW-03"})
        assert r.status_code == 201, r.text
        assert r.json()["crew_id"] == "CREW-03" and r.json()["created_by"] == "dispatcher"
        note = next(listener.notifies(timeout=10, stop_after=1))
        assert json.loads(note.payload) == {
            "work_order_id": job,
            "crew_id": "CREW-03",
            "kind": "pin",
            "removed": False,
        }
        jobs = {
            f["properties"]["id"]: f["properties"]
            for f in c.get("/v1/board").json()["features"]
            if f["properties"]["layer"] == "job"
        }
        assert jobs[job]["pinned_crew_id"] == "CREW-03"

        r = c.post("/v1/board/pins", json={"work_order_id": job, "crew_id": "CREW-05"})
        assert r.status_code == 201, r.text
        live = db_conn.execute(
            "SELECT crew_id FROM dispatch_constraints WHERE work_order_id = %s"
            " AND kind = 'pin' AND removed_at IS NULL",
            (job,),
        ).fetchall()
        assert [row["crew_id"] for row in live] == ["CREW-05"]

        r = c.delete(f"/v1/board/pins/{job}")
        assert r.status_code == 200 and r.json()["removed_at"] is not None
        assert c.delete(f"/v1/board/pins/{job}").json()["code"] == "pin_not_found"
        assert (
            c.post(
                "/v1/board/pins", json={"work_order_id": 999999, "crew_id": "CREW-03"}
            ).status_code
            == 404
        )

        actions = [e["text"] for e in c.get(f"/v1/board/jobs/{job}/timeline").json()["events"]]
    assert "pinned by dispatcher" in actions and "unpinned by dispatcher" in actions
    assert any(a.startswith("work order WO-") for a in actions)
    audit = db_conn.execute(
        "SELECT action, payload FROM audit_log WHERE entity = 'work_order' AND entity_id = %s"
        " ORDER BY id",
        (str(job),),
    ).fetchall()
    # re-pinning removes the earlier pin first, on the record (gridcrew.constraints)
    assert [a["action"] for a in audit][-4:] == ["pinned", "unpinned", "pinned", "unpinned"]


def test_map_page_and_vendored_leaflet_are_served(api) -> None:
    with api.client() as c:
        page = c.get("/map")
        assert page.status_code == 200 and "leaflet" in page.text.lower()
        assert c.get("/map/static/vendor/leaflet/leaflet.js").status_code == 200
        assert c.get("/map/config.json").json() == {"tile_url": None}
        assert c.get("/map/static/../router.py").status_code == 404
