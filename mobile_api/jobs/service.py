"""Job reads and the crew's status transitions against the database.

Every transition is locked on its work order, recorded with client and server
time, audited and announced on ``work_orders`` inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from gridcrew import audit, constraints, outages
from gridcrew.db import notify_work_order
from gridcrew.notices import messages
from mobile_api.deps import JobAccess, RowLock, User, job_access
from mobile_api.jobs import machine
from mobile_api.problems import Problem
from mobile_api.track import field_events

_JOB_COLUMNS = """
    w.id, w.number, w.kind, w.status, w.priority, w.lon, w.lat, w.address,
    c.name AS customer_name, c.phone AS customer_phone, w.required_skills,
    a.planned_arrival AS eta, w.arrival_deadline, a.sequence, a.explanation,
    w.description, w.arrived_at, w.application_number, w.window_start, w.window_end, w.due_at
"""


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    job = {k: v for k, v in row.items() if k not in ("customer_name", "customer_phone")}
    job["customer"] = (
        {"name": row["customer_name"], "phone": row["customer_phone"]}
        if row["customer_name"] is not None
        else None
    )
    job["allowed"] = list(machine.allowed_moves(row["status"]))
    return job


def my_jobs(conn: psycopg.Connection, crew_id: str) -> list[dict[str, Any]]:
    """The crew's active jobs in plan order (sequence, then planned arrival)."""
    rows = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM assignments a"  # noqa: S608 (constant column list)
        " JOIN work_orders w ON w.id = a.work_order_id"
        " LEFT JOIN customers c ON c.id = w.customer_id"
        " WHERE a.active AND a.crew_id = %s AND w.status = ANY (%s)"
        " ORDER BY a.sequence, a.planned_arrival NULLS LAST, w.id",
        (crew_id, list(machine.ACTIVE)),
    ).fetchall()
    return [_shape(r) for r in rows]


def one_job(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM work_orders w"  # noqa: S608 (constant column list)
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " LEFT JOIN customers c ON c.id = w.customer_id WHERE w.id = %s",
        (work_order_id,),
    ).fetchone()
    if row is None:
        raise Problem(404, "job_not_found", f"there is no job {work_order_id}")
    return _shape(row)


def job_detail(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any]:
    job = one_job(conn, work_order_id)
    job["check_ins"] = conn.execute(
        "SELECT id, lon, lat, accuracy_m, client_time, server_time, distance_m, accepted, flag"
        " FROM check_ins WHERE work_order_id = %s ORDER BY id",
        (work_order_id,),
    ).fetchall()
    job["photos"] = conn.execute(
        "SELECT id, stage, content_type, size_bytes, sha256, flags, uploaded_at,"
        " thumbnail_key IS NOT NULL AS has_thumbnail"
        " FROM photos WHERE work_order_id = %s ORDER BY id",
        (work_order_id,),
    ).fetchall()
    return job


def lock_job(
    conn: psycopg.Connection, work_order_id: int, user: User, mode: RowLock = "update"
) -> JobAccess:
    """Lock the work order for this transaction and re-check that the crew holds it.

    ``update`` (a change that depends on the status) excludes every other locker;
    ``key share`` (a check-in) excludes only those, so check-ins of one job do not
    queue behind each other's commit, while a status change still waits for them and
    they for it."""
    return job_access(conn, work_order_id, user, write=True, lock=mode)


def record_transition(
    conn: psycopg.Connection,
    *,
    work_order_id: int,
    crew_id: str | None,
    actor: str,
    from_status: str,
    to_status: str,
    reason: str | None,
    client_time: datetime,
) -> None:
    conn.execute(
        "INSERT INTO work_order_transitions (work_order_id, crew_id, actor, from_status,"
        " to_status, reason, client_time) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (work_order_id, crew_id, actor, from_status, to_status, reason, client_time),
    )


# What the state machine needs to know beyond the status: an accepted check-in on this
# job, and another job the crew is already en route to.
_MOVE_FACTS = """
SELECT EXISTS (SELECT 1 FROM check_ins WHERE work_order_id = %(wo)s AND accepted) AS checked_in,
       (SELECT w.number FROM assignments a JOIN work_orders w ON w.id = a.work_order_id
         WHERE a.active AND a.crew_id = %(crew)s AND w.status = 'en_route' AND w.id <> %(wo)s
         ORDER BY w.id LIMIT 1) AS en_route_to
"""


def change_status(
    conn: psycopg.Connection,
    user: User,
    work_order_id: int,
    requested: str,
    client_time: datetime,
    reason: str | None,
) -> dict[str, Any]:
    """Apply one crew transition (409 ``illegal_transition`` with ``allowed`` otherwise)."""
    access = lock_job(conn, work_order_id, user)
    facts = conn.execute(_MOVE_FACTS, {"wo": work_order_id, "crew": user.crew_id}).fetchone()
    try:
        move = machine.transition(
            access.status,
            requested,
            reason,
            checked_in=facts["checked_in"],
            en_route_to=facts["en_route_to"],
        )
    except machine.AlreadyEnRoute as e:
        raise Problem(409, "already_en_route", str(e), other_job=e.other_job) from None
    except machine.IllegalTransition as e:
        raise Problem(
            409,
            "illegal_transition",
            str(e),
            current=e.current,
            requested=e.requested,
            allowed=list(e.allowed),
        ) from None
    except machine.ReasonRequired as e:
        raise Problem(422, "reason_required", str(e)) from None
    # the terminal's time (a synced work_done happened when the crew tapped it), never
    # later than the server's clock
    conn.execute(
        "UPDATE work_orders SET status = %(status)s, updated_at = now(),"
        " work_done_at = CASE WHEN %(move)s = 'work_done'"
        "   THEN LEAST(now(), GREATEST(%(client)s::timestamptz, reported_at))"
        "   ELSE work_done_at END,"
        " closed_at = CASE WHEN %(move)s = 'cannot_complete' THEN now() ELSE closed_at END"
        " WHERE id = %(wo)s",
        {
            "status": move.resulting,
            "move": move.requested,
            "client": client_time,
            "wo": work_order_id,
        },
    )
    record_transition(
        conn,
        work_order_id=work_order_id,
        crew_id=user.crew_id,
        actor=user.username,
        from_status=move.from_status,
        to_status=move.requested,
        reason=move.reason or move.flag,
        client_time=client_time,
    )
    if move.requested == "declined":
        _decline(conn, user, work_order_id, move.reason or "")
    if move.requested == "on_site":
        messages.crew_arrived(conn, work_order_id, actor=user.username)
        field_events.arrived(conn, work_order_id, actor=user.username, at=client_time)
    if move.requested == "work_done":
        done_at = conn.execute(
            "SELECT work_done_at FROM work_orders WHERE id = %s", (work_order_id,)
        ).fetchone()["work_done_at"]
        outages.close_with_repair(conn, work_order_id, at=done_at, actor=user.username)
    notify_work_order(conn, work_order_id, "status")
    # the audit entry: a plain INSERT in this transaction, no lock (gridcrew.audit);
    # the API's sealer chains it once committed
    audit.append(
        conn,
        actor=user.username,
        entity="work_order",
        entity_id=work_order_id,
        action=f"status:{move.requested}",
        payload={
            "from": move.from_status,
            "to": move.resulting,
            "reason": move.reason,
            "client_time": client_time.isoformat(),
            "crew_id": user.crew_id,
            "flag": move.flag,
        },
    )
    return one_job(conn, work_order_id)


def _decline(conn: psycopg.Connection, user: User, work_order_id: int, reason: str) -> None:
    """Give the job back: assignment inactive, pairing forbidden, dispatcher re-plans."""
    conn.execute(
        "UPDATE assignments SET active = false, superseded_at = now()"
        " WHERE work_order_id = %s AND active",
        (work_order_id,),
    )
    constraints.forbid(
        conn, work_order_id, user.crew_id, user.username, f"declined by crew: {reason}"
    )
