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
