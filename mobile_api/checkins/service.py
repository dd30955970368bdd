"""Record a check-in: every attempt is stored; the first accepted one sets ``arrived_at``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.db import notify_work_order
from mobile_api.checkins import geofence
from mobile_api.deps import User
from mobile_api.jobs import machine
from mobile_api.jobs.service import lock_job
from mobile_api.problems import Problem


def check_in(
    conn: psycopg.Connection,
    user: User,
    work_order_id: int,
    *,
    lon: float,
    lat: float,
    accuracy_m: float,
    client_time: datetime,
) -> dict[str, Any]:
    access = lock_job(conn, work_order_id, user)
    if access.status not in machine.ACTIVE:
        raise Problem(
            409, "job_not_active", f"job {work_order_id} is {access.status}; check-ins are closed"
        )
    site = conn.execute(
        "SELECT lon, lat, site_polygon_wkt FROM work_orders WHERE id = %s", (work_order_id,)
    ).fetchone()
    verdict = geofence.judge(
        site_lon=site["lon"],
        site_lat=site["lat"],
        site_polygon_wkt=site["site_polygon_wkt"],
        lon=lon,
        lat=lat,
        accuracy_m=accuracy_m,
        radius_m=get_settings().checkin_radius_m,
    )
    row = conn.execute(
        "INSERT INTO check_ins (work_order_id, crew_id, lon, lat, accuracy_m, client_time,"
        " distance_m, accepted, flag) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id, server_time",
        (
            work_order_id,
            user.crew_id,
            lon,
            lat,
            accuracy_m,
            client_time,
            verdict.distance_m,
            verdict.accepted,
            verdict.flag,
        ),
    ).fetchone()
    arrived = conn.execute(
        "UPDATE work_orders SET arrived_at = COALESCE(arrived_at, %s),"
        " updated_at = CASE WHEN arrived_at IS NULL AND %s THEN now() ELSE updated_at END"
        " WHERE id = %s RETURNING arrived_at",
        (row["server_time"] if verdict.accepted else None, verdict.accepted, work_order_id),
    ).fetchone()
    audit.append(
        conn,
        actor=user.username,
        entity="work_order",
        entity_id=work_order_id,
        action="check_in",
        payload={
            "check_in_id": row["id"],
            "lon": lon,
            "lat": lat,
            "accuracy_m": accuracy_m,
            "client_time": client_time.isoformat(),
            "accepted": verdict.accepted,
            "distance_m": verdict.distance_m,
            "flag": verdict.flag,
        },
    )
    notify_work_order(conn, work_order_id, "updated")
    return {
        "id": row["id"],
        "accepted": verdict.accepted,
        "distance_m": verdict.distance_m,
        "flag": verdict.flag,
        "arrived_at": arrived["arrived_at"],
    }
