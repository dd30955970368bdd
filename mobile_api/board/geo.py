"""Pure pieces of the board: GeoJSON features, time-left colours, the SSE wire format.

Takes plain rows (dicts) and returns plain dicts; no database, no I/O here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import shapely
import shapely.geometry

Feature = dict[str, Any]

# Minutes left to the deadline under which a job turns red / amber.
RED_MIN = 15.0
AMBER_MIN = 30.0
# A crew whose last fix is this old is flagged: its position (and the ETAs planned
# from it) may be wrong.
STALE_FIX_MIN = 20.0
NO_CHECK_IN = "no_accepted_check_in"


def urgency(minutes_left: float | None, slack_min: float | None = None) -> str:
    """green / amber / red / projected_late / late for a job's time left and its planned
    slack (deadline minus ETA): a job whose ETA is past its deadline is projected late
    however much time is left (none: no deadline, green)."""
    if minutes_left is None:
        return "green"
    if minutes_left < 0:
        return "late"
    if slack_min is not None and slack_min < 0:
        return "projected_late"
    if minutes_left < RED_MIN:
        return "red"
    if minutes_left < AMBER_MIN:
        return "amber"
    return "green"


def arrival_urgency(minutes_left: float | None) -> str:
    """Once the crew is there: green when it arrived in time, late otherwise."""
    return "late" if minutes_left is not None and minutes_left < 0 else "green"


def minutes_left(deadline: datetime | None, now: datetime) -> float | None:
    if deadline is None:
        return None
    return round((deadline - now).total_seconds() / 60.0, 1)


def wkt_geometry(wkt: str) -> dict[str, Any]:
    """A WKT string (lon lat) as a GeoJSON geometry."""
    return shapely.geometry.mapping(shapely.from_wkt(wkt))


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def feature(fid: str, layer: str, geometry: dict[str, Any] | None, **props: Any) -> Feature:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": geometry,
        "properties": {"layer": layer, **props},
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_deadline(row: dict[str, Any]) -> datetime | None:
    """The one deadline of a job: a fault's arrival deadline; for an installation or an
    inspection the end of the appointment window given to the customer, else its due
    time (the dispatcher plans against the same, ``dispatch.service.load``)."""
    if row["kind"] == "fault_repair":
        return row["arrival_deadline"] or row["due_at"]
    return row["window_end"] or row["due_at"]


def job_feature(row: dict[str, Any], now: datetime) -> Feature:
    """An open work order with its deadline, time left, assignment and projected slack.

    Once the crew has arrived the clock stops: time left is what was left on arrival.
    Before that, *slack* is the deadline minus the planned arrival: below zero the job
    is projected late.
    """
    deadline = job_deadline(row)
    left = minutes_left(deadline, row["arrived_at"] or now)
    eta = row["planned_arrival"]
    slack = (
        minutes_left(deadline, eta)
        if eta is not None and deadline is not None and not row["arrived_at"]
        else None
    )
    flags = (
        [NO_CHECK_IN]
        if row["status"] in ("on_site", "work_done") and row["arrived_at"] is None
        else []
    )
    return feature(
        f"job:{row['id']}",
        "job",
        point(row["lon"], row["lat"]),
        id=row["id"],
        number=row["number"],
        kind=row["kind"],
        status=row["status"],
        priority=row["priority"],
        address=row["address"],
        description=row["description"],
        required_skills=list(row["required_skills"]),
        incident_id=row["incident_id"],
        area_kind=row["area_kind"],
        deadline=_iso(deadline),
        arrived_at=_iso(row["arrived_at"]),
        minutes_left=left,
        slack_min=slack,
        urgency=arrival_urgency(left) if row["arrived_at"] else urgency(left, slack),
        window_start=_iso(row["window_start"]),
        window_end=_iso(row["window_end"]),
        flags=flags,
        crew_id=row["crew_id"],
        eta=_iso(row["planned_arrival"]),
        sequence=row["sequence"],
        explanation=row["explanation"],
        pinned_crew_id=row["pinned_crew_id"],
    )


def fix_age_min(last_fix_at: datetime | None, now: datetime) -> float | None:
    return None if last_fix_at is None else round((now - last_fix_at).total_seconds() / 60, 1)


def crew_feature(row: dict[str, Any], now: datetime) -> Feature:
    """A crew at its last fix, flagged ``stale_fix`` when that fix is STALE_FIX_MIN old
    (or it never sent one)."""
    geometry = point(row["last_lon"], row["last_lat"]) if row["last_lon"] is not None else None
    age = fix_age_min(row["last_fix_at"], now)
    return feature(
        f"crew:{row['id']}",
        "crew",
        geometry,
        id=row["id"],
        name=row["name"],
        state=row["state"],
        skills=list(row["skills"]),
        last_fix_at=_iso(row["last_fix_at"]),
        fix_age_min=age,
        stale_fix=age is None or age >= STALE_FIX_MIN,
        active_jobs=row["active_jobs"],
    )


def trail_feature(crew_id: str, coords: list[list[float]]) -> Feature:
    geometry = {"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None
    return feature(f"trail:{crew_id}", "trail", geometry, crew_id=crew_id, points=len(coords))


def incident_feature(row: dict[str, Any]) -> Feature:
    """An open incident drawn on its suspected section (else its transformer / meter point)."""
    if row["geometry_wkt"]:
        geometry = wkt_geometry(row["geometry_wkt"])
    elif row["lon"] is not None:
        geometry = point(row["lon"], row["lat"])
    else:
        geometry = None
    return feature(
        f"incident:{row['id']}",
        "incident",
        geometry,
        id=row["id"],
        scope=row["scope"],
        cause=row["cause"],
        feeder_id=row["feeder_id"],
        section_id=row["section_id"],
        transformer_id=row["transformer_id"],
        meters_affected=row["meters_affected"],
        customers_affected=row["customers_affected"],
        critical_customers=row["critical_customers"],
        opened_at=_iso(row["opened_at"]),
        marker=[row["marker_lon"], row["marker_lat"]] if row["marker_lon"] is not None else None,
    )


def alarm_feature(row: dict[str, Any]) -> Feature:
    return feature(
        f"alarm:{row['device_id']}:{row['event_id']}",
        "alarm",
        point(row["lon"], row["lat"]),
        device_id=row["device_id"],
        event_name=row["event_name"],
        severity=row["severity"],
        time=_iso(row["time"]),
    )


def meter_off_feature(row: dict[str, Any]) -> Feature:
    return feature(
        f"meter_off:{row['device_id']}",
        "meter_off",
        point(row["lon"], row["lat"]),
        device_id=row["device_id"],
        since=_iso(row["time"]),
    )


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event on the wire (data is JSON on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
