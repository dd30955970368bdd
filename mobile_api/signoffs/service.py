"""Write a sign-off: signature, ratings, the job's last transition, a call-back when rated low,
and the confirmation sheet rendered once and kept (``sheet.store_sheet``).

A job is signed off once; the record is immutable (a trigger refuses UPDATE and
DELETE). Any dimension rated 2 or lower opens a call-back due in 2 hours with
its improvement plan due in 24.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.db import notify_work_order
from gridcrew.notices import messages
from mobile_api import ratings as rating_rules
from mobile_api import sheet
from mobile_api.deps import User
from mobile_api.jobs.service import lock_job, record_transition
from mobile_api.problems import Problem
from mobile_api.signoffs import signature
from mobile_api.signoffs.schemas import SignOffRequest
from mobile_api.storage import Storage
from mobile_api.track import field_events

DIMENSIONS = rating_rules.DIMENSIONS


def sign_off(
    conn: psycopg.Connection,
    storage: Storage,
    user: User,
    work_order_id: int,
    body: SignOffRequest,
) -> dict[str, Any]:
    access = lock_job(conn, work_order_id, user)
    if conn.execute("SELECT 1 FROM signoffs WHERE work_order_id = %s", (work_order_id,)).fetchone():
        raise Problem(
            409, "already_signed_off", f"job {work_order_id} is signed off; the record is final"
        )
    if access.status != "work_done":
        raise Problem(
            409,
            "illegal_transition",
            f"the customer signs off a work_done job; job {work_order_id} is {access.status}",
            current=access.status,
            requested="signed_off",
            allowed=[],
        )
    try:
        png = (
            signature.from_base64_png(body.signature_png)
            if body.signature_png is not None
            else signature.from_strokes(body.strokes or [])
        )
    except signature.BadSignature as e:
        raise Problem(422, "bad_signature", str(e)) from None
    digest = hashlib.sha256(png).hexdigest()
    key = f"signatures/{work_order_id}/{digest}.png"
    storage.put(key, png)
    ratings = body.ratings.model_dump()
    row = conn.execute(
        "INSERT INTO signoffs (work_order_id, customer_name, signed_at, work_summary,"
        " signature_key, signature_sha256, comment) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id, work_order_id, customer_name, signed_at, work_summary,"
        " signature_sha256, comment, created_at",
        (
            work_order_id,
            body.customer_name,
            body.signed_at,
            body.work_summary,
            key,
            digest,
            body.comment,
        ),
    ).fetchone()
    conn.execute(
        "INSERT INTO ratings (work_order_id, stage, attitude, professional_skill,"
        " response_speed, process_standard, comment)"
        " VALUES (%s, 'completion', %s, %s, %s, %s, %s)",
        (work_order_id, *(ratings[d] for d in DIMENSIONS), body.comment),
    )
    conn.execute(
        "UPDATE work_orders SET status = 'signed_off', closed_at = now(), updated_at = now()"
        " WHERE id = %s",
        (work_order_id,),
    )
    record_transition(
        conn,
        work_order_id=work_order_id,
        crew_id=user.crew_id,
        actor=user.username,
        from_status="work_done",
        to_status="signed_off",
        reason=None,
        client_time=body.signed_at,
    )
    audit.append(
        conn,
        actor=user.username,
        entity="work_order",
        entity_id=work_order_id,
        action="signoff",
        payload={
            "signoff_id": row["id"],
            "customer_name": body.customer_name,
            "signed_at": body.signed_at.isoformat(),
            "signature_sha256": digest,
            "ratings": ratings,
        },
    )
    field_events.signed_off(conn, work_order_id, actor=user.username, at=body.signed_at)
    call_back = _call_back(conn, user, work_order_id, ratings)
    sheet.store_sheet(conn, storage, work_order_id)
    messages.signed_off(conn, work_order_id, actor=user.username)
    notify_work_order(conn, work_order_id, "status")
    return {**row, "ratings": ratings, "call_back": call_back}


def _call_back(
    conn: psycopg.Connection, user: User, work_order_id: int, ratings: dict[str, int]
) -> dict[str, Any] | None:
    low = rating_rules.unsatisfied(ratings)
    if not low:
        return None
    return rating_rules.open_call_back(
        conn,
        actor=user.username,
        work_order_id=work_order_id,
        reason="low rating: " + ", ".join(f"{d} {ratings[d]}/5" for d in low),
        low=low,
    )


def signoff_of(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT s.id, s.work_order_id, s.customer_name, s.signed_at, s.work_summary,"
        " s.signature_sha256, s.comment, s.created_at, r.attitude, r.professional_skill,"
        " r.response_speed, r.process_standard"
        " FROM signoffs s JOIN ratings r ON r.work_order_id = s.work_order_id"
        " AND r.stage = 'completion' WHERE s.work_order_id = %s",
        (work_order_id,),
    ).fetchone()
    if row is None:
        return None
    call_back = conn.execute(
        "SELECT id, reason, due_at, plan_due_at FROM call_backs WHERE work_order_id = %s"
        " ORDER BY id LIMIT 1",
        (work_order_id,),
    ).fetchone()
    ratings = {d: row.pop(d) for d in DIMENSIONS}
    return {**row, "ratings": ratings, "call_back": call_back}
