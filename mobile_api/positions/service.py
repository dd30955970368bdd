"""The one writer of crew positions: store a fix, move the crew on the map only when the
fix is its newest. Used by the crews' terminals (live and offline batch) and by trackers
(OsmAnd protocol).

An offline backlog uploaded late is kept in ``crew_positions`` but never moves
``crews.last_*`` back in time; a fix dated ahead of the server's clock is refused.
"""

from __future__ import annotations

from datetime import datetime

from gridcrew.db import Notify, Query, Steps
from mobile_api.problems import Problem

MAX_CLOCK_SKEW_S = 300


def record_steps(
    crew_id: str,
    *,
    lon: float,
    lat: float,
    accuracy_m: float,
    time: datetime,
    speed_mps: float | None = None,
    heading_deg: float | None = None,
    source: str = "api",
) -> Steps[dict[str, bool]]:
    """Store a fix, as steps: run on the event loop by the live endpoint and on a
    blocking connection (``gridcrew.db.run_steps``) by the offline batch and trackers.
    *source* says where the fix came from (``api``: a crew terminal; ``osmand``: a tracker)."""
    future = yield Query(
        "SELECT %s > now() + make_interval(secs => %s) AS future", (time, MAX_CLOCK_SKEW_S)
    )
    assert future is not None
    if future["future"]:
        raise Problem(
            422,
            "fix_in_future",
            f"the fix time {time.isoformat()} is more than {MAX_CLOCK_SKEW_S} s ahead of the"
            " server; check the terminal's clock",
        )
    yield Query(
        "INSERT INTO crew_positions (time, crew_id, lon, lat, accuracy_m, speed_mps, heading_deg,"
        " source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (crew_id, time) DO NOTHING",
        (time, crew_id, lon, lat, accuracy_m, speed_mps, heading_deg, source),
    )
    moved = yield Query(
        "UPDATE crews SET last_lon = %s, last_lat = %s, last_fix_at = %s"
        " WHERE id = %s AND (last_fix_at IS NULL OR last_fix_at < %s) RETURNING id",
        (lon, lat, time, crew_id, time),
    )
    if moved:
        yield Notify("crews", {"id": crew_id, "change": "position"})
    return {"moved": moved is not None}
