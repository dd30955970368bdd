"""Write to and read from the outbox (table ``notifications``).

Every queued notification is in the audit log, written in the same transaction:
one entry per notice from :func:`enqueue`, one entry naming every notice of a
batch from :func:`enqueue_bulk`. Other modules queue notifications only through
these two functions, never with their own INSERT. A customer who subscribed a browser
to Web Push or has an e-mail address gets a copy of each SMS notice on those channels
(one row per channel and address, dedup key ``<key>:push:<subscription>`` /
``<key>:email``). This module never sends anything itself: the worker
(:mod:`mobile_api.notifications.worker`) delivers, and an operator may mark a row sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
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
    for copy in _copies(conn, [row["id"]]):
        audit.append(
            conn,
            actor=actor,
            entity="notification",
            entity_id=copy["id"],
            action="queued",
            payload={
                "channel": copy["channel"],
                "recipient": copy["recipient"],
                "copy_of": row["id"],
                "subject": subject,
                "kind": kind,
            },
        )
    return row


def _copies(conn: psycopg.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Queue the push and e-mail copies of the SMS notices *ids*; the rows queued now."""
    return conn.execute(
        "INSERT INTO notifications (channel, recipient, customer_id, subject, kind, body, due_at,"
        " dedup_key)"
        " SELECT t.channel, t.recipient, n.customer_id, n.subject, n.kind, n.body, n.due_at,"
        "  n.dedup_key || ':' || t.channel || t.suffix"
        " FROM notifications n"
        " CROSS JOIN LATERAL ("
        "  SELECT 'push' AS channel, s.id::text AS recipient, ':' || s.id AS suffix"
        "  FROM push_subscriptions s WHERE s.customer_id = n.customer_id AND s.active"
        "  UNION ALL"
        "  SELECT 'email', c.email, '' FROM customers c"
        "  WHERE c.id = n.customer_id AND c.email IS NOT NULL) t"
        " WHERE n.id = ANY(%s) AND n.channel = 'sms' AND n.dedup_key IS NOT NULL"
        " ORDER BY n.id, t.channel, t.recipient"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id, channel, recipient, customer_id",
        (ids,),
    ).fetchall()


@dataclass(frozen=True)
class Recipient:
    """One addressee of a batch: who, at which number, under which dedup key."""

    customer_id: str | None
    recipient: str
    dedup_key: str


def enqueue_bulk(
    conn: psycopg.Connection,
    *,
    actor: str,
    recipients: Sequence[Recipient],
    subject: str,
    kind: str,
    body: str,
    due_at: datetime | None = None,
    channel: str = "sms",
) -> list[dict[str, Any]]:
    """Queue the same notice to many recipients in one statement, inside the caller's transaction.

    Returns ``{id, customer_id, recipient, due_at}`` of the rows queued now, in
    the order of *recipients* (the common columns are the caller's own); a
    recipient whose dedup key is already queued is left alone and not returned.

    The batch gets one audit entry (entity ``notification_batch``) that lists
    every queued notice as ``[notification id, customer id, recipient]`` beside
    the common subject, kind, body and due time, plus the SHA-256 of that list.
    A customer's dispute ("I was never told") is settled from that one chained
    entry alone: it names their number and notification id even if the outbox
    row was edited or purged since, which a hash of the batch alone could not
    show. One entry instead of one per notice keeps a notice to thousands of
    customers at a few round trips and one row for the sealer to chain.
    The hash lets an auditor compare the outbox with the entry in one step.
    """
    if not recipients:
        return []
    rows = conn.execute(
        "INSERT INTO notifications (channel, recipient, customer_id, subject, kind, body, due_at,"
        " dedup_key)"
        " SELECT %(channel)s, r.recipient, r.customer_id, %(subject)s, %(kind)s, %(body)s,"
        "  coalesce(%(due)s, now()), r.dedup_key"
        " FROM unnest(%(recipients)s::text[], %(customers)s::text[], %(keys)s::text[])"
        "  WITH ORDINALITY AS r (recipient, customer_id, dedup_key, ord)"
        " ORDER BY r.ord"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id, customer_id, recipient, due_at",
        {
            "channel": channel,
            "subject": subject,
            "kind": kind,
            "body": body,
            "due": due_at,
            "recipients": [r.recipient for r in recipients],
            "customers": [r.customer_id for r in recipients],
            "keys": [r.dedup_key for r in recipients],
        },
    ).fetchall()
    rows.sort(key=lambda r: r["id"])
    if not rows:
        return rows
    notices = [[r["id"], r["customer_id"], r["recipient"]] for r in rows]
    copies = _copies(conn, [r["id"] for r in rows]) if channel == "sms" else []
    audit.append(
        conn,
        actor=actor,
        entity="notification_batch",
        entity_id=f"{subject}:{kind}",
        action="queued",
        payload={
            "channel": channel,
            "subject": subject,
            "kind": kind,
            "body": body,
            "due_at": rows[0]["due_at"],
            "count": len(notices),
            "notices": notices,
            "notices_sha256": batch_digest(notices),
            "copies": [[c["id"], c["customer_id"], c["channel"], c["recipient"]] for c in copies],
        },
    )
    return rows


def batch_digest(notices: list[list[Any]]) -> str:
    """SHA-256 of a batch's ``[id, customer id, recipient]`` list, as the audit entry holds it."""
    text = json.dumps(notices, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def list_outbox(
    conn: psycopg.Connection,
    *,
    pending: bool | None,
    due_only: bool,
    subject: str | None,
    limit: int,
    status: str | None = None,
) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM notifications"
        " WHERE (%(pending)s::boolean IS NULL OR (sent_at IS NULL) = %(pending)s)"
        " AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (NOT %(due)s OR due_at <= now())"
        " AND (%(subject)s::text IS NULL OR subject = %(subject)s)"
        " ORDER BY due_at, id LIMIT %(limit)s",
        {"pending": pending, "status": status, "due": due_only, "subject": subject, "limit": limit},
    ).fetchall()


def one(conn: psycopg.Connection, notification_id: int) -> dict[str, Any] | None:
    """A row with every attempt to deliver it, oldest first."""
    row = conn.execute("SELECT * FROM notifications WHERE id = %s", (notification_id,)).fetchone()
    if row is None:
        return None
    row["attempt_log"] = conn.execute(
        "SELECT attempt, channel, worker, started_at, finished_at, outcome, status_code, answer"
        " FROM notification_attempts WHERE notification_id = %s ORDER BY attempt",
        (notification_id,),
    ).fetchall()
    return row


def counts(conn: psycopg.Connection) -> dict[str, int]:
    """How many rows are queued, sent and dead."""
    rows = conn.execute("SELECT status, count(*) AS n FROM notifications GROUP BY status")
    return {"queued": 0, "sent": 0, "dead": 0} | {r["status"]: r["n"] for r in rows}


def mark_sent(conn: psycopg.Connection, notification_id: int, actor: str) -> dict[str, Any] | None:
    """Mark a row delivered by hand (an operator who sent it another way); idempotent: a
    second call keeps the first time; None if unknown."""
    row = conn.execute(
        "UPDATE notifications SET sent_at = now(), status = 'sent', lease_until = NULL"
        " WHERE id = %s AND sent_at IS NULL RETURNING *",
        (notification_id,),
    ).fetchone()
    if row is not None:
        audit.append(
            conn,
            actor=actor,
            entity="notification",
            entity_id=notification_id,
            action="sent",
            payload={"sent_at": row["sent_at"], "by_hand": True},
        )
        return row
    return conn.execute("SELECT * FROM notifications WHERE id = %s", (notification_id,)).fetchone()
