"""Board queries and pins: plain functions over a psycopg connection.

Reads build GeoJSON features through :mod:`mobile_api.board.geo`; pins write
``dispatch_constraints``, the audit chain and a ``constraints`` NOTIFY in the
caller's transaction. Never writes assignments: the dispatcher owns them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import shapely

from gridcrew import constraints
from gridcrew.config import get_settings
from gridcrew.grid import load_service_areas
from mobile_api.board import geo
from mobile_api.problems import Problem

CLOSED_STATUSES = ("signed_off", "cancelled")
ALARM_SEVERITIES = ("critical", "warning")
ALARM_LIMIT = 20_000
TERRITORY_LAYERS = ("area", "section", "substation")

_JOBS = """
SELECT w.id, w.number, w.kind, w.status, w.priority, w.lon, w.lat, w.address, w.description,
       w.required_skills, w.incident_id, w.arrival_deadline, w.due_at, w.arrived_at,
       w.window_start, w.window_end,
       sa.kind AS area_kind,
       a.crew_id, a.planned_arrival, a.sequence, a.explanation, p.crew_id AS pinned_crew_id
FROM work_orders w
LEFT JOIN service_areas sa ON sa.id = w.service_area_id
LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active
LEFT JOIN dispatch_constraints p
       ON p.work_order_id = w.id AND p.kind = 'pin' AND p.removed_at IS NULL
WHERE w.status <> ALL(%(closed)s) AND (%(ids)s::bigint[] IS NULL OR w.id = ANY(%(ids)s))
ORDER BY COALESCE(w.arrival_deadline, w.window_end, w.due_at) NULLS LAST, w.id
"""

_CREWS = """
SELECT c.id, c.name, c.state, c.skills, c.last_lon, c.last_lat, c.last_fix_at,
       (SELECT count(*) FROM assignments a JOIN work_orders w ON w.id = a.work_order_id
         WHERE a.crew_id = c.id AND a.active AND w.status <> ALL(%(closed)s)) AS active_jobs
FROM crews c
WHERE %(ids)s::text[] IS NULL OR c.id = ANY(%(ids)s)
ORDER BY c.id
"""

_TRAILS = """
SELECT crew_id, array_agg(ARRAY[lon, lat] ORDER BY time) AS coords
FROM crew_positions
WHERE time > now() - interval '1 hour' AND (%(ids)s::text[] IS NULL OR crew_id = ANY(%(ids)s))
GROUP BY crew_id
"""

_INCIDENTS = """
SELECT i.id, i.scope, i.cause, i.feeder_id, i.section_id, i.transformer_id, i.meters_affected,
       i.customers_affected, i.critical_customers, i.opened_at, s.geometry_wkt,
       t.lon, t.lat,
       COALESCE(s.mid_lon, t.lon) AS marker_lon, COALESCE(s.mid_lat, t.lat) AS marker_lat
FROM incidents i
LEFT JOIN feeder_sections s ON s.id = i.section_id
LEFT JOIN transformers t ON t.id = i.transformer_id
WHERE i.status = 'open' AND i.merged_into IS NULL
  AND (%(ids)s::bigint[] IS NULL OR i.id = ANY(%(ids)s))
ORDER BY i.id
"""

_ALARMS = """
SELECT e.device_id, e.event_id, e.event_name, e.severity, e.time, d.lon, d.lat
FROM device_events e JOIN devices d ON d.id = e.device_id
WHERE e.time > now() - interval '1 hour' AND e.severity = ANY(%(severities)s)
ORDER BY e.time DESC
LIMIT %(limit)s
"""

# A meter is off supply when its latest supply event of the last day is a failure.
_METERS_OFF = """
SELECT l.device_id, l.time, d.lon, d.lat
FROM (SELECT DISTINCT ON (device_id) device_id, event_name, time
        FROM device_events
       WHERE event_name IN ('last_gasp', 'power_down', 'power_up')
         AND time > now() - interval '1 day'
       ORDER BY device_id, time DESC) l
JOIN devices d ON d.id = l.device_id AND d.kind = 'meter'
WHERE l.event_name <> 'power_up'
"""


def _now(conn: psycopg.Connection) -> datetime:
    return conn.execute("SELECT now() AS now").fetchone()["now"]


def job_features(conn: psycopg.Connection, ids: list[int] | None = None) -> list[geo.Feature]:
    now = _now(conn)
    rows = conn.execute(_JOBS, {"closed": list(CLOSED_STATUSES), "ids": ids}).fetchall()
    return [geo.job_feature(r, now) for r in rows]


def crew_features(conn: psycopg.Connection, ids: list[str] | None = None) -> list[geo.Feature]:
    now = _now(conn)
    crews = conn.execute(_CREWS, {"closed": list(CLOSED_STATUSES), "ids": ids}).fetchall()
    trails = {r["crew_id"]: r["coords"] for r in conn.execute(_TRAILS, {"ids": ids}).fetchall()}
    features = [geo.crew_feature(c, now) for c in crews]
    features += [geo.trail_feature(c["id"], trails.get(c["id"], [])) for c in crews]
    return features


def incident_features(conn: psycopg.Connection, ids: list[int] | None = None) -> list[geo.Feature]:
    return [geo.incident_feature(r) for r in conn.execute(_INCIDENTS, {"ids": ids}).fetchall()]


def alarm_features(conn: psycopg.Connection) -> list[geo.Feature]:
    rows = conn.execute(
        _ALARMS, {"severities": list(ALARM_SEVERITIES), "limit": ALARM_LIMIT}
    ).fetchall()
    return [geo.alarm_feature(r) for r in rows]


def meter_off_features(conn: psycopg.Connection) -> list[geo.Feature]:
    return [geo.meter_off_feature(r) for r in conn.execute(_METERS_OFF).fetchall()]


def territory_features(conn: psycopg.Connection) -> list[geo.Feature]:
    """Service areas, feeder sections and substations: the map without tiles."""
    features = [
        geo.feature(
            f"area:{a.id}",
            "area",
            shapely.geometry.mapping(a.polygon),
            id=a.id,
            name=a.name,
            kind=a.kind,
            arrival_deadline_min=a.arrival_deadline_min,
        )
        # drawn lowest priority first, so the area that wins an overlap lies on top
        for a in reversed(load_service_areas(conn))
    ]
    features += [
        geo.feature(
            f"section:{r['id']}",
            "section",
            geo.wkt_geometry(r["geometry_wkt"]),
            id=r["id"],
            feeder_id=r["feeder_id"],
            line_type=r["line_type"],
        )
        for r in conn.execute(
            "SELECT id, feeder_id, line_type, geometry_wkt FROM feeder_sections ORDER BY id"
        ).fetchall()
    ]
    features += [
        geo.feature(
            f"substation:{r['id']}",
            "substation",
            geo.point(r["lon"], r["lat"]),
            id=r["id"],
            name=r["name"],
        )
        for r in conn.execute("SELECT id, name, lon, lat FROM substations ORDER BY id").fetchall()
    ]
    return features


def kpi_strip(conn: psycopg.Connection) -> dict[str, Any]:
    """On-time share of today's decided fault deadlines (urban / rural), open jobs, crews."""
    tz = get_settings().local_zone
    now = _now(conn).astimezone(tz)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = conn.execute(
        "SELECT sa.kind,"
        " count(*) FILTER (WHERE w.arrived_at IS NOT NULL AND w.arrived_at <= w.arrival_deadline)"
        " AS on_time, count(*) AS decided"
        " FROM work_orders w JOIN service_areas sa ON sa.id = w.service_area_id"
        " WHERE w.kind = 'fault_repair' AND w.status <> 'cancelled'"
        " AND w.arrival_deadline >= %(start)s AND w.arrival_deadline < %(end)s"
        " AND (w.arrived_at IS NOT NULL OR w.arrival_deadline < now())"
        " GROUP BY sa.kind",
        {"start": day_start, "end": day_start + timedelta(days=1)},
    ).fetchall()
    share = {r["kind"]: (r["on_time"], r["decided"]) for r in rows}
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM work_orders WHERE status <> ALL(%(closed)s)) AS open_jobs,"
        " (SELECT count(*) FROM crews WHERE state = 'busy') AS busy,"
        " (SELECT count(*) FROM crews WHERE state = 'available') AS free,"
        " (SELECT count(*) FROM crews WHERE state IN ('off_shift', 'offline')) AS away",
        {"closed": list(CLOSED_STATUSES)},
    ).fetchone()
    strip: dict[str, Any] = {"day": day_start.date().isoformat(), **counts}
    for kind in ("urban", "rural"):
        on_time, decided = share.get(kind, (0, 0))
        strip[f"on_time_{kind}"] = round(on_time / decided, 3) if decided else None
        strip[f"decided_{kind}"] = decided
    return strip


def board(conn: psycopg.Connection) -> dict[str, Any]:
    """The whole board as one GeoJSON FeatureCollection (with the KPI strip beside it)."""
    features = territory_features(conn)
    features += incident_features(conn)
    features += meter_off_features(conn)
    features += alarm_features(conn)
    features += job_features(conn)
    features += crew_features(conn)
    return {
        "type": "FeatureCollection",
        "generated_at": _now(conn).isoformat(),
        "kpi": kpi_strip(conn),
        "features": features,
    }


def changes(
    conn: psycopg.Connection,
    notices: list[tuple[str, dict[str, Any]]],
    *,
    replace_layers: bool = False,
) -> dict[str, Any]:
    """What a batch of NOTIFYs changed on the board: features to upsert or remove.

    With *replace_layers* the whole alarm and meter_off layers are sent again
    (the stream decides how often: they are large in a storm).
    """
    job_ids: set[int] = set()
    crew_ids: set[str] = set()
    incident_ids: set[int] = set()
    all_crews = False
    for channel, payload in notices:
        if channel == "work_orders" and "id" in payload:
            job_ids.add(int(payload["id"]))
        elif channel == "constraints" and "work_order_id" in payload:
            job_ids.add(int(payload["work_order_id"]))
        elif channel == "assignments":
            job_ids.update(int(i) for i in payload.get("changed", []))
            all_crews = True
        elif channel == "crews" and "id" in payload:
            crew_ids.add(str(payload["id"]))
        elif channel == "incidents" and "id" in payload:
            incident_ids.add(int(payload["id"]))
    upsert: list[geo.Feature] = []
    remove: list[str] = []
    replace: dict[str, list[geo.Feature]] = {}
    if job_ids:
        jobs = job_features(conn, sorted(job_ids))
        upsert += jobs
        present = {f["properties"]["id"] for f in jobs}
        remove += [f"job:{i}" for i in sorted(job_ids - present)]
        all_crews = True
    if all_crews or crew_ids:
        upsert += crew_features(conn, None if all_crews else sorted(crew_ids))
    if incident_ids:
        incidents = incident_features(conn, sorted(incident_ids))
        upsert += incidents
        present = {f["properties"]["id"] for f in incidents}
        remove += [f"incident:{i}" for i in sorted(incident_ids - present)]
    if replace_layers:
        replace["alarm"] = alarm_features(conn)
        replace["meter_off"] = meter_off_features(conn)
    return {
        "upsert": upsert,
        "remove": remove,
        "replace": replace,
        "kpi": kpi_strip(conn),
        "notices": [{"channel": c, "payload": p} for c, p in notices],
    }


def timeline(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any]:
    """The job's story: alarm, order, assignments, check-ins, photos, sign-off, audit entries."""
    wo = conn.execute(
        "SELECT w.id, w.number, w.status, w.created_at, w.arrived_at, w.incident_id,"
        " i.first_alarm_at, i.opened_at AS incident_opened_at"
        " FROM work_orders w LEFT JOIN incidents i ON i.id = w.incident_id WHERE w.id = %s",
        (work_order_id,),
    ).fetchone()
    if wo is None:
        raise Problem(404, "work_order_not_found", f"work order {work_order_id} does not exist")
    events: list[dict[str, Any]] = []

    def add(time: datetime | None, kind: str, text: str, **extra: Any) -> None:
        if time is not None:
            events.append({"time": time.isoformat(), "kind": kind, "text": text, **extra})

    add(wo["first_alarm_at"], "alarm", f"first alarm of incident {wo['incident_id']}")
    add(wo["incident_opened_at"], "incident", f"incident {wo['incident_id']} opened")
    add(wo["created_at"], "order", f"work order {wo['number']} created")
    for a in conn.execute(
        "SELECT crew_id, created_at, superseded_at, pinned, planned_arrival FROM assignments"
        " WHERE work_order_id = %s ORDER BY created_at",
        (work_order_id,),
    ).fetchall():
        add(
            a["created_at"],
            "assignment",
            f"assigned to {a['crew_id']}{' (pinned)' if a['pinned'] else ''}",
            eta=a["planned_arrival"].isoformat() if a["planned_arrival"] else None,
        )
        add(a["superseded_at"], "assignment", f"assignment to {a['crew_id']} superseded")
    for c in conn.execute(
        "SELECT crew_id, server_time, accepted, distance_m, flag FROM check_ins"
        " WHERE work_order_id = %s ORDER BY server_time",
        (work_order_id,),
    ).fetchall():
        verdict = "accepted" if c["accepted"] else f"rejected ({c['flag']})"
        add(
            c["server_time"],
            "check_in",
            f"{c['crew_id']} checked in {c['distance_m']:.0f} m away: {verdict}",
        )
    for p in conn.execute(
        "SELECT stage, uploaded_at, flags FROM photos WHERE work_order_id = %s"
        " ORDER BY uploaded_at",
        (work_order_id,),
    ).fetchall():
        flags = f" flags {', '.join(p['flags'])}" if p["flags"] else ""
        add(p["uploaded_at"], "photo", f"{p['stage']} photo{flags}")
    for s in conn.execute(
        "SELECT customer_name, created_at FROM signoffs WHERE work_order_id = %s",
        (work_order_id,),
    ).fetchall():
        add(s["created_at"], "signoff", f"signed off by {s['customer_name']}")
    for e in conn.execute(
        "SELECT at, actor, action, payload FROM audit_log"
        " WHERE entity = 'work_order' AND entity_id = %s ORDER BY id",
        (str(work_order_id),),
    ).fetchall():
        add(e["at"], "audit", f"{e['action']} by {e['actor']}")
    events.sort(key=lambda e: e["time"])
    return {
        "work_order_id": wo["id"],
        "number": wo["number"],
        "status": wo["status"],
        "events": events,
    }


def pin(conn: psycopg.Connection, work_order_id: int, crew_id: str, actor: str) -> dict[str, Any]:
    """Pin a job to a crew (replacing an earlier pin); 409 when the crew lacks a skill."""
    wo = conn.execute(
        "SELECT id, number, status, required_skills FROM work_orders WHERE id = %s FOR UPDATE",
        (work_order_id,),
    ).fetchone()
    if wo is None:
        raise Problem(404, "work_order_not_found", f"work order {work_order_id} does not exist")
    if wo["status"] in CLOSED_STATUSES:
        raise Problem(
            409,
            "work_order_closed",
            f"work order {wo['number']} is {wo['status']}; only open jobs can be pinned",
        )
    crew = conn.execute("SELECT id, skills FROM crews WHERE id = %s", (crew_id,)).fetchone()
    if crew is None:
        raise Problem(404, "crew_not_found", f"crew {crew_id} does not exist")
    missing = sorted(set(wo["required_skills"]) - set(crew["skills"]))
    if missing:
        raise Problem(
            409,
            "missing_skill",
            f"crew {crew_id} lacks {', '.join(missing)} needed by {wo['number']};"
            " pin it to a crew with these skills",
            missing=missing,
        )
    return constraints.pin(conn, work_order_id, crew_id, actor)


def unpin(conn: psycopg.Connection, work_order_id: int, actor: str) -> dict[str, Any]:
    row = constraints.unpin(conn, work_order_id, actor)
    if row is None:
        raise Problem(404, "pin_not_found", f"work order {work_order_id} is not pinned")
    return row
