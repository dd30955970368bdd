"""OsmAnd positions from real HTTP clients: stored, crews moved only forward, strangers refused."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import db

TRACKER = "traccar-4f2a9c"
CREW = "CREW-05"


@pytest.fixture(scope="module")
def registered(channels_api):
    with channels_api.client(channels_api.login("dispatcher")) as c:
        r = c.post("/v1/trackers", json={"tracker_id": TRACKER, "crew_id": CREW})
        assert r.status_code == 201, r.text
        missing = c.post("/v1/trackers", json={"tracker_id": "x-123", "crew_id": "CREW-99"})
        assert missing.status_code == 404
    return TRACKER


def _crew(mconn):
    return mconn.execute(
        "SELECT last_lon, last_lat, last_fix_at FROM crews WHERE id = %s", (CREW,)
    ).fetchone()


def test_get_with_query_moves_the_crew(channels_api, mconn, module_db_url, registered):
    fix_time = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    query = urllib.parse.urlencode(
        {
            "id": registered,
            "lat": "30.7512",
            "lon": "120.7601",
            "timestamp": int(fix_time.timestamp()),
            "speed": "10",
            "bearing": "91.5",
            "accuracy": "8",
            "batt": "77",
        }
    )
    with db.connect(module_db_url, autocommit=True) as listener:
        listener.execute("LISTEN crews")
        # stdlib urllib: a client as plain as the trackers' own
        with urllib.request.urlopen(f"{channels_api.base_url}/v1/osmand?{query}", timeout=30) as r:
            assert r.status == 200
            assert json.loads(r.read()) == {"moved": True}
        note = next(iter(listener.notifies(timeout=30, stop_after=1)))
    assert json.loads(note.payload) == {"id": CREW, "change": "position"}
    crew = _crew(mconn)
    assert (crew["last_lon"], crew["last_lat"], crew["last_fix_at"]) == (
        120.7601,
        30.7512,
        fix_time,
    )
    pos = mconn.execute(
        "SELECT * FROM crew_positions WHERE crew_id = %s AND time = %s", (CREW, fix_time)
    ).fetchone()
    assert pos["source"] == "osmand" and pos["heading_deg"] == 91.5 and pos["accuracy_m"] == 8
    assert pos["speed_mps"] == pytest.approx(5.14444)
    battery = mconn.execute(
        "SELECT last_battery_pct FROM trackers WHERE id = %s", (registered,)
    ).fetchone()
    assert battery["last_battery_pct"] == 77


def test_post_form_then_a_late_fix_never_moves_the_crew_back(channels_api, mconn, registered):
    newer = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    older = newer - timedelta(minutes=30)
    with channels_api.client() as c:
        r = c.post(
            "/v1/osmand",
            data={
                "id": registered,
                "lat": "30.7600",
                "lon": "120.7700",
                "timestamp": newer.isoformat().replace("+00:00", "Z"),
            },
        )
        assert r.status_code == 200 and r.json() == {"moved": True}
        late = c.post(
            "/v1/osmand",
            data={
                "id": registered,
                "lat": "30.7000",
                "lon": "120.7000",
                "timestamp": str(int(older.timestamp() * 1000)),
            },
        )
        assert late.status_code == 200 and late.json() == {"moved": False}
    crew = _crew(mconn)
    assert (crew["last_lon"], crew["last_lat"], crew["last_fix_at"]) == (120.77, 30.76, newer)
    kept = mconn.execute(
        "SELECT lon, lat FROM crew_positions WHERE crew_id = %s AND time = %s", (CREW, older)
    ).fetchone()
    assert kept == {"lon": 120.7, "lat": 30.7}


def test_traccar_client_json_body(channels_api, mconn, registered):
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    body = {
        "device_id": registered,
        "location": {
            "timestamp": when.isoformat(),
            "coords": {
                "latitude": 30.77,
                "longitude": 120.78,
                "accuracy": 5,
                "speed": 3.0,
                "heading": 180,
            },
            "battery": {"level": 0.5},
        },
    }
    with channels_api.client() as c:
        r = c.post("/v1/osmand", json=body)
    assert r.status_code == 200 and r.json() == {"moved": True}
    assert _crew(mconn)["last_fix_at"] == when
    speed = mconn.execute(
        "SELECT speed_mps FROM crew_positions WHERE crew_id = %s AND time = %s", (CREW, when)
    ).fetchone()["speed_mps"]
    assert speed == 3.0


def test_unknown_tracker_is_refused(channels_api, mconn):
    before = mconn.execute("SELECT count(*) AS n FROM crew_positions").fetchone()["n"]
    query = f"id=stranger-1&lat=30.7&lon=120.7&timestamp={int(time.time())}"
    url = f"{channels_api.base_url}/v1/osmand?{query}"
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=30)
    assert exc.value.code == 403
    assert json.loads(exc.value.read())["code"] == "unknown_tracker"
    assert mconn.execute("SELECT count(*) AS n FROM crew_positions").fetchone()["n"] == before


@pytest.mark.parametrize(
    "query",
    [
        {"lat": "30.7", "lon": "120.7"},
        {"id": TRACKER, "lat": "95", "lon": "120.7"},
        {"id": TRACKER, "lat": "abc", "lon": "120.7"},
        {"id": TRACKER, "lat": "30.7", "lon": "120.7", "timestamp": "yesterday"},
    ],
)
def test_bad_fixes_are_400(channels_api, registered, query):
    with channels_api.client() as c:
        r = c.get("/v1/osmand", params=query)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem")


def test_a_tracker_fix_ahead_of_the_clock_is_refused_like_a_terminal_fix(
    channels_api, mconn, registered
):
    """One crew-position writer: a tracker's fix dated ahead is refused as a terminal's is."""
    before = _crew(mconn)
    ahead = datetime.now(UTC) + timedelta(hours=2)
    query = urllib.parse.urlencode(
        {"id": registered, "lat": "30.75", "lon": "120.76", "timestamp": int(ahead.timestamp())}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{channels_api.base_url}/v1/osmand?{query}", timeout=30)
    assert refused.value.code == 422
    assert json.loads(refused.value.read())["code"] == "fix_in_future"
    assert _crew(mconn) == before
    stored = mconn.execute(
        "SELECT count(*) AS n FROM crew_positions WHERE crew_id = %s AND time > now()", (CREW,)
    ).fetchone()
    assert stored["n"] == 0
