"""KPI benchmark: ``compute()`` on a synthetic storm season against fetching its raw rows.

Runs in a scratch database of its own on the configured server (created,
migrated, filled with generate_series, dropped at the end); never touches
the stack's database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from bench.timing import median_s
from gridcrew import db
from gridcrew.config import get_settings
from mobile_api.kpi import service

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 90

_FILL = [
    """
INSERT INTO service_areas (id, name, kind, arrival_deadline_min, polygon_wkt)
VALUES ('BENCH-U', 'bench urban', 'urban', 45, 'POLYGON EMPTY'),
       ('BENCH-R', 'bench rural', 'rural', 90, 'POLYGON EMPTY')
""",
    """
INSERT INTO customers (id, name, phone, address, lon, lat)
VALUES ('BENCH-C', 'bench', '13800000000', 'bench', 120.75, 30.74)
""",
    """
INSERT INTO work_orders (kind, status, lon, lat, service_area_id, reported_at,
                         arrival_deadline, arrived_at, restored_at, updated_at)
SELECT 'fault_repair',
       (ARRAY['signed_off', 'signed_off', 'cannot_complete', 'on_site'])[1 + i %% 4],
       120.75, 30.74,
       CASE WHEN i %% 3 = 0 THEN 'BENCH-R' ELSE 'BENCH-U' END,
       t, t + CASE WHEN i %% 3 = 0 THEN interval '90 min' ELSE interval '45 min' END,
       t + make_interval(mins => 5 + (i * 37) %% 120),
       t + make_interval(mins => 30 + (i * 53) %% 300),
       t + interval '3 hours'
FROM (SELECT i, %(start)s::timestamptz + make_interval(secs => i * %(step)s) AS t
      FROM generate_series(0, %(faults)s - 1) AS i) s
""",
    """
INSERT INTO signoffs (work_order_id, customer_name, signed_at, work_summary, signature_key,
                      signature_sha256)
SELECT id, 'bench', reported_at + interval '2 hours', 'fixed', 'sig', 'x'
FROM work_orders WHERE status = 'signed_off'
""",
    """
INSERT INTO ratings (work_order_id, attitude, professional_skill, response_speed,
                     process_standard, rated_at)
SELECT id, 1 + id %% 5, 1 + (id / 2) %% 5, 1 + (id / 3) %% 5, 1 + (id / 5) %% 5,
       reported_at + interval '4 hours'
FROM work_orders WHERE id %% 10 = 0
""",
    """
INSERT INTO applications (number, customer_id, service_class, submitted_at, lon, lat, address)
SELECT 'AP-B-' || i, 'BENCH-C',
       (ARRAY['lv_residential', 'lv_commercial', 'hv', 'emergency'])[1 + i %% 4],
       %(start)s::timestamptz + make_interval(secs => i * %(step)s * 20), 120.75, 30.74, 'b'
FROM generate_series(0, %(faults)s / 20) AS i
""",
]


def run(faults: int, repeat: int) -> dict[str, Any]:
    server = get_settings().database_url
    name = f"gridcrew_bench_kpi_{os.getpid()}"
    url = db.with_database(server, name)
    db.drop_database(server, name)
    with contextlib.redirect_stdout(sys.stderr):  # yoyo prints SELECT results
        db.migrate(url)
    try:
        end = START + timedelta(days=DAYS)
        step = DAYS * 86400 / faults
        with db.transaction(url) as conn:
            for statement in _FILL:
                conn.execute(statement, {"start": START, "step": step, "faults": faults})
        with db.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")

            def raw_rows() -> None:
                conn.execute(
                    "SELECT * FROM work_orders WHERE reported_at >= %s AND reported_at < %s",
                    (START, end),
                ).fetchall()

            def kpi() -> None:
                service.compute(conn, START, end, timedelta(days=1))

            baseline = median_s(raw_rows, repeat)
            measured = median_s(kpi, repeat)
    finally:
        db.drop_database(server, name)
    return {
        "benchmark": "kpi",
        "faults": faults,
        "days": DAYS,
        "repeat": repeat,
        "kpi_compute_s": round(measured, 4),
        "baseline_fetch_raw_fault_rows_s": round(baseline, 4),
        "ratio_to_baseline": round(measured / baseline, 3),
    }


def bench_kpi(
    faults: Annotated[int, typer.Option(help="fault work orders in the 90-day season")] = 100_000,
    repeat: Annotated[int, typer.Option(help="runs per measurement (median)")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Time every KPI for a 90-day season against fetching its raw fault rows."""
    result = run(faults, repeat)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")
