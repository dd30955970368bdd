"""The board's pure core: time-left colours, features, the SSE wire format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mobile_api.board import geo

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "left, colour",
    [
        (None, "green"),
        (45, "green"),
        (30, "green"),
        (29.9, "amber"),
        (14.9, "red"),
        (0, "red"),
        (-0.1, "late"),
    ],
)
def test_urgency(left, colour) -> None:
    assert geo.urgency(left) == colour


def job_row(**over) -> dict:
    row = {
        "id": 7,
        "number": "WO-000007",
        "kind": "fault_repair",
        "status": "open",
        "priority": 1,
        "lon": 120.7,
        "lat": 30.7,
        "address": "",
        "description": "",
        "required_skills": ["cable"],
        "incident_id": 3,
        "area_kind": "urban",
        "arrival_deadline": NOW + timedelta(minutes=20),
        "due_at": None,
        "window_start": None,
        "window_end": None,
        "arrived_at": None,
        "crew_id": None,
        "planned_arrival": None,
        "sequence": None,
        "explanation": {},
        "pinned_crew_id": None,
    }
    return row | over


def test_job_feature_counts_down_to_the_deadline() -> None:
    f = geo.job_feature(job_row(), NOW)
    assert f["id"] == "job:7" and f["geometry"] == {"type": "Point", "coordinates": [120.7, 30.7]}
    assert f["properties"]["minutes_left"] == 20.0 and f["properties"]["urgency"] == "amber"


def test_the_clock_stops_when_the_crew_arrives() -> None:
    arrived = NOW - timedelta(minutes=30)
    f = geo.job_feature(
        job_row(arrival_deadline=NOW - timedelta(minutes=10), arrived_at=arrived), NOW
    )
    assert f["properties"]["minutes_left"] == 20.0 and f["properties"]["urgency"] == "green"
    late = geo.job_feature(job_row(arrived_at=NOW + timedelta(minutes=25)), NOW)
    assert late["properties"]["minutes_left"] == -5.0 and late["properties"]["urgency"] == "late"


def test_installations_count_down_to_their_due_time() -> None:
    f = geo.job_feature(job_row(arrival_deadline=None, due_at=NOW - timedelta(hours=1)), NOW)
    assert f["properties"]["urgency"] == "late" and f["properties"]["minutes_left"] == -60.0


def test_consistency_an_eta_past_the_deadline_is_projected_late() -> None:
    """Issue 16: ETA 02:46, deadline 00:35 showed green "72 min left"."""
    deadline = NOW + timedelta(minutes=72)
    row = job_row(arrival_deadline=deadline, planned_arrival=deadline + timedelta(minutes=132))
    p = geo.job_feature(row, NOW)["properties"]
    assert p["urgency"] == "projected_late" and p["slack_min"] == -132.0
    assert p["minutes_left"] == 72.0 and p["deadline"] == deadline.isoformat()
    on_time = geo.job_feature(row | {"planned_arrival": NOW + timedelta(minutes=10)}, NOW)
    assert on_time["properties"]["urgency"] == "green"


def test_consistency_an_installation_has_one_deadline_its_window_end() -> None:
    """Issue 16: the board used due_at ("45.7 h left"), the explanation the window's end."""
    row = job_row(
        kind="meter_install",
        arrival_deadline=None,
        window_start=NOW + timedelta(hours=1),
        window_end=NOW + timedelta(hours=3),
        due_at=NOW + timedelta(hours=45),
    )
    p = geo.job_feature(row, NOW)["properties"]
    assert p["deadline"] == (NOW + timedelta(hours=3)).isoformat() and p["minutes_left"] == 180


def test_consistency_a_crew_with_an_old_fix_is_flagged() -> None:
    crew = {
        "id": "CREW-01",
        "name": "Crew 1",
        "state": "busy",
        "skills": ["cable"],
        "last_lon": 120.7,
        "last_lat": 30.7,
        "active_jobs": 1,
    }
    fresh = geo.crew_feature(crew | {"last_fix_at": NOW - timedelta(minutes=3)}, NOW)
    old = geo.crew_feature(crew | {"last_fix_at": NOW - timedelta(minutes=21)}, NOW)
    never = geo.crew_feature(crew | {"last_fix_at": None}, NOW)
    assert fresh["properties"]["stale_fix"] is False
    assert old["properties"]["stale_fix"] is True and old["properties"]["fix_age_min"] == 21.0
    assert never["properties"]["stale_fix"] is True


def test_consistency_on_site_without_a_check_in_is_flagged() -> None:
    p = geo.job_feature(job_row(status="on_site"), NOW)["properties"]
    assert p["flags"] == [geo.NO_CHECK_IN]
    arrived = job_row(status="on_site", arrived_at=NOW - timedelta(minutes=5))
    assert geo.job_feature(arrived, NOW)["properties"]["flags"] == []


def test_wkt_becomes_geojson() -> None:
    assert geo.wkt_geometry("LINESTRING (1 2, 3 4)") == {
        "type": "LineString",
        "coordinates": ((1.0, 2.0), (3.0, 4.0)),
    }


def test_sse_frames_one_event() -> None:
    text = geo.sse("change", {"a": [1]}, 3)
    assert text.endswith("\n\n")
    lines = text.strip().split("\n")
    assert lines[:2] == ["id: 3", "event: change"]
    assert json.loads(lines[2].removeprefix("data: ")) == {"a": [1]}
