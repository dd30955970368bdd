"""Service-quality KPIs computed with SQL from the raw rows (no stored counters).

``compute(conn, start, end, bucket)`` is a plain function so that the report
generator can call it as the API does. Reads only; it never writes. Rates are
None when nothing was due in the period; times are minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from gridcrew import periods
from mobile_api import ratings as rating_rules
from mobile_api.track import stages

FIRST_TIME_FIX_GOAL = 0.95
RATING_DIMENSIONS = rating_rules.DIMENSIONS
MAX_PERIOD = timedelta(days=400)
MAX_BUCKETS = 5000


BadPeriod = periods.BadPeriod
local_period = periods.local_period


def check_period(start: datetime, end: datetime, bucket: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise BadPeriod("give from and to with a time zone, e.g. 2026-06-01T00:00:00Z")
    if end <= start:
        raise BadPeriod(f"the period is empty: to ({end.isoformat()}) must be after from")
    if end - start > MAX_PERIOD:
        raise BadPeriod(f"the period is longer than {MAX_PERIOD.days} days; ask for less")
    if bucket <= timedelta(0) or (end - start) / bucket > MAX_BUCKETS:
        raise BadPeriod(f"more than {MAX_BUCKETS} trend buckets; choose a larger bucket")


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# Faults reported in the period, with their arrival and restoration in minutes.
# "due" = arrived, or its arrival deadline has passed.
_FAULTS_IN_PERIOD = """
WITH f AS (
    SELECT sa.kind, w.reported_at, w.arrived_at, w.arrival_deadline,
           extract(epoch FROM w.arrived_at - w.reported_at)::float8 / 60 AS arrival_min,
           extract(epoch FROM w.restored_at - w.reported_at)::float8 / 60 AS restoration_min
    FROM work_orders w LEFT JOIN service_areas sa ON sa.id = w.service_area_id
    WHERE w.kind = 'fault_repair' AND w.status <> 'cancelled' AND w.arrival_deadline IS NOT NULL
      AND w.reported_at >= %(start)s AND w.reported_at < %(end)s
)
"""

_FAULTS = (
    _FAULTS_IN_PERIOD
    + """
SELECT coalesce(kind, 'unassigned') AS area, GROUPING(kind) AS is_total,
       count(*) FILTER (WHERE arrived_at IS NOT NULL OR arrival_deadline < %(now)s) AS due,
       count(*) FILTER (WHERE arrived_at <= arrival_deadline) AS within,
       count(arrival_min) AS arrived,
       avg(arrival_min) AS arrival_mean,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY arrival_min) AS arrival_p90,
       count(restoration_min) AS restored,
       avg(restoration_min) AS restoration_mean,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY restoration_min) AS restoration_p90
FROM f GROUP BY GROUPING SETS ((kind), ())
"""
)

_FAULT_TREND = (
    _FAULTS_IN_PERIOD
    + """
SELECT time_bucket(%(bucket)s::interval, reported_at) AS bucket,
       count(*) AS faults,
       count(*) FILTER (WHERE arrived_at IS NOT NULL OR arrival_deadline < %(now)s) AS due,
       count(*) FILTER (WHERE arrived_at <= arrival_deadline) AS within,
       avg(arrival_min) AS arrival_mean,
       avg(restoration_min) AS restoration_mean
FROM f GROUP BY 1 ORDER BY 1
"""
)

# A work order's outcome: signed off (at its signature) or cannot_complete (when
# closed, else at its last update). A sign-off is a first-time fix unless the
# audit chain shows the job was marked cannot_complete before.
_FIRST_TIME_FIX = """
WITH outcomes AS (
    SELECT w.id, w.status, coalesce(s.signed_at, w.closed_at, w.updated_at) AS at,
           EXISTS (SELECT 1 FROM audit_log a
                   WHERE a.entity = 'work_order' AND a.entity_id = w.id::text
                     AND (a.payload @> '{"to": "cannot_complete"}'
                          OR a.payload @> '{"status": "cannot_complete"}')) AS had_cannot_complete
    FROM work_orders w LEFT JOIN signoffs s ON s.work_order_id = w.id
    WHERE w.status IN ('signed_off', 'cannot_complete')
)
SELECT count(*) AS outcomes,
       count(*) FILTER (WHERE status = 'signed_off' AND NOT had_cannot_complete) AS first_time
FROM outcomes WHERE at >= %(start)s AND at < %(end)s
"""

# Installation stages whose deadline falls in the period. The deadline recorded at
# the stage change wins; stages not reached yet get theirs from the rules.
_STAGES = """
WITH rules AS (
    SELECT * FROM unnest(%(classes)s::text[], %(stages)s::text[], %(hours)s::float8[])
        AS r(service_class, stage, hours)
), due AS (
    SELECT r.stage, c.reached_at,
           coalesce(c.deadline, a.submitted_at + make_interval(secs => r.hours * 3600))
               AS deadline
    FROM applications a
    JOIN rules r ON r.service_class = a.service_class AND r.stage <> 'accepted'
    LEFT JOIN application_stage_changes c
           ON c.application_number = a.number AND c.stage = r.stage
)
SELECT stage, GROUPING(stage) AS is_total,
       count(*) FILTER (WHERE reached_at IS NOT NULL OR deadline < %(now)s) AS due,
       count(*) FILTER (WHERE reached_at <= deadline) AS met
FROM due WHERE deadline >= %(start)s AND deadline < %(end)s
GROUP BY GROUPING SETS ((stage), ())
"""

_RATINGS = """
SELECT count(*) AS ratings,
       avg(attitude)::float8 AS attitude,
       avg(professional_skill)::float8 AS professional_skill,
       avg(response_speed)::float8 AS response_speed,
       avg(process_standard)::float8 AS process_standard,
       count(*) FILTER (WHERE least(attitude, professional_skill, response_speed,
                                    process_standard) <= 2) AS unsatisfied
FROM ratings WHERE rated_at >= %(start)s AND rated_at < %(end)s
"""

_CALL_BACKS = """
SELECT count(*) FILTER (WHERE status = 'open') AS open,
       count(*) FILTER (WHERE status = 'open' AND due_at < %(now)s) AS open_overdue,
       count(*) FILTER (WHERE created_at >= %(start)s AND created_at < %(end)s) AS opened_in_period
FROM call_backs
"""


def _stage_rules() -> dict[str, list]:
    classes, names, hours = [], [], []
    for service_class, per_stage in stages.DEADLINE_HOURS.items():
        for stage, h in per_stage.items():
            classes.append(service_class)
            names.append(stage)
            hours.append(float(h))
    return {"classes": classes, "stages": names, "hours": hours}


def compute(
    conn: psycopg.Connection, start: datetime, end: datetime, bucket: timedelta
) -> dict[str, Any]:
    """Every KPI for faults reported / outcomes / deadlines / ratings in [start, end)."""
    check_period(start, end, bucket)
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    now = cur.execute("SELECT now() AS now").fetchone()["now"]
    params = {"start": start, "end": end, "now": now, "bucket": bucket}

    arrival: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for r in cur.execute(_FAULTS, params).fetchall():
        key = "all" if r["is_total"] else r["area"]
        arrival[key] = {
            "due": r["due"],
            "within": r["within"],
            "rate": _rate(r["within"], r["due"]),
        }
        times[key] = {
            "arrived": r["arrived"],
            "arrival_mean_min": r["arrival_mean"],
            "arrival_p90_min": r["arrival_p90"],
            "restored": r["restored"],
            "restoration_mean_min": r["restoration_mean"],
            "restoration_p90_min": r["restoration_p90"],
        }
    for key in ("urban", "rural", "all"):
        arrival.setdefault(key, {"due": 0, "within": 0, "rate": None})
        times.setdefault(
            key,
            {
                "arrived": 0,
                "arrival_mean_min": None,
                "arrival_p90_min": None,
                "restored": 0,
                "restoration_mean_min": None,
                "restoration_p90_min": None,
            },
        )

    ftf = cur.execute(_FIRST_TIME_FIX, params).fetchone()
    ftf_rate = _rate(ftf["first_time"], ftf["outcomes"])

    compliance: dict[str, Any] = {}
    for r in cur.execute(_STAGES, {**params, **_stage_rules()}).fetchall():
        key = "all" if r["is_total"] else r["stage"]
        compliance[key] = {"due": r["due"], "met": r["met"], "rate": _rate(r["met"], r["due"])}
    for key in (*stages.STAGES[1:], "all"):
        compliance.setdefault(key, {"due": 0, "met": 0, "rate": None})

    ratings = cur.execute(_RATINGS, params).fetchone()
    call_backs = cur.execute(_CALL_BACKS, params).fetchone()
    trend = [
        {
            "bucket": r["bucket"],
            "faults": r["faults"],
            "within_deadline_rate": _rate(r["within"], r["due"]),
            "arrival_mean_min": r["arrival_mean"],
            "restoration_mean_min": r["restoration_mean"],
        }
        for r in cur.execute(_FAULT_TREND, params).fetchall()
    ]
    return {
        "from": start,
        "to": end,
        "bucket_seconds": int(bucket.total_seconds()),
        "as_of": now,
        "arrival_within_deadline": arrival,
        "times": times,
        "first_time_fix": {
            "outcomes": ftf["outcomes"],
            "first_time": ftf["first_time"],
            "rate": ftf_rate,
            "goal": FIRST_TIME_FIX_GOAL,
            "meets_goal": None if ftf_rate is None else ftf_rate >= FIRST_TIME_FIX_GOAL,
        },
        "stage_deadline_compliance": compliance,
        "ratings": {
            "count": ratings["ratings"],
            "mean": {d: ratings[d] for d in RATING_DIMENSIONS},
            "unsatisfied": ratings["unsatisfied"],
        },
        "call_backs": call_backs,
        "trend": trend,
    }
