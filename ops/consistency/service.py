"""Load a live day's rows and the figures the API shows, and run every invariant on them.

Reads only, in one repeatable-read transaction so that every figure is taken from the
same snapshot; never writes. The figures come from the same functions the API's
routes call (board, KPI, report, customer lookup), not from copies of their SQL.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import psycopg

from gridcrew.config import Settings
from mobile_api.board import service as board
from mobile_api.kpi import service as kpi
from mobile_api.planned import service as planned
from mobile_api.track import deps as track
from ops import report
from ops.consistency import checks

ETA_TOLERANCE = timedelta(minutes=5)
"""The dispatcher refreshes an ETA once it moved by 2 min and re-plans at least every
minute; an ETA further than this from its crew's timetable is wrong, not stale."""
SETTLE = timedelta(minutes=2)
"""Time the gateway gets to close an incident after its last repair and power-up."""


def solver_timetable(conn: psycopg.Connection, settings: Settings, now: datetime) -> dict:
    """work order id -> the arrival the solver's timetable gives it, for every crew's
    active jobs in their planned order. The one place that calls the dispatcher's core
    (``dispatch.rules.timetable``, the single timetable function)."""
    from dispatch import rules
    from dispatch import service as dispatch
    from dispatch.travel import provider_for

    problem = dispatch.load(conn, settings, now)
    pts = rules.points(problem)
    matrix = provider_for(settings.osrm_url).table(pts, pts)
    routes: dict[int, list[tuple[int, int]]] = {}
    crews = {c.id: i for i, c in enumerate(problem.crews)}
    for k, job in enumerate(problem.jobs):
        if job.crew_id in crews and job.sequence is not None and job.status != "open":
            routes.setdefault(crews[job.crew_id], []).append((job.sequence, k))
    out = {}
    for crew_index, stops in routes.items():
        order = [k for _, k in sorted(stops)]
        for visit in rules.timetable(problem, matrix, crew_index, order):
            out[problem.jobs[visit.job_index].id] = problem.now + timedelta(
                minutes=visit.arrival_min
            )
    return out


_ASSIGNMENTS = """
SELECT a.work_order_id, w.number, w.status, a.crew_id, a.sequence, a.planned_arrival,
       a.plan_id, c.last_fix_at
FROM assignments a JOIN work_orders w ON w.id = a.work_order_id
JOIN crews c ON c.id = a.crew_id
WHERE a.active AND w.status = ANY(%(under_way)s)
ORDER BY a.crew_id, a.sequence
"""

_OPEN_WORK_ORDERS = """
SELECT id, number, kind, status, arrival_deadline, window_start, window_end, due_at
FROM work_orders WHERE status <> ALL(%(closed)s) ORDER BY id
"""

_CREWS = "SELECT id, state, last_fix_at FROM crews ORDER BY id"

_APPLICATIONS = "SELECT number, stage, service_class FROM applications ORDER BY number"

# The field events that move an application: an accepted arrival, a sign-off.
_FIELD_EVENTS = """
SELECT w.application_number, w.number, w.kind, 'arrived' AS event, w.arrived_at AS at
FROM work_orders w WHERE w.application_number IS NOT NULL AND w.arrived_at IS NOT NULL
UNION ALL
SELECT w.application_number, w.number, w.kind, 'signed_off', s.signed_at
FROM work_orders w JOIN signoffs s ON s.work_order_id = w.id
WHERE w.application_number IS NOT NULL
"""

_STAGES_REACHED = "SELECT application_number, stage, reached_at FROM application_stage_changes"

# Open incidents with their repairs and, for alarm incidents, the meters still dark
# (latest supply event of the day a failure); customer reports close with their repair.
_OPEN_INCIDENTS = """
WITH power AS (
    SELECT DISTINCT ON (device_id) device_id, event_name, time FROM device_events
    WHERE event_name IN ('last_gasp', 'power_down', 'power_up')
      AND time > %(now)s - interval '1 day'
    ORDER BY device_id, time DESC
)
SELECT i.id, i.cause, i.scope, i.section_id, i.transformer_id, i.opened_at,
       count(w.id) AS repairs,
       count(w.id) FILTER (WHERE w.status = ANY(%(under_way)s)) AS repairs_under_way,
       max(w.work_done_at) AS last_work_done_at,
       CASE WHEN i.cause <> 'alarm' THEN 0 ELSE (
           SELECT count(*) FROM power p JOIN devices d ON d.id = p.device_id
           WHERE p.event_name <> 'power_up' AND d.kind = 'meter'
             AND (d.transformer_id = i.transformer_id
                  OR d.section_id IN (SELECT jsonb_array_elements_text(i.details -> 'covers'))
                  OR d.section_id = i.section_id)) END AS meters_dark,
       (SELECT max(p.time) FROM power p JOIN devices d ON d.id = p.device_id
         WHERE p.event_name = 'power_up'
           AND (d.transformer_id = i.transformer_id OR d.section_id = i.section_id))
           AS last_power_up
FROM incidents i JOIN work_orders w ON w.incident_id = i.id
WHERE i.status = 'open' AND i.merged_into IS NULL
GROUP BY i.id
"""

_FAULTS = """
SELECT w.number, sa.kind AS area, w.reported_at, w.arrived_at, w.arrival_deadline
FROM work_orders w LEFT JOIN service_areas sa ON sa.id = w.service_area_id
WHERE w.kind = 'fault_repair' AND w.status <> 'cancelled' AND w.arrival_deadline IS NOT NULL
  AND w.reported_at >= %(start)s AND w.reported_at < %(end)s
"""

_DELIVERED_NOTICES = """
SELECT count(*) AS n
FROM planned_outages p
CROSS JOIN LATERAL customers_downstream_of(p.section_id) AS c (customer_id)
JOIN planned_outage_notices n ON n.planned_outage_id = p.id AND n.customer_id = c.customer_id
JOIN notifications m ON m.id = n.notification_id
WHERE p.cancelled_at IS NULL AND p.starts_at >= %(start)s AND p.starts_at < %(end)s
  AND n.kind = 'notice' AND m.sent_at < p.starts_at
"""

_NOTIFICATIONS = """
SELECT id, kind, recipient, subject, due_at, sent_at FROM notifications
WHERE sent_at IS NULL AND created_at >= %(start)s
"""

# Numbers given to customers: the work order answered to an outage report (to the
# reporting meter's customer), and every application and work order a notification
# was about (to its customer).
_NUMBERS_GIVEN = """
SELECT DISTINCT w.number, d.customer_id, 'outage report answer' AS how
FROM outage_reports r JOIN devices d ON d.id = r.meter_id
JOIN work_orders w ON w.id = r.work_order_id
WHERE r.reported_at >= %(start)s AND d.customer_id IS NOT NULL
UNION
SELECT DISTINCT n.subject, n.customer_id, 'notification ' || n.kind
FROM notifications n
WHERE n.created_at >= %(start)s AND n.customer_id IS NOT NULL
  AND (n.subject IN (SELECT number FROM applications)
       OR n.subject IN (SELECT number FROM work_orders))
"""


def _numbers_given(conn: psycopg.Connection, start: datetime) -> list[dict[str, Any]]:
    phones = {r["id"]: r["phone"] for r in conn.execute("SELECT id, phone FROM customers")}
    out = []
    for g in conn.execute(_NUMBERS_GIVEN, {"start": start}).fetchall():
        digits = "".join(ch for ch in phones[g["customer_id"]] if ch.isdigit())[-4:]
        found = track.match_subject(track.find_subject(conn, g["number"]), digits)
        out.append({**g, "resolves": found is not None})
    return out


def check(
    conn: psycopg.Connection, settings: Settings, start: datetime, end: datetime
) -> dict[str, Any]:
    """Every violation of the day's invariants for the period [start, end) (KPIs and
    report) and for the state now (board, crews, incidents)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    params = {
        "now": now,
        "start": start,
        "end": end,
        "under_way": list(checks.UNDER_WAY),
        "closed": list(board.CLOSED_STATUSES),
    }
    jobs = [f["properties"] for f in board.job_features(conn)]
    crew_props = [f["properties"] for f in board.crew_features(conn) if f["id"].startswith("crew:")]
    assignments = conn.execute(_ASSIGNMENTS, params).fetchall()
    crews = conn.execute(_CREWS).fetchall()
    open_incidents = conn.execute(_OPEN_INCIDENTS, params).fetchall()
    settled = [
        i
        for i in open_incidents
        if max(filter(None, (i["last_work_done_at"], i["last_power_up"])), default=now)
        < now - SETTLE
    ]
    kpi_figures = kpi.compute(conn, start, end, timedelta(hours=1))
    report_data = report.collect(conn, start, end, settings.local_zone)
    planned_figures = planned.kpi(conn, start, end)
    delivered = conn.execute(_DELIVERED_NOTICES, params).fetchone()["n"]

    violations: list[checks.Violation] = []
    violations += checks.etas_follow_timetable(
        assignments, solver_timetable(conn, settings, now), ETA_TOLERANCE
    )
    violations += checks.late_is_shown_late(jobs)
    violations += checks.one_deadline_per_job(conn.execute(_OPEN_WORK_ORDERS, params), jobs)
    violations += checks.crew_state_follows_jobs(crews, assignments)
    violations += checks.stale_fixes_flagged(crew_props, now)
    violations += checks.stages_follow_field_events(
        conn.execute(_APPLICATIONS).fetchall(),
        conn.execute(_FIELD_EVENTS).fetchall(),
        conn.execute(_STAGES_REACHED).fetchall(),
    )
    violations += checks.restored_incidents_closed(settled)
    violations += checks.kpis_equal_recount(
        conn.execute(_FAULTS, params).fetchall(),
        now,
        kpi_figures,
        report.summary(report_data),
        board.kpi_strip(conn),
        crews,
    )
    violations += checks.utilisation_within_elapsed(report_data.crews, start, end, now)
    violations += checks.notice_rate_counts_delivered(planned_figures, delivered)
    violations += checks.notifications_settled(conn.execute(_NOTIFICATIONS, params))
    violations += checks.numbers_resolve(_numbers_given(conn, start))
    return {
        "as_of": now,
        "from": start,
        "to": end,
        "checked": {
            "jobs": len(jobs),
            "crews": len(crews),
            "assignments": len(assignments),
            "open_incidents": len(open_incidents),
        },
        "violations": [asdict(v) for v in violations],
    }
