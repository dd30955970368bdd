"""Tracker fixes: stored by the crew-position writer (``mobile_api.positions.service``), and
the tracker's own last contact and battery kept beside them.

A backlog replayed after a dead zone arrives late and out of order; those
fixes are kept for the track but never move ``crews.last_*`` backwards.
"""

from __future__ import annotations

import psycopg

from gridcrew import audit, db
from mobile_api.osmand.protocol import Fix
from mobile_api.positions import service as positions


def crew_of(conn: psycopg.Connection, tracker_id: str) -> str | None:
    row = conn.execute(
        "SELECT crew_id FROM trackers WHERE id = %s AND active", (tracker_id,)
    ).fetchone()
    return row["crew_id"] if row else None


def store(conn: psycopg.Connection, crew_id: str, fix: Fix) -> bool:
    """Record the fix; True when it moved the crew (it is the newest)."""
    with conn.transaction():
        moved = db.run_steps(
            conn,
            positions.record_steps(
                crew_id,
                lon=fix.lon,
                lat=fix.lat,
                accuracy_m=fix.accuracy_m,
                time=fix.time,
                speed_mps=fix.speed_mps,
                heading_deg=fix.heading_deg,
                source="osmand",
            ),
        )["moved"]
        conn.execute(
            "UPDATE trackers SET last_seen_at = now(),"
            " last_battery_pct = CASE WHEN %s THEN coalesce(%s, last_battery_pct)"
            " ELSE last_battery_pct END WHERE id = %s",
            (moved, fix.battery_pct, fix.tracker_id),
        )
    return moved


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
