"""Reliability benchmark: every index for a year by feeder against fetching its raw rows.

``gridcrew bench reliability --customers 100000 --days 365 --json`` builds a synthetic
network (feeders of ten sections, a meter per customer), a seeded year of faults and
momentary blips as the meters report them (last_gasp / power_up), a few planned outages
and customers connected mid-year, all with generate_series in a scratch database of its
own (created, migrated, dropped at the end); never touches the stack's database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from bench.timing import median_s
from gridcrew import db, reliability
from gridcrew.config import get_settings

START = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMERS_PER_FEEDER = 1000
SECTIONS_PER_FEEDER = 10
_FILL = [
    # a deterministic pseudo-random number in [0, 1) of an integer and the seed
    """
CREATE FUNCTION pg_temp.bench_rand(x bigint, seed integer) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT ((x * 2654435761 + seed * 40503) %% 1000003) / 1000003.0 $$
""",
    """
INSERT INTO service_areas (id, name, kind, arrival_deadline_min, polygon_wkt)
VALUES ('BENCH-U', 'bench urban', 'urban', 45, 'POLYGON EMPTY'),
       ('BENCH-R', 'bench rural', 'rural', 90, 'POLYGON EMPTY')
""",
    "INSERT INTO substations (id, name, lon, lat) VALUES ('BENCH-SS', 'bench', 120.7, 30.7)",
    """
INSERT INTO feeders (id, substation_id, name)
SELECT 'BF' || f, 'BENCH-SS', 'bench feeder ' || f FROM generate_series(0, %(feeders)s - 1) f
""",
    # a binary tree of sections per feeder: section k is fed through section (k - 1) / 2
    """
INSERT INTO feeder_sections (id, feeder_id, parent_section_id, line_type, geometry_wkt,
                             length_m, mid_lon, mid_lat)
SELECT 'BF' || f || '-S' || k, 'BF' || f,
       CASE WHEN k > 0 THEN 'BF' || f || '-S' || (k - 1) / 2 END,
       'overhead', 'LINESTRING EMPTY', 500, 120.7, 30.7
FROM generate_series(0, %(feeders)s - 1) f, generate_series(0, %(sections)s - 1) k
ORDER BY k
""",
    """
INSERT INTO transformers (id, section_id, rating_kva, lon, lat)
SELECT 'BT-' || id, id, 400, 120.7, 30.7 FROM feeder_sections
""",
    # one customer and meter each; one in a hundred connected during the year
    """
INSERT INTO customers (id, name, phone, address, lon, lat, connected_at)
SELECT 'BC' || i, 'bench', '13800000000', 'bench', 120.7, 30.7,
       CASE WHEN i %% 100 = 7 THEN %(start)s::timestamptz
            + make_interval(secs => %(days)s * 86400 * pg_temp.bench_rand(i, %(seed)s)) END
FROM generate_series(0, %(customers)s - 1) i
""",
    """
INSERT INTO devices (id, kind, lon, lat, feeder_id, section_id, transformer_id, customer_id,
                     service_area_id, credential_ref)
SELECT 'BM' || i, 'meter', 120.7, 30.7, 'BF' || f, 'BF' || f || '-S' || k,
       'BT-BF' || f || '-S' || k, 'BC' || i,
       CASE WHEN f %% 3 = 0 THEN 'BENCH-R' ELSE 'BENCH-U' END, 'BM' || i
FROM (SELECT i, i / %(per_feeder)s AS f, (i %% %(per_feeder)s) %% %(sections)s AS k
      FROM generate_series(0, %(customers)s - 1) i) m
""",
    # the outages: per section, faults (10 min .. 6 h) and blips (10 s .. 2 min) at
    # seeded times; every meter fed through the section reports them a few seconds apart
    """
CREATE TEMP TABLE bench_outages AS
SELECT o, s.id AS section_id,
       %(start)s::timestamptz
           + make_interval(secs => %(days)s * 86400 * pg_temp.bench_rand(o * 7 + 1, %(seed)s))
           AS began,
       CASE WHEN o %% (%(faults)s + %(blips)s) < %(faults)s
            THEN make_interval(secs => 600 + 21000 * pg_temp.bench_rand(o * 11 + 3, %(seed)s))
            ELSE make_interval(secs => 10 + 110 * pg_temp.bench_rand(o * 13 + 5, %(seed)s))
       END AS lasted
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM feeder_sections) s,
     generate_series(0, %(faults)s + %(blips)s - 1) j,
     LATERAL (SELECT s.n * (%(faults)s + %(blips)s) + j AS o) oo
""",
    """
INSERT INTO device_events (time, device_id, event_id, event_code, event_name)
SELECT o.began + make_interval(secs => (hashtext(d.id) & 7)), d.id, 'g' || o.o,
       '3.26.0.85', 'last_gasp'
FROM bench_outages o
JOIN section_ancestors() a ON a.ancestor_id = o.section_id
JOIN devices d ON d.section_id = a.section_id AND d.kind = 'meter'
WHERE o.began + o.lasted < %(end)s
""",
    """
INSERT INTO device_events (time, device_id, event_id, event_code, event_name)
SELECT o.began + o.lasted + make_interval(secs => (hashtext(d.id) & 3)), d.id, 'u' || o.o,
       '3.26.0.216', 'power_up'
FROM bench_outages o
JOIN section_ancestors() a ON a.ancestor_id = o.section_id
JOIN devices d ON d.section_id = a.section_id AND d.kind = 'meter'
WHERE o.began + o.lasted < %(end)s
""",
    # on one feeder in ten, the head section's faults were planned outages
    """
INSERT INTO planned_outages (section_id, starts_at, ends_at, reason, created_by)
SELECT o.section_id, o.began - interval '1 minute', o.began + o.lasted, 'bench', 'bench'
FROM bench_outages o
WHERE o.section_id LIKE '%%0-S0' AND o.o %% (%(faults)s + %(blips)s) < %(faults)s
""",
]


def run(customers: int, days: int, faults: int, blips: int, seed: int, repeat: int) -> dict:
    settings = get_settings()
    server = settings.database_url
    name = f"gridcrew_bench_reliability_{os.getpid()}"
    url = db.with_database(server, name)
    db.drop_database(server, name)
    with contextlib.redirect_stdout(sys.stderr):  # yoyo prints SELECT results
        db.migrate(url)
    try:
        end = START + timedelta(days=days)
        params = {
            "start": START,
            "end": end,
            "days": days,
            "customers": customers,
            "feeders": -(-customers // CUSTOMERS_PER_FEEDER),
            "per_feeder": CUSTOMERS_PER_FEEDER,
            "sections": SECTIONS_PER_FEEDER,
            "faults": faults,
            "blips": blips,
            "seed": seed,
        }
        t0 = time.perf_counter()
        with db.transaction(url) as conn:
            for statement in _FILL:
                conn.execute(statement, params)
        with db.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            generate_s = time.perf_counter() - t0
            events = conn.execute("SELECT count(*) AS n FROM device_events").fetchone()["n"]

            def fetch() -> None:
                conn.execute(
                    "SELECT device_id, time, event_name FROM device_events"
                    " WHERE event_name IN ('last_gasp', 'power_down', 'power_up')"
                    " AND time >= %s AND time < %s",
                    (START, end),
                ).fetchall()

            result: dict[str, Any] = {}

            def indices() -> None:
                result.update(
                    reliability.compute(
                        conn,
                        START,
                        end,
                        by="feeder",
                        bucket="day",
                        zone=settings.local_timezone,
                        momentary_min=settings.reliability_momentary_min,
                    )
                )

            fetch_s = median_s(fetch, repeat)
            indices_s = median_s(indices, repeat)
    finally:
        db.drop_database(server, name)
    total = {k: sum(g[k] for g in result["groups"].values()) for k in ("customers_served",)}
    return {
        "benchmark": "reliability",
        "customers": customers,
        "days": days,
        "feeders": len(result["groups"]),
        "power_events": events,
        "generate_seconds": round(generate_s, 2),
        "repeat": repeat,
        "indices_seconds": round(indices_s, 4),
        "fetch_seconds": round(fetch_s, 4),
        "ratio_to_fetch": round(indices_s / fetch_s, 3),
        "customers_served": round(total["customers_served"], 1),
        "major_event_days": len(result["major_event_days"]["days"]),
    }


def bench_reliability(
    customers: Annotated[int, typer.Option(help="customers, one meter each")] = 100_000,
    days: Annotated[int, typer.Option(help="days of history from 2026-01-01")] = 365,
    faults: Annotated[int, typer.Option(help="sustained faults per section in the period")] = 1,
    blips: Annotated[int, typer.Option(help="momentary blips per section in the period")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the outage times and durations")] = 1,
    repeat: Annotated[int, typer.Option(help="runs per measurement (median)")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Time every reliability index for the period by feeder against fetching the raw
    power events of the same period."""
    result = run(customers, days, faults, blips, seed, repeat)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
