"""The customer page's reads and writes: push subscriptions and planned outages ahead.

Only a customer's own rows; never anything about another customer.
"""

from __future__ import annotations

from typing import Any

import psycopg

from gridcrew import audit


def subscribe(
    conn: psycopg.Connection, *, customer_id: str, endpoint: str, p256dh: str, auth: str
) -> dict[str, Any]:
    """Keep a browser's subscription (a known endpoint moves to this customer, re-activated);
    audited. Call inside a transaction."""
    row = conn.execute(
        "INSERT INTO push_subscriptions (customer_id, endpoint, p256dh, auth)"
        " VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (endpoint) DO UPDATE SET customer_id = excluded.customer_id,"
        " p256dh = excluded.p256dh, auth = excluded.auth, active = true, ended_reason = NULL"
        " RETURNING id, created_at, active",
        (customer_id, endpoint, p256dh, auth),
    ).fetchone()
    audit.append(
        conn,
        actor=f"customer:{customer_id}",
        entity="push_subscription",
        entity_id=row["id"],
        action="subscribed",
        payload={"customer_id": customer_id},
    )
    return {"id": row["id"], "active": row["active"]}


def planned_outages(conn: psycopg.Connection, customer_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT p.number, p.starts_at, p.ends_at, p.reason FROM planned_outages p"
        " WHERE p.cancelled_at IS NULL AND p.ends_at > now()"
        " AND %s IN (SELECT customers_downstream_of(p.section_id))"
        " ORDER BY p.starts_at LIMIT 20",
        (customer_id,),
    ).fetchall()
