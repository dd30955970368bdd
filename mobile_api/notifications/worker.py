"""``gridcrew notify``: the delivery worker that empties the outbox through the channels.

A claim takes due, queued rows with ``FOR UPDATE SKIP LOCKED`` and gives each a lease, so
several workers never hold the same row; a customer's next notification on a channel waits
until the earlier one is sent or dead (per-customer order). Every attempt is a row in
``notification_attempts``, written before the send and finished after it; a worker killed
mid-send leaves the attempt open and the lease runs out, and the next claim sends again
with the same idempotency key, so the receiver drops the repeat and nothing is lost. The
final outcome (sent or dead) of every notification goes into the audit chain.

Decisions are :mod:`gridcrew.notices.delivery`'s; this module only moves rows.
It never changes what a notification says.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gridcrew import audit
from gridcrew.config import Settings, get_settings
from gridcrew.notices import delivery
from gridcrew.notices.delivery import Answer
from mobile_api.notifications import channels, vapid

log = logging.getLogger(__name__)
ACTOR = "svc-notify"


def configured_channels(settings: Settings) -> list[str]:
    """The channels this worker can deliver with the settings it has."""
    out = ["push"]  # the VAPID key pair is made on first use
    if settings.notify_webhook_url:
        if settings.notify_webhook_secret is None:
            raise ValueError(
                "GRIDCREW_NOTIFY_WEBHOOK_URL is set but GRIDCREW_NOTIFY_WEBHOOK_SECRET is not:"
                " the receiver needs the HMAC key to check the signature"
            )
        out.append("sms")
    if settings.notify_smtp_host:
        out.append("email")
    return out


@dataclass(frozen=True)
class Claimed:
    row: dict[str, Any]
    attempt: int


def claim(
    conn: psycopg.Connection, *, worker: str, channel_names: list[str], batch: int, lease_s: float
) -> list[Claimed]:
    """Lease up to *batch* deliverable rows (each customer's earliest per channel) and open
    an attempt for each; an attempt left open by a killed worker is marked interrupted."""
    with conn.transaction():
        rows = conn.execute(
            "WITH locked AS ("
            " SELECT n.id, n.due_at"
            " FROM notifications n"
            " WHERE n.status = 'queued' AND n.channel = ANY(%(channels)s)"
            "  AND n.due_at <= now() AND coalesce(n.next_attempt_at, n.due_at) <= now()"
            "  AND (n.lease_until IS NULL OR n.lease_until < now())"
            "  AND NOT EXISTS (SELECT 1 FROM notifications e WHERE e.status = 'queued'"
            "   AND coalesce(e.customer_id, e.recipient) = coalesce(n.customer_id, n.recipient)"
            "   AND e.channel = n.channel AND (e.due_at, e.id) < (n.due_at, n.id))"
            " ORDER BY n.due_at, n.id LIMIT %(batch)s FOR UPDATE OF n SKIP LOCKED),"
            " cand AS (SELECT id, row_number() OVER (ORDER BY due_at, id) AS rank FROM locked)"
            " UPDATE notifications n SET attempts = n.attempts + 1,"
            "  lease_until = now() + make_interval(secs => %(lease)s * cand.rank)"
            " FROM cand WHERE n.id = cand.id RETURNING n.*",
            {"channels": channel_names, "batch": batch, "lease": lease_s},
        ).fetchall()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        conn.execute(
            "UPDATE notification_attempts SET outcome = 'interrupted',"
            " answer = 'the worker stopped before it recorded an answer'"
            " WHERE notification_id = ANY(%s) AND outcome IS NULL",
            (ids,),
        )
        conn.execute(
            "INSERT INTO notification_attempts (notification_id, attempt, channel, worker)"
            " SELECT * FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[])",
            (ids, [r["attempts"] for r in rows], [r["channel"] for r in rows], [worker] * len(ids)),
        )
    rows.sort(key=lambda r: (r["due_at"], r["id"]))
    return [Claimed(r, r["attempts"]) for r in rows]


def record(
    conn: psycopg.Connection, claimed: Claimed, answer: Answer, settings: Settings
) -> str | None:
    """Finish the attempt and move the row to its next state; audit a final outcome.
    Returns the row's new status, or None when the lease was lost to another worker."""
    row = claimed.row
    with conn.transaction():
        now = conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]
        conn.execute(
            "UPDATE notification_attempts SET finished_at = %s, outcome = %s, status_code = %s,"
            " answer = %s WHERE notification_id = %s AND attempt = %s",
            (
                now,
                answer.outcome,
                answer.status_code,
                answer.answer,
                row["id"],
                claimed.attempt,
            ),
        )
        state = delivery.after_attempt(
            answer,
            claimed.attempt,
            now,
            max_attempts=settings.notify_max_attempts,
            base_s=settings.notify_backoff_base_s,
            max_s=settings.notify_backoff_max_s,
            jitter=random.random(),
        )
        updated = conn.execute(
            "UPDATE notifications SET status = %(status)s, lease_until = NULL,"
            " next_attempt_at = %(next)s, dead_reason = %(reason)s,"
            " sent_at = CASE WHEN %(status)s = 'sent' THEN %(now)s ELSE sent_at END"
            " WHERE id = %(id)s AND status = 'queued' AND attempts = %(attempt)s"
            " RETURNING id",
            {
                "status": state.status,
                "next": state.next_attempt_at,
                "reason": state.dead_reason,
                "now": now,
                "id": row["id"],
                "attempt": claimed.attempt,
            },
        ).fetchone()
        if updated is None:
            return None
        if row["channel"] == "push" and answer.status_code in (404, 410):
            conn.execute(
                "UPDATE push_subscriptions SET active = false, ended_reason = %s"
                " WHERE id::text = %s",
                (f"push service answered {answer.status_code}", row["recipient"]),
            )
        if state.status != "queued":
            audit.append(
                conn,
                actor=ACTOR,
                entity="notification",
                entity_id=row["id"],
                action="delivered" if state.status == "sent" else "dead",
                payload={
                    "channel": row["channel"],
                    "recipient": row["recipient"],
                    "kind": row["kind"],
                    "subject": row["subject"],
                    "attempts": claimed.attempt,
                    "status_code": answer.status_code,
                    "answer": answer.answer,
                    "at": now,
                    "reason": state.dead_reason,
                },
            )
    return state.status


def send(conn: psycopg.Connection, row: dict[str, Any], settings: Settings) -> Answer:
    """Hand one row to its channel."""
    message = channels.Message(
        id=row["id"],
        channel=row["channel"],
        recipient=row["recipient"],
        customer_id=row["customer_id"],
        subject=row["subject"],
        kind=row["kind"],
        body=row["body"],
        created_at=row["created_at"].isoformat(),
    )
    if row["channel"] == "sms":
        return channels.webhook(settings, message)
    if row["channel"] == "email":
        return channels.email(settings, message)
    subscription = conn.execute(
        "SELECT endpoint, p256dh, auth, active FROM push_subscriptions WHERE id::text = %s",
        (row["recipient"],),
    ).fetchone()
    if subscription is None or not subscription["active"]:
        return Answer("final", None, "the browser's push subscription has ended")
    return channels.web_push(settings, message, subscription, vapid.private_key_file(settings))


def run_once(conn: psycopg.Connection, settings: Settings, worker: str) -> int:
    """Claim one batch and deliver it; the number of rows tried."""
    claimed = claim(
        conn,
        worker=worker,
        channel_names=configured_channels(settings),
        batch=settings.notify_batch,
        lease_s=settings.notify_timeout_s + 5,
    )
    for item in claimed:
        answer = send(conn, item.row, settings)
        status = record(conn, item, answer, settings)
        log.info(
            "notification %s via %s: %s (%s)",
            item.row["id"],
            item.row["channel"],
            status or "lease lost",
            answer.answer[:80],
        )
    return len(claimed)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run(url: str | None = None, *, stop: threading.Event | None = None) -> None:
    """Deliver until *stop* is set (or forever), polling every ``notify_poll_s``; a lost
    database connection is made again."""
    settings = get_settings()
    stop = stop or threading.Event()
    name = worker_name()
    log.info("delivering %s as %s", ", ".join(configured_channels(settings)), name)
    while not stop.is_set():
        try:
            with psycopg.connect(
                url or settings.database_url, autocommit=True, row_factory=dict_row
            ) as conn:
                while not stop.is_set():
                    if not run_once(conn, settings, name):
                        stop.wait(settings.notify_poll_s)
        except psycopg.OperationalError as e:
            log.warning("database unreachable (%s); trying again in 5 s", e)
            stop.wait(5)
