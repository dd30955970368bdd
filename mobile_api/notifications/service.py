"""Write to and read from the outbox (table ``notifications``).

Every queued notification gets an audit entry in the same transaction. This
module never sends anything itself; a sender lists due rows and marks them sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from gridcrew import audit


def enqueue(
    conn: psycopg.Connection,
    *,
    actor: str,
    recipient: str,
    customer_id: str | None,
    subject: str,
    kind: str,
    body: str,
    due_at: datetime | None,
    dedup_key: str,
    channel: str = "sms",
) -> dict[str, Any]:
    """Queue one notification (once per *dedup_key*) inside the caller's transaction."""
    row = conn.execute(
        "INSERT INTO notifications (channel, recipient, customer_id, subject, kind, body, due_at,"
        " dedup_key) VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, now()), %s)"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING *",
        (channel, recipient, customer_id, subject, kind, body, due_at, dedup_key),
    ).fetchone()
    if row is None:
        return conn.execute(
            "SELECT * FROM notifications WHERE dedup_key = %s", (dedup_key,)
        ).fetchone()
    audit.append(
        conn,
        actor=actor,
        entity="notification",
        entity_id=row["id"],
        action="queued",
        payload={
            "channel": channel,
            "recipient": recipient,
            "subject": subject,
            "kind": kind,
            "body": body,
            "due_at": row["due_at"],
        },
    )
    return row


def list_outbox(
    conn: psycopg.Connection,
    *,
    pending: bool | None,
    due_only: bool,
    subject: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM notifications"
        " WHERE (%(pending)s::boolean IS NULL OR (sent_at IS NULL) = %(pending)s)"
        " AND (NOT %(due)s OR due_at <= now())"
        " AND (%(subject)s::text IS NULL OR subject = %(subject)s)"
        " ORDER BY due_at, id LIMIT %(limit)s",
        {"pending": pending, "due": due_only, "subject": subject, "limit": limit},
    ).fetchall()


def mark_sent(conn: psycopg.Connection, notification_id: int, actor: str) -> dict[str, Any] | None:
    """Mark a row sent (idempotent: a second call keeps the first time); None if unknown."""
    row = conn.execute(
        "UPDATE notifications SET sent_at = now() WHERE id = %s AND sent_at IS NULL RETURNING *",
        (notification_id,),
    ).fetchone()
    if row is not None:
        audit.append(
            conn,
            actor=actor,
            entity="notification",
            entity_id=notification_id,
            action="sent",
            payload={"sent_at": row["sent_at"]},
        )
        return row
    return conn.execute("SELECT * FROM notifications WHERE id = %s", (notification_id,)).fetchone()
