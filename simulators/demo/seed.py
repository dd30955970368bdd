"""Load the demo territory into a database (``gridcrew seed-demo``).

Idempotent: a database that already holds the territory is left as it is
unless ``replace`` is set, which empties the territory and everything that
hangs off it first.
"""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.security import hash_password
from simulators.demo.territory import Territory, build, wkt

# The demo crews' people, by name as the confirmation sheet prints them.
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙"
_GIVEN = ("伟", "芳", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "华")

_TERRITORY_TABLES = [
    "audit_log",
    "notifications",
    "call_backs",
    "ratings",
    "signoffs",
    "photos",
    "check_ins",
    "assignments",
    "work_orders",
    "incidents",
    "applications",
    "users",
    "crew_positions",
    "crews",
    "depots",
    "device_events",
    "meter_readings",
    "dead_letters",
    "devices",
    "customers",
    "transformers",
    "feeder_sections",
    "feeders",
    "substations",
    "service_areas",
]


def is_seeded(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT count(*) AS n FROM service_areas").fetchone()
    return bool(row and (row["n"] if isinstance(row, dict) else row[0]))


def seed(
    conn: psycopg.Connection, seed_value: int = 1, *, replace: bool = False, meters: int = 10_000
) -> Territory:
    """Write the territory for *seed_value* in the caller's transaction."""
    t = build(seed_value, meters=meters)
    if is_seeded(conn):
        if not replace:
            return t
        conn.execute("TRUNCATE " + ", ".join(_TERRITORY_TABLES) + " CASCADE")
    _write(conn, t)
    return t


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    stmt = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)


def _write(conn: psycopg.Connection, t: Territory) -> None:
    _copy(
        conn,
        "service_areas",
        ["id", "name", "kind", "arrival_deadline_min", "polygon_wkt", "priority_order"],
        [
            (
                a.id,
                a.name,
                a.kind,
                a.arrival_deadline_min,
                wkt(a.polygon),
                1 if a.kind == "urban" else 0,
            )
            for a in t.service_areas
        ],
    )
    _copy(
        conn,
        "substations",
        ["id", "name", "lon", "lat"],
        [(s.id, s.name, s.lon, s.lat) for s in t.substations],
    )
    _copy(
        conn,
        "feeders",
        ["id", "substation_id", "name"],
        [(f.id, f.substation_id, f.name) for f in t.feeders],
    )
    _copy(
        conn,
        "feeder_sections",
        [
            "id",
            "feeder_id",
            "parent_section_id",
            "line_type",
            "geometry_wkt",
            "length_m",
            "mid_lon",
            "mid_lat",
        ],
        [
            (
                s.id,
                s.feeder_id,
                s.parent_id,
                s.line_type,
                wkt(s.line),
                round(s.length_m, 1),
                *s.midpoint,
            )
            for s in t.sections
        ],
    )
    _copy(
        conn,
        "transformers",
        ["id", "section_id", "rating_kva", "lon", "lat"],
        [(x.id, x.section_id, x.rating_kva, x.lon, x.lat) for x in t.transformers],
    )
    _copy(
        conn,
        "customers",
        ["id", "name", "phone", "address", "category", "lon", "lat"],
        [(c.id, c.name, c.phone, c.address, c.category, c.lon, c.lat) for c in t.customers],
    )
    # concentrators before the meters that reference them
    ordered = sorted(t.devices, key=lambda d: d.kind == "meter")
    _copy(
        conn,
        "devices",
        [
            "id",
            "kind",
            "lon",
            "lat",
            "feeder_id",
            "section_id",
            "transformer_id",
            "concentrator_id",
            "customer_id",
            "service_area_id",
            "credential_ref",
            "config",
        ],
        [
            (
                d.id,
                d.kind,
                d.lon,
                d.lat,
                d.feeder_id,
                d.section_id,
                d.transformer_id,
                d.concentrator_id,
                d.customer_id,
                d.service_area_id,
                d.id,
                json.dumps(d.config),
            )
            for d in ordered
        ],
    )
    _copy(
        conn,
        "depots",
        ["id", "name", "lon", "lat"],
        [(d.id, d.name, d.lon, d.lat) for d in t.depots],
    )
    depot = {d.id: d for d in t.depots}
    _copy(
        conn,
        "crews",
        ["id", "name", "skills", "depot_id", "last_lon", "last_lat"],
        [
            (c.id, c.name, list(c.skills), c.depot_id, depot[c.depot_id].lon, depot[c.depot_id].lat)
            for c in t.crews
        ],
    )
    _copy(
        conn,
        "crew_members",
        ["crew_id", "name", "role"],
        [
            (c.id, name, role)
            for i, c in enumerate(t.crews)
            for name, role in (
                (_SURNAMES[i % len(_SURNAMES)] + _GIVEN[i % len(_GIVEN)], "leader"),
                (_SURNAMES[(i + 5) % len(_SURNAMES)] + _GIVEN[(i + 3) % len(_GIVEN)], "member"),
            )
        ],
    )
    pw = hash_password(get_settings().demo_password)  # one hash, many users: demo only
    users = [("dispatcher", pw, "dispatcher", None), ("admin", pw, "admin", None)]
    users += [(f"crew-{c.id[-2:]}", pw, "crew", c.id) for c in t.crews]
    _copy(conn, "users", ["username", "password_hash", "role", "crew_id"], users)
    now = conn.execute("SELECT now() AS now").fetchone()
    now_ts = now["now"] if isinstance(now, dict) else now[0]
    area_kind = {a.id: a.kind for a in t.service_areas}
    for i, app in enumerate(t.applications):
        submitted = now_ts - timedelta(hours=2 + 3 * i)
        conn.execute(
            "INSERT INTO applications (number, customer_id, service_class, submitted_at, lon, lat,"
            " address) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                app.number,
                app.customer_id,
                app.service_class,
                submitted,
                app.lon,
                app.lat,
                app.address,
            ),
        )
        area = t.area_of(app.lon, app.lat)
        # the appointment window ends by the installation's due time, never after it:
        # the customer is given one deadline, which the board and the dispatcher share
        due = submitted + timedelta(hours=48 if app.service_class != "hv" else 24)
        window_end = min(now_ts + timedelta(hours=5 + i), due)
        window_start = min(now_ts + timedelta(hours=1 + i), window_end - timedelta(hours=2))
        row = conn.execute(
            "INSERT INTO work_orders (kind, priority, lon, lat, address, required_skills,"
            " service_time_min, description, customer_id, application_number, service_area_id,"
            " reported_at, window_start, window_end, due_at)"
            " VALUES ('meter_install', 4, %s, %s, %s, ARRAY['meter'], 45, %s, %s, %s, %s, %s,"
            " %s, %s, %s) RETURNING id",
            (
                app.lon,
                app.lat,
                app.address,
                f"Meter installation and power connection ({app.service_class})",
                app.customer_id,
                app.number,
                area.id,
                submitted,
                window_start,
                window_end,
                due,
            ),
        ).fetchone()
        wo_id = row["id"] if isinstance(row, dict) else row[0]
        audit.append(
            conn,
            actor="seed-demo",
            entity="work_order",
            entity_id=wo_id,
            action="created",
            payload={
                "kind": "meter_install",
                "application": app.number,
                "area": area_kind[area.id],
            },
        )
