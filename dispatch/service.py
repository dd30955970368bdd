"""``gridcrew dispatch``: the shell around the solver core.

Elects one leader with a PostgreSQL advisory lock (a standby waits for it),
listens for work-order, crew and constraint changes, debounces, loads crews
and jobs, solves, writes ``assignments`` and ``dispatch_plans`` in one
transaction with audit entries and NOTIFY, then publishes each changed
crew's plan retained on MQTT. It never plans without holding the lock, never
changes a job a crew is driving to or working on, and never falls back to
the greedy baseline.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

import psycopg

from dispatch import etr, metrics, solver
from dispatch.model import (
    FAULT,
    HEAD_STATUSES,
    PLANNED_STATUSES,
    Crew,
    Job,
    Plan,
    Point,
    Problem,
    Stop,
)
from dispatch.rules import points
from dispatch.travel import CachedTravel, provider_for
from gridcrew import audit, db
from gridcrew.config import Settings, get_settings
from gridcrew.grid import area_containing, load_service_areas
from gridcrew.mqtt import broker_address, service_client
from gridcrew.notices import messages

log = logging.getLogger("gridcrew.dispatch")

ACTOR = "svc-dispatch"
LEADER_LOCK = 0x6772_6964_6470  # "griddp"
CHANNELS = ("work_orders", "crews", "constraints")
REPLAN_EVERY_S = 60.0
POSITION_REPLAN_S = 15.0
ETA_TOLERANCE = timedelta(minutes=2)
MINUTES_PER_DAY = 24 * 60


# ---------------------------------------------------------------- shifts (pure)
def shift_window(start: dtime, end: dtime, now_local: datetime) -> tuple[float, float]:
    """(available_from, shift_end) in minutes after now for a daily shift in local time.

    A shift whose end is a minute before its start (00:00-23:59) runs round the
    clock; an end earlier than the start means an overnight shift.
    """
    s = start.hour * 60 + start.minute
    e = end.hour * 60 + end.minute
    t = now_local.hour * 60 + now_local.minute + now_local.second / 60
    if s == e or (e + 1) % MINUTES_PER_DAY == s:
        return 0.0, float(MINUTES_PER_DAY)
    if s < e:
        if t < s:
            return s - t, e - t
        if t < e:
            return 0.0, e - t
        return s + MINUTES_PER_DAY - t, e + MINUTES_PER_DAY - t
    if t >= s:
        return 0.0, e + MINUTES_PER_DAY - t
    if t < e:
        return 0.0, e - t
    return s - t, e + MINUTES_PER_DAY - t


def _minutes(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else (at - now).total_seconds() / 60


def _age(now: datetime, at: datetime | None) -> float | None:
    """Minutes since *at* (never negative: a terminal's clock may run ahead)."""
    return None if at is None else max(0.0, (now - at).total_seconds() / 60)


# ---------------------------------------------------------------- loading
def _crew_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Crews on duty with their last fix and since when they drive to their en-route job."""
    return conn.execute(
        "SELECT c.id, c.skills, c.shift_start, c.shift_end, c.last_fix_at,"
        " COALESCE(c.last_lon, d.lon) AS lon, COALESCE(c.last_lat, d.lat) AS lat,"
        " (SELECT max(t.server_time) FROM work_order_transitions t"
        "  JOIN work_orders w ON w.id = t.work_order_id"
        "  WHERE t.crew_id = c.id AND t.to_status = 'en_route' AND w.status = 'en_route')"
        " AS en_route_since"
        " FROM crews c JOIN depots d ON d.id = c.depot_id"
        " WHERE c.state IN ('available', 'busy') ORDER BY c.id"
    ).fetchall()


def load(conn: psycopg.Connection, settings: Settings, now: datetime) -> Problem:
    """Crews on (or coming on) shift, the jobs to plan and the manual constraints."""
    areas = load_service_areas(conn)

    def point(lon: float, lat: float, kind: str | None = None) -> Point:
        if kind is None:
            kind = area_containing(areas, lon, lat).kind if areas else "urban"
        return Point(lon, lat, kind)

    local_now = now.astimezone(settings.local_zone)
    crews = []
    for r in _crew_rows(conn):
        available, ends = shift_window(r["shift_start"], r["shift_end"], local_now)
        fix_age = _age(now, r["last_fix_at"])
        driving = _age(now, r["en_route_since"])  # None unless driving to a job
        driven = 0.0 if driving is None else min(driving, fix_age or driving)
        crews.append(
            Crew(
                r["id"],
                frozenset(r["skills"]),
                point(r["lon"], r["lat"]),
                ends,
                available,
                fix_age_min=fix_age,
                driven_min=max(0.0, driven),
            )
        )

    pins: dict[int, str] = {}
    forbids: dict[int, set[str]] = {}
    for r in conn.execute(
        "SELECT work_order_id, crew_id, kind FROM dispatch_constraints WHERE removed_at IS NULL"
    ):
        if r["kind"] == "pin":
            pins[r["work_order_id"]] = r["crew_id"]
        else:
            forbids.setdefault(r["work_order_id"], set()).add(r["crew_id"])

    jobs = []
    for r in conn.execute(
        "SELECT w.id, w.kind, w.status, w.priority, w.lon, w.lat, w.required_skills,"
        " w.service_time_min, w.reported_at, w.arrival_deadline, w.window_start, w.window_end,"
        " w.due_at, w.arrived_at, sa.kind AS area_kind, sa.arrival_deadline_min,"
        " a.crew_id, a.sequence,"
        " coalesce(i.customers_affected, 0) AS customers_off,"
        " coalesce(i.meters_affected, 0) AS meters_off,"
        " coalesce(i.critical_customers, 0) AS critical_customers"
        " FROM work_orders w"
        " LEFT JOIN service_areas sa ON sa.id = w.service_area_id"
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " LEFT JOIN incidents i ON i.id = w.incident_id AND i.status = 'open'"
        " WHERE w.status = ANY(%s) ORDER BY w.id",
        (list(PLANNED_STATUSES),),
    ):
        location = point(r["lon"], r["lat"], r["area_kind"])
        service = float(r["service_time_min"])
        if r["status"] == "on_site" and r["arrived_at"] is not None:
            worked = (now - r["arrived_at"]).total_seconds() / 60
            service = max(5.0, service - worked)
        deadline = r["arrival_deadline"]
        if deadline is None and r["kind"] == FAULT and r["arrival_deadline_min"]:
            deadline = r["reported_at"] + timedelta(minutes=r["arrival_deadline_min"])
        window_end = r["window_end"] or (r["due_at"] if r["kind"] != FAULT else None)
        jobs.append(
            Job(
                id=r["id"],
                kind=r["kind"],
                location=location,
                priority=r["priority"],
                required_skills=frozenset(r["required_skills"]),
                service_min=service,
                deadline_min=_minutes(now, deadline) if r["kind"] == FAULT else None,
                window_start_min=_minutes(now, r["window_start"]),
                window_end_min=_minutes(now, window_end),
                status=r["status"],
                crew_id=r["crew_id"],
                sequence=r["sequence"],
                pinned_crew_id=pins.get(r["id"]),
                forbidden_crew_ids=frozenset(forbids.get(r["id"], ())),
                customers_off=max(r["customers_off"], r["meters_off"]),
                critical_customers=r["critical_customers"],
                reported_min=_minutes(now, r["reported_at"]),
            )
        )
    return Problem(
        now,
        tuple(crews),
        tuple(jobs),
        time_limit_s=settings.dispatch_time_limit_s,
        divert_threshold_min=settings.dispatch_divert_threshold_min,
    )


# ---------------------------------------------------------------- writing
@dataclass
class Written:
    plan_id: int
    changed_jobs: list[int] = field(default_factory=list)
    changed_crews: set[str] = field(default_factory=set)


def write(
    conn: psycopg.Connection,
    problem: Problem,
    plan: Plan,
    *,
    leader: str,
    trigger: str,
    started: float,
) -> Written:
    """Write the plan in the caller's transaction: rows, statuses, audit, NOTIFY."""
    job_ids = [j.id for j in problem.jobs]
    now_status = {
        r["id"]: r["status"]
        for r in conn.execute(
            "SELECT id, status FROM work_orders WHERE id = ANY(%s) FOR UPDATE", (job_ids,)
        )
    }
    current = {
        r["work_order_id"]: r
        for r in conn.execute(
            "SELECT id, work_order_id, crew_id, sequence, planned_arrival FROM assignments"
            " WHERE active AND work_order_id = ANY(%s) FOR UPDATE",
            (job_ids,),
        )
    }
    stops = {s.job_id: s for s in plan.stops()}
    unassigned = {u.job_id: u.reason for u in plan.unassigned}
    row = conn.execute(
        "INSERT INTO dispatch_plans (leader, trigger, solver, crews, jobs, assigned, changed,"
        " unassigned, objective, solve_ms, total_ms, stats, planned_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, %s, 0, %s, %s) RETURNING id",
        (
            leader,
            trigger,
            plan.solver,
            len(problem.crews),
            len(job_ids),
            len(stops),
            json.dumps([{"work_order_id": k, "reason": v} for k, v in unassigned.items()]),
            plan.objective,
            round(plan.solve_s * 1000),
            json.dumps(plan.stats),
            plan.now,
        ),
    ).fetchone()
    out = Written(row["id"])

    for job_id, stop in stops.items():
        status = now_status.get(job_id)
        old = current.get(job_id)
        if status not in PLANNED_STATUSES:
            continue  # finished or cancelled while we were solving
        if old is not None and old["crew_id"] == stop.crew_id:
            _confirm(conn, old, stop, plan, out)
            if status == "open":  # set back to open by someone else, offered to the same crew
                conn.execute(
                    "UPDATE work_orders SET status = 'assigned', updated_at = now() WHERE id = %s",
                    (job_id,),
                )
                audit.append(
                    conn,
                    actor=ACTOR,
                    entity="work_order",
                    entity_id=job_id,
                    action="assigned",
                    payload={"crew_id": stop.crew_id, "plan_id": out.plan_id, "again": True},
                )
                db.notify_work_order(conn, job_id, "assigned")
                out.changed_jobs.append(job_id)
                out.changed_crews.add(stop.crew_id)
            continue
        if status in HEAD_STATUSES:
            continue  # under way: the crew's app owns it now
        arrival, start = plan.at(stop.arrival_min), plan.at(stop.start_min)
        if old is not None:
            conn.execute(
                "UPDATE assignments SET active = false, superseded_at = now() WHERE id = %s",
                (old["id"],),
            )
            out.changed_crews.add(old["crew_id"])
        conn.execute(
            "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival,"
            " planned_start, explanation, pinned, plan_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                job_id,
                stop.crew_id,
                stop.sequence,
                arrival,
                start,
                json.dumps(stop.explanation),
                stop.pinned,
                out.plan_id,
            ),
        )
        new_status = "assigned" if status in ("open", "accepted") else status
        if new_status != status:
            conn.execute(
                "UPDATE work_orders SET status = %s, updated_at = now() WHERE id = %s",
                (new_status, job_id),
            )
        audit.append(
            conn,
            actor=ACTOR,
            entity="work_order",
            entity_id=job_id,
            action="reassigned" if old is not None else "assigned",
            payload={
                "crew_id": stop.crew_id,
                "from_crew_id": old["crew_id"] if old is not None else None,
                "plan_id": out.plan_id,
                "eta": arrival.isoformat(),
                "status": new_status,
            },
        )
        messages.crew_assigned(conn, job_id, crew_id=stop.crew_id, eta=arrival, actor=ACTOR)
        db.notify_work_order(conn, job_id, "assigned")
        out.changed_jobs.append(job_id)
        out.changed_crews.add(stop.crew_id)

    for job_id, reason in unassigned.items():
        old = current.get(job_id)
        status = now_status.get(job_id)
        if old is None or status in HEAD_STATUSES:
            continue
        conn.execute(
            "UPDATE assignments SET active = false, superseded_at = now() WHERE id = %s",
            (old["id"],),
        )
        if status in ("assigned", "accepted"):
            conn.execute(
                "UPDATE work_orders SET status = 'open', updated_at = now() WHERE id = %s",
                (job_id,),
            )
        audit.append(
            conn,
            actor=ACTOR,
            entity="work_order",
            entity_id=job_id,
            action="unassigned",
            payload={"from_crew_id": old["crew_id"], "reason": reason, "plan_id": out.plan_id},
        )
        db.notify_work_order(conn, job_id, "status")
        out.changed_jobs.append(job_id)
        out.changed_crews.add(old["crew_id"])

    write_restoration_estimates(conn, out.plan_id, plan.now)
    conn.execute(
        "UPDATE dispatch_plans SET changed = %s, total_ms = %s WHERE id = %s",
        (len(out.changed_jobs), round((time.perf_counter() - started) * 1000), out.plan_id),
    )
    if out.changed_jobs or out.changed_crews:
        db.notify(conn, "assignments", {"plan_id": out.plan_id, "changed": out.changed_jobs})
    return out


def _confirm(
    conn: psycopg.Connection, old: dict[str, Any], stop: Stop, plan: Plan, out: Written
) -> None:
    """Same crew: refresh order, ETA and explanation in place when they moved."""
    arrival = plan.at(stop.arrival_min)
    if (
        old["sequence"] == stop.sequence
        and old["planned_arrival"] is not None
        and abs(old["planned_arrival"] - arrival) <= ETA_TOLERANCE
    ):
        return
    conn.execute(
        "UPDATE assignments SET sequence = %s, planned_arrival = %s, planned_start = %s,"
        " explanation = %s, plan_id = %s WHERE id = %s",
        (
            stop.sequence,
            arrival,
            plan.at(stop.start_min),
            json.dumps(stop.explanation),
            out.plan_id,
            old["id"],
        ),
    )
    out.changed_crews.add(stop.crew_id)


# ---------------------------------------------------------------- restoration estimates
def _open_repairs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Open fault repairs with their incident's kind, the line type and the planned crew."""
    return conn.execute(
        "SELECT w.id, w.incident_id, w.status, w.arrived_at, i.scope, s.line_type,"
        " a.id AS assignment_id, a.planned_arrival, a.estimated_restoration"
        " FROM work_orders w"
        " LEFT JOIN incidents i ON i.id = w.incident_id"
        " LEFT JOIN feeder_sections s ON s.id = i.section_id"
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " WHERE w.kind = %s AND w.status = ANY(%s) AND (i.id IS NULL OR i.status = 'open')"
        " ORDER BY w.id",
        (FAULT, list(PLANNED_STATUSES)),
    ).fetchall()


def _moved(old: datetime | None, new: datetime | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(old - new) > ETA_TOLERANCE


def write_restoration_estimates(conn: psycopg.Connection, plan_id: int, now: datetime) -> None:
    """ETR per planned repair and per open incident; a history row per incident whose
    estimate moved (by more than the ETA tolerance) with this plan."""
    rows = _open_repairs(conn)
    repairs = []
    for r in rows:
        repair = etr.Repair(
            r["incident_id"],
            r["scope"],
            r["line_type"],
            r["planned_arrival"] if r["assignment_id"] is not None else None,
            r["arrived_at"] if r["status"] == "on_site" else None,
        )
        repairs.append(repair)
        new = etr.estimate(repair, now)
        if r["assignment_id"] is not None and _moved(r["estimated_restoration"], new):
            conn.execute(
                "UPDATE assignments SET estimated_restoration = %s WHERE id = %s",
                (new, r["assignment_id"]),
            )
    estimates = {e.incident_id: e for e in etr.incidents(repairs, now)}
    current = {
        r["id"]: r["estimated_restoration"]
        for r in conn.execute(
            "SELECT id, estimated_restoration FROM incidents WHERE id = ANY(%s)",
            (sorted({r.incident_id for r in repairs if r.incident_id is not None}),),
        )
    }
    for incident_id, old in current.items():
        e = estimates.get(incident_id)
        new = e.estimated_restoration if e else None
        if not _moved(old, new):
            continue
        conn.execute(
            "UPDATE incidents SET estimated_restoration = %s WHERE id = %s", (new, incident_id)
        )
        if e is not None:
            conn.execute(
                "INSERT INTO restoration_estimates (plan_id, incident_id, crew_eta,"
                " estimated_restoration) VALUES (%s, %s, %s, %s)",
                (plan_id, incident_id, e.crew_eta, new),
            )


def etr_errors(conn: psycopg.Connection, since: datetime, until: datetime) -> dict[str, Any]:
    """The ETR error KPI for incidents restored in [since, until): median and p90 absolute
    error (minutes) of the first estimate given and of the last one before restoration."""
    rows = conn.execute(
        "WITH restored AS ("
        "  SELECT i.id, coalesce(max(w.restored_at), i.closed_at) AS at FROM incidents i"
        "  LEFT JOIN work_orders w ON w.incident_id = i.id"
        "  GROUP BY i.id HAVING coalesce(max(w.restored_at), i.closed_at) >= %s"
        "  AND coalesce(max(w.restored_at), i.closed_at) < %s)"
        " SELECT r.id, r.at,"
        " (SELECT e.estimated_restoration FROM restoration_estimates e WHERE e.incident_id = r.id"
        "  ORDER BY e.created_at, e.id LIMIT 1) AS first,"
        " (SELECT e.estimated_restoration FROM restoration_estimates e WHERE e.incident_id = r.id"
        "  AND e.created_at <= r.at ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS last"
        " FROM restored r",
        (since, until),
    ).fetchall()

    def errors(key: str) -> list[float]:
        return [(r["at"] - r[key]).total_seconds() / 60 for r in rows if r[key] is not None]

    return {"first": etr.error_stats(errors("first")), "last": etr.error_stats(errors("last"))}


# ---------------------------------------------------------------- MQTT
def crew_plan_payload(conn: psycopg.Connection, crew_id: str, plan_id: int) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT a.work_order_id, a.sequence, a.planned_arrival,"
        " a.explanation->>'leave_at' AS leave_at FROM assignments a"
        " JOIN work_orders w ON w.id = a.work_order_id"
        " WHERE a.active AND a.crew_id = %s AND w.status = ANY(%s) ORDER BY a.sequence",
        (crew_id, list(PLANNED_STATUSES)),
    ).fetchall()
    return {
        "crew_id": crew_id,
        "jobs": [
            {
                "id": r["work_order_id"],
                "sequence": r["sequence"],
                "eta": r["planned_arrival"].isoformat() if r["planned_arrival"] else None,
                "leave_at": r["leave_at"],
            }
            for r in rows
        ],
        "plan_id": plan_id,
    }


class Publisher:
    """The dispatcher's MQTT connection (service account svc-dispatch)."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        addr = broker_address(settings.mqtt_url)
        self.client = service_client(client_id, "svc-dispatch")
        try:
            self.client.connect(addr.host, addr.port, keepalive=30)
        except OSError as exc:
            raise SystemExit(
                f"dispatcher: cannot reach the broker at {addr.host}:{addr.port} ({exc}); "
                "start it (gridcrew up) or check GRIDCREW_MQTT_URL"
            ) from exc
        self.client.loop_start()
        self.behind = False
        """A publish failed: send every crew's plan with the next re-plan."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            info = self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
            info.wait_for_publish(timeout=10)
            if not info.is_published():
                raise TimeoutError("no acknowledgement from the broker within 10 s")
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning(
                "could not publish %s (%s); all plans go out with the next re-plan", topic, exc
            )
            self.behind = True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------- one re-plan
def replan(
    conn: psycopg.Connection,
    settings: Settings,
    travel: CachedTravel,
    *,
    leader: str,
    trigger: str,
    publisher: Publisher | None = None,
    publish_all: bool = False,
) -> Written:
    started = time.perf_counter()
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    problem = load(conn, settings, now)
    pts = points(problem)
    matrix = travel.table(pts, pts)
    plan = solver.plan(problem, matrix)
    with conn.transaction():
        written = write(conn, problem, plan, leader=leader, trigger=trigger, started=started)
    if publisher is not None:
        everyone = publish_all or publisher.behind
        publisher.behind = False
        crews = {c.id for c in problem.crews} if everyone else written.changed_crews
        for crew_id in sorted(crews):
            publisher.publish(
                f"crews/{crew_id}/plan", crew_plan_payload(conn, crew_id, written.plan_id)
            )
    log.info(
        "plan %s (%s): %d jobs, %d crews, %d changed, %d unassigned, solve %.2f s, total %.2f s",
        written.plan_id,
        trigger,
        len(problem.jobs),
        len(problem.crews),
        len(written.changed_jobs),
        len(plan.unassigned),
        plan.solve_s,
        time.perf_counter() - started,
    )
    metrics.planned(
        problem, plan, trigger, len(written.changed_jobs), time.perf_counter() - started
    )
    return written


# ---------------------------------------------------------------- the service loop
def instance_name() -> str:
    return f"gridcrew-dispatch:{socket.gethostname()}:{os.getpid()}"


def run(settings: Settings | None = None) -> int:
    """Stand by until this instance holds the leader lock, then plan until SIGTERM/SIGINT.

    When the database goes away (a failover), the lock goes with its session: the
    instance reconnects to the new primary and stands by again; whichever instance takes
    the lock there leads and re-plans from what the database holds."""
    settings = settings or get_settings()
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    leader = instance_name()
    publishers: list[Publisher] = []

    def session(conn: psycopg.Connection) -> None:
        announced = False
        while not stop.is_set():
            got = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (LEADER_LOCK,)).fetchone()
            if got["got"]:
                break
            if not announced:
                log.info("standing by: another dispatcher holds the leader lock")
                announced = True
            stop.wait(1.0)
        if stop.is_set():
            return
        log.info("leading as %s", leader)
        metrics.LEADER.set(1)
        db.listen(conn, CHANNELS)
        if not publishers:
            publishers.append(Publisher(settings, f"dispatch-{os.getpid()}"))
        _lead(conn, settings, leader, publishers[0], stop)

    try:
        db.reconnecting(
            settings.database_url,
            session,
            stop,
            what="dispatcher",
            autocommit=True,
            application_name=leader,
        )
    finally:
        for publisher in publishers:
            publisher.close()
    return 0


def _lead(
    conn: psycopg.Connection,
    settings: Settings,
    leader: str,
    publisher: Publisher,
    stop: threading.Event,
) -> None:
    travel = provider_for(settings.osrm_url)
    own_pid = conn.info.backend_pid
    trigger: str | None = "start"
    last = time.monotonic()
    pending_since: float | None = None  # a change worth an immediate (debounced) re-plan
    moved = False  # crews only moved: folded into a re-plan at most every POSITION_REPLAN_S
    quiet_until = 0.0
    while not stop.is_set():
        if trigger is not None:
            try:
                replan(
                    conn,
                    settings,
                    travel,
                    leader=leader,
                    trigger=trigger,
                    publisher=publisher,
                    publish_all=trigger == "start",
                )
            except psycopg.errors.UniqueViolation:
                log.warning("another writer changed the assignments meanwhile; re-planning")
                pending_since = time.monotonic()
            except solver.SolverFailed as exc:
                log.error("re-plan failed, the current plan stays: %s", exc)
            last = time.monotonic()
            trigger = None
        for note in conn.notifies(timeout=0.25):
            if note.pid == own_pid:
                continue
            now = time.monotonic()
            if note.channel == "crews" and _change(note.payload) == "position":
                moved = True
                continue
            pending_since = pending_since or now
            quiet_until = now + settings.dispatch_debounce_s
        now = time.monotonic()
        if pending_since is not None and (
            now >= quiet_until or now - pending_since >= 5 * settings.dispatch_debounce_s
        ):
            trigger = "notify"
        elif moved and now - last >= POSITION_REPLAN_S:
            trigger = "positions"
        elif now - last >= REPLAN_EVERY_S:
            trigger = "periodic"
        if trigger is not None:
            pending_since, moved = None, False


def _change(payload: str) -> str | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body.get("change") if isinstance(body, dict) else None
