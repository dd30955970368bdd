"""Progress of applications and repairs: the customer's view, stage moves, appointments.

The rules (owners, deadlines, warnings) are the pure functions of
``mobile_api.track.stages``; this module loads rows, applies them and writes
the stage history, the outbox row and the audit entry in one transaction.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.notices import messages
from mobile_api import ratings
from mobile_api.track import stages
from mobile_api.track.deps import Subject

CUSTOMER_PHOTO_STAGE = "construction"


class ApplicationNotFound(LookupError):
    pass


class IllegalStageChange(Exception):
    def __init__(self, current: str, requested: str, allowed: list[str]) -> None:
        super().__init__(f"{current} -> {requested}")
        self.current = current
        self.requested = requested
        self.allowed = allowed


def _now(conn: psycopg.Connection) -> datetime:
    return conn.execute("SELECT now() AS now").fetchone()["now"]


def _reached(conn: psycopg.Connection, number: str) -> dict[str, datetime]:
    rows = conn.execute(
        "SELECT stage, reached_at FROM application_stage_changes WHERE application_number = %s",
        (number,),
    ).fetchall()
    return {r["stage"]: r["reached_at"] for r in rows}


def _photos(conn: psycopg.Connection, subject: Subject) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, content_type, uploaded_at FROM photos"
        " WHERE work_order_id = ANY(%s) AND stage = %s ORDER BY uploaded_at, id",
        (list(subject.work_order_ids), CUSTOMER_PHOTO_STAGE),
    ).fetchall()
    return [{**r, "url": f"/v1/track/{subject.number}/photos/{r['id']}"} for r in rows]


def customer_view(conn: psycopg.Connection, subject: Subject) -> dict[str, Any]:
    if subject.kind == "application":
        return application_view(conn, subject)
    return repair_view(conn, subject)


def application_view(conn: psycopg.Connection, subject: Subject) -> dict[str, Any]:
    now = _now(conn)
    app = conn.execute(
        "SELECT number, service_class, stage, submitted_at, address FROM applications"
        " WHERE number = %s",
        (subject.number,),
    ).fetchone()
    plan = stages.plan(
        app["service_class"], app["submitted_at"], app["stage"], _reached(conn, app["number"]), now
    )
    upcoming = stages.next_stage(app["stage"])
    next_part = None
    if upcoming is not None:
        step = next(s for s in plan if s.stage == upcoming)
        next_part = {
            "stage": step.stage,
            "label": step.label,
            "owner": step.owner,
            "deadline": step.deadline,
        }
    appointments = conn.execute(
        "SELECT purpose, starts_at, ends_at FROM appointments WHERE application_number = %s"
        " ORDER BY starts_at",
        (app["number"],),
    ).fetchall()
    work_orders = conn.execute(
        "SELECT w.number, w.status, w.window_start, w.window_end, a.planned_arrival AS eta"
        " FROM work_orders w LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " WHERE w.id = ANY(%s) ORDER BY w.id",
        (list(subject.work_order_ids),),
    ).fetchall()
    return {
        "kind": "application",
        "number": app["number"],
        "service_class": app["service_class"],
        "address": app["address"],
        "submitted_at": app["submitted_at"],
        "stage": app["stage"],
        "stages": [asdict(s) for s in plan],
        "next": next_part,
        "appointments": appointments,
        "work_orders": work_orders,
        "photos": _photos(conn, subject),
        "as_of": now,
    }


def repair_view(conn: psycopg.Connection, subject: Subject) -> dict[str, Any]:
    wo = conn.execute(
        "SELECT w.id, w.number, w.kind, w.status, w.address, w.reported_at, w.arrival_deadline,"
        " w.arrived_at, w.work_done_at, w.restored_at, w.closed_at, w.window_start, w.window_end,"
        " a.planned_arrival AS eta, s.signed_at,"
        " (SELECT min(created_at) FROM assignments WHERE work_order_id = w.id) AS assigned_at,"
        " (SELECT min(client_time) FROM work_order_transitions"
        "   WHERE work_order_id = w.id AND to_status = 'en_route') AS en_route_at,"
        " coalesce(i.estimated_restoration, a.estimated_restoration) AS estimated_restoration"
        " FROM work_orders w"
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " LEFT JOIN signoffs s ON s.work_order_id = w.id"
        " LEFT JOIN incidents i ON i.id = w.incident_id AND i.status = 'open'"
        " WHERE w.id = %s",
        (subject.work_order_ids[0],),
    ).fetchone()
    progress = stages.repair_progress(
        wo["status"],
        {
            "reported": wo["reported_at"],
            "assigned": wo["assigned_at"],
            "en_route": wo["en_route_at"],
            "on_site": wo["arrived_at"],
            "work_done": wo["work_done_at"],
            "signed_off": wo["signed_at"],
        },
        wo["kind"],
    )
    return {
        "kind": "work_order",
        "number": wo["number"],
        "work_kind": wo["kind"],
        "status": wo["status"],
        "address": wo["address"],
        "steps": progress["steps"],
        "next": progress["next"],
        "arrival_deadline": wo["arrival_deadline"],
        "eta": wo["eta"],
        "crew_eta": wo["eta"] if wo["arrived_at"] is None else None,
        "estimated_restoration": None if wo["restored_at"] else wo["estimated_restoration"],
        "window_start": wo["window_start"],
        "window_end": wo["window_end"],
        "restored_at": wo["restored_at"],
        "closed_at": wo["closed_at"],
        "photos": _photos(conn, subject),
        "as_of": _now(conn),
    }


def customer_photo(conn: psycopg.Connection, subject: Subject, photo_id: int) -> dict | None:
    return conn.execute(
        "SELECT id, content_type, storage_key FROM photos"
        " WHERE id = %s AND work_order_id = ANY(%s) AND stage = %s",
        (photo_id, list(subject.work_order_ids), CUSTOMER_PHOTO_STAGE),
    ).fetchone()


def _application_for_update(conn: psycopg.Connection, number: str) -> dict[str, Any]:
    if "\x00" in number:
        raise ApplicationNotFound(number)
    app = conn.execute(
        "SELECT a.number, a.customer_id, a.service_class, a.stage, a.submitted_at, c.phone"
        " FROM applications a JOIN customers c ON c.id = a.customer_id"
        " WHERE a.number = %s FOR UPDATE OF a",
        (number,),
    ).fetchone()
    if app is None:
        raise ApplicationNotFound(number)
    return app


def move_stage(
    conn: psycopg.Connection,
    number: str,
    target: str,
    actor: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Move an application one stage forward; history, outbox row and audit in one go.

    *at*: when the stage was reached (a field event's own time; now when None).
    Call inside a transaction. Raises ApplicationNotFound or IllegalStageChange.
    """
    app = _application_for_update(conn, number)
    if not stages.can_move(app["stage"], target):
        upcoming = stages.next_stage(app["stage"])
        raise IllegalStageChange(app["stage"], target, [upcoming] if upcoming else [])
    due = stages.deadline(app["service_class"], target, app["submitted_at"])
    change = conn.execute(
        "INSERT INTO application_stage_changes (application_number, from_stage, stage, owner,"
        " deadline, actor, reached_at) VALUES (%s, %s, %s, %s, %s, %s, COALESCE(%s, now()))"
        " RETURNING reached_at",
        (number, app["stage"], target, stages.OWNERS[target], due, actor, at),
    ).fetchone()
    conn.execute("UPDATE applications SET stage = %s WHERE number = %s", (target, number))
    after = stages.next_stage(target)
    note = messages.stage_reached(
        conn,
        number=number,
        stage=target,
        next_stage=after,
        next_deadline=stages.deadline(app["service_class"], after, app["submitted_at"])
        if after is not None
        else None,
        actor=actor,
    )
    on_time = change["reached_at"] <= due
    audit.append(
        conn,
        actor=actor,
        entity="application",
        entity_id=number,
        action="stage_changed",
        payload={
            "from": app["stage"],
            "to": target,
            "reached_at": change["reached_at"],
            "deadline": due,
            "on_time": on_time,
            "notification_id": note["id"],
        },
    )
    return {
        "number": number,
        "from_stage": app["stage"],
        "stage": target,
        "owner": stages.OWNERS[target],
        "reached_at": change["reached_at"],
        "deadline": due,
        "on_time": on_time,
        "next_stage": after,
        "notification_id": note["id"],
    }


def book_appointment(
    conn: psycopg.Connection,
    number: str,
    *,
    purpose: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
) -> dict[str, Any]:
    """Book an appointment and queue its reminder one day before. Call inside a transaction."""
    app = _application_for_update(conn, number)
    row = conn.execute(
        "INSERT INTO appointments (application_number, purpose, starts_at, ends_at, booked_by)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id, application_number, purpose, starts_at,"
        " ends_at, booked_by, created_at",
        (number, purpose, starts_at, ends_at, actor),
    ).fetchone()
    note = messages.appointment_reminder(
        conn,
        number=number,
        customer_id=app["customer_id"],
        appointment_id=row["id"],
        purpose=purpose,
        starts_at=starts_at,
        ends_at=ends_at,
        actor=actor,
    )
    audit.append(
        conn,
        actor=actor,
        entity="application",
        entity_id=number,
        action="appointment_booked",
        payload={
            "appointment_id": row["id"],
            "purpose": purpose,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "notification_id": note["id"],
        },
    )
    return {**row, "reminder": {"notification_id": note["id"], "due_at": note["due_at"]}}


def warnings(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Applications whose next stage is about to breach its deadline (or has), soonest first."""
    now = _now(conn)
    rows = conn.execute(
        "SELECT number, service_class, stage, submitted_at FROM applications"
        " WHERE stage <> 'energized'"
    ).fetchall()
    out = []
    for r in rows:
        w = stages.warning(r["service_class"], r["submitted_at"], r["stage"], now)
        if w is not None:
            out.append({"number": r["number"], "current_stage": r["stage"], **asdict(w)})
    return sorted(out, key=lambda w: w["deadline"])


class NotRatable(Exception):
    pass


def rate(
    conn: psycopg.Connection, subject: Subject, stage: str, scores: dict[str, int], comment: str
) -> dict[str, Any]:
    """The customer rates a stage they have been through. Call inside a transaction.

    Applications: any stage reached so far (rated against its first work order);
    repairs: 'completion' once the work is done. Raises NotRatable or AlreadyRated.
    """
    if not subject.work_order_ids:
        raise NotRatable(f"{subject.number} has no work order yet; rate once work has started")
    if subject.kind == "application":
        current = conn.execute(
            "SELECT stage FROM applications WHERE number = %s", (subject.number,)
        ).fetchone()["stage"]
        if stage not in stages.STAGES or stages.STAGES.index(stage) > stages.STAGES.index(current):
            raise NotRatable(f"{subject.number} has not reached '{stage}' yet (now '{current}')")
    else:
        status = conn.execute(
            "SELECT status FROM work_orders WHERE id = %s", (subject.work_order_ids[0],)
        ).fetchone()["status"]
        if stage != "completion" or status not in ("work_done", "signed_off"):
            raise NotRatable(f"{subject.number} can be rated on 'completion' once the work is done")
    return ratings.record(
        conn,
        work_order_id=subject.work_order_ids[0],
        stage=stage,
        scores=scores,
        comment=comment,
        actor=f"customer:{subject.number}",
    )
