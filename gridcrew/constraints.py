"""The one writer of ``dispatch_constraints``: a dispatcher's pins and the pairings a crew
gave back (forbids). Every change is audited with the same actions (``pinned``,
``unpinned``, ``forbidden``) and announced on the ``constraints`` channel, in the caller's
transaction; the dispatcher only reads the table (``dispatch.service.load``).

Checks of who may pin what (open job, crew with the skills) belong to the caller.
"""

from __future__ import annotations

from typing import Any

import psycopg

from gridcrew import audit, db

_ACTIONS = {("pin", False): "pinned", ("pin", True): "unpinned", ("forbid", False): "forbidden"}


def pin(conn: psycopg.Connection, work_order_id: int, crew_id: str, actor: str) -> dict[str, Any]:
    """Pin the job to the crew, replacing an earlier pin; the new constraint's row."""
    _remove(conn, work_order_id, "pin", actor)
    row = conn.execute(
        "INSERT INTO dispatch_constraints (work_order_id, crew_id, kind, created_by)"
        " VALUES (%s, %s, 'pin', %s)"
        " RETURNING id, work_order_id, crew_id, kind, reason, created_by, created_at, removed_at",
        (work_order_id, crew_id, actor),
    ).fetchone()
    _changed(conn, work_order_id, crew_id, "pin", False, actor)
    return row


def unpin(conn: psycopg.Connection, work_order_id: int, actor: str) -> dict[str, Any] | None:
    """Remove the job's pin; the removed row, or None when it was not pinned."""
    removed = _remove(conn, work_order_id, "pin", actor)
    return removed[0] if removed else None


def forbid(
    conn: psycopg.Connection, work_order_id: int, crew_id: str, actor: str, reason: str
) -> bool:
    """Never plan this job for this crew again (idempotent); True when it is new."""
    row = conn.execute(
        "INSERT INTO dispatch_constraints (work_order_id, crew_id, kind, reason, created_by)"
        " VALUES (%s, %s, 'forbid', %s, %s)"
        " ON CONFLICT (work_order_id, crew_id) WHERE kind = 'forbid' AND removed_at IS NULL"
        " DO NOTHING RETURNING id",
        (work_order_id, crew_id, reason, actor),
    ).fetchone()
    if row is not None:
        _changed(conn, work_order_id, crew_id, "forbid", False, actor, reason=reason)
    return row is not None


def _remove(
    conn: psycopg.Connection, work_order_id: int, kind: str, actor: str
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "UPDATE dispatch_constraints SET removed_at = now()"
        " WHERE work_order_id = %s AND kind = %s AND removed_at IS NULL"
        " RETURNING id, work_order_id, crew_id, kind, reason, created_by, created_at, removed_at",
        (work_order_id, kind),
    ).fetchall()
    for r in rows:
        _changed(conn, work_order_id, r["crew_id"], kind, True, actor)
    return rows


def _changed(
    conn: psycopg.Connection,
    work_order_id: int,
    crew_id: str,
    kind: str,
    removed: bool,
    actor: str,
    **detail: str,
) -> None:
    audit.append(
        conn,
        actor=actor,
        entity="work_order",
        entity_id=work_order_id,
        action=_ACTIONS[kind, removed],
        payload={"crew_id": crew_id, **detail},
    )
    db.notify(
        conn,
        "constraints",
        {"work_order_id": work_order_id, "crew_id": crew_id, "kind": kind, "removed": removed},
    )
