"""Store tracker fixes: every fix into ``crew_positions``, the crew moved only by a newer one.

A backlog replayed after a dead zone arrives late and out of order; those
fixes are kept for the track but never move ``crews.last_*`` backwards.
"""

from __future__ import annotations

import psycopg

from gridcrew import audit, db
from mobile_api.osmand.protocol import Fix


def crew_of(conn: psycopg.Connection, tracker_id: str) -> str | None:
    row = conn.execute(
        "SELECT crew_id FROM trackers WHERE id = %s AND active", (tracker_id,)
    ).fetchone()
    return row["crew_id"] if row else None


def store(conn: psycopg.Connection, crew_id: str, fix: Fix) -> bool:
    """Record the fix; True when it moved the crew (it is the newest)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO crew_positions (time, crew_id, lon, lat, accuracy_m, speed_mps,"
            " heading_deg, source) VALUES (%s, %s, %s, %s, %s, %s, %s, 'osmand')"
            " ON CONFLICT (crew_id, time) DO NOTHING",
            (fix.time, crew_id, fix.lon, fix.lat, fix.accuracy_m, fix.speed_mps, fix.heading_deg),
        )
        moved = conn.execute(
            "UPDATE crews SET last_lon = %s, last_lat = %s, last_fix_at = %s"
            " WHERE id = %s AND (last_fix_at IS NULL OR last_fix_at < %s) RETURNING id",
            (fix.lon, fix.lat, fix.time, crew_id, fix.time),
        ).fetchone()
        conn.execute(
            "UPDATE trackers SET last_seen_at = now(),"
            " last_battery_pct = CASE WHEN %s THEN coalesce(%s, last_battery_pct)"
            " ELSE last_battery_pct END WHERE id = %s",
            (moved is not None, fix.battery_pct, fix.tracker_id),
        )
        if moved is not None:
            db.notify(conn, "crews", {"id": crew_id, "change": "position"})
    return moved is not None


def register(conn: psycopg.Connection, tracker_id: str, crew_id: str, actor: str) -> bool:
    """Register (or move) a tracker to a crew; False when the crew does not exist."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM crews WHERE id = %s", (crew_id,)).fetchone() is None:
            return False
        conn.execute(
            "INSERT INTO trackers (id, crew_id) VALUES (%s, %s)"
            " ON CONFLICT (id) DO UPDATE SET crew_id = excluded.crew_id, active = true",
            (tracker_id, crew_id),
        )
        audit.append(
            conn,
            actor=actor,
            entity="tracker",
            entity_id=tracker_id,
            action="registered",
            payload={"crew": crew_id},
        )
    return True
