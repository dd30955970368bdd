"""Opening an outage incident with its fault-repair work order, in one place.

Both front doors of an outage use it: the gateway (alarms) and the customer
channels (a report on a silent meter). It runs in the caller's transaction:
both rows, both audit entries and both NOTIFYs commit together or not at all.
It decides nothing about the outage itself; callers bring the facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from gridcrew import audit, db


@dataclass(frozen=True)
class NewIncident:
    cause: str  # alarm, customer_report
    scope: str  # meter, transformer, section
    feeder_id: str | None
    section_id: str | None
    transformer_id: str | None
    meters_affected: int
    customers_affected: int
    critical_customers: int
    first_alarm_at: datetime | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewFaultRepair:
    priority: int
    lon: float
    lat: float
    required_skills: list[str]
    description: str
    service_area_id: str | None
    arrival_deadline_min: int
    reported_at: datetime | None = None  # None: now
    address: str = ""
    customer_id: str | None = None


def open_incident(
    conn: psycopg.Connection,
    *,
    actor: str,
    incident: NewIncident,
    order: NewFaultRepair,
    incident_audit: dict[str, Any],
    order_audit: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    """Insert the incident and its work order; return the incident id and the order's
    ``id, number, status, reported_at, arrival_deadline``. The caller announces the order
    (``db.notify_work_order`` and MQTT) as it sees fit; the incident is announced here."""
    incident_id = conn.execute(
        "INSERT INTO incidents (cause, scope, feeder_id, section_id, transformer_id,"
        " meters_affected, customers_affected, critical_customers, first_alarm_at, details)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()), %s) RETURNING id",
        (
            incident.cause,
            incident.scope,
            incident.feeder_id,
            incident.section_id,
            incident.transformer_id,
            incident.meters_affected,
            incident.customers_affected,
            incident.critical_customers,
            incident.first_alarm_at,
            json.dumps(incident.details),
        ),
    ).fetchone()
    incident_id = incident_id["id"] if isinstance(incident_id, dict) else incident_id[0]
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    work_order = cur.execute(
        "WITH t AS (SELECT coalesce(%s::timestamptz, now()) AS reported)"
        " INSERT INTO work_orders (kind, priority, lon, lat, address, required_skills,"
        " description, customer_id, service_area_id, incident_id, reported_at, arrival_deadline)"
        " SELECT 'fault_repair', %s, %s, %s, %s, %s, %s, %s, %s, %s, t.reported,"
        " t.reported + make_interval(mins => %s) FROM t"
        " RETURNING id, number, status, reported_at, arrival_deadline",
        (
            order.reported_at,
            order.priority,
            order.lon,
            order.lat,
            order.address,
            order.required_skills,
            order.description,
            order.customer_id,
            order.service_area_id,
            incident_id,
            order.arrival_deadline_min,
        ),
    ).fetchone()
    audit.append(
        conn,
        actor=actor,
        entity="incident",
        entity_id=incident_id,
        action="opened",
        payload=incident_audit,
    )
    audit.append(
        conn,
        actor=actor,
        entity="work_order",
        entity_id=work_order["id"],
        action="created",
        payload={
            "incident_id": incident_id,
            "number": work_order["number"],
            "reported_at": work_order["reported_at"],
            "arrival_deadline": work_order["arrival_deadline"],
            **order_audit,
        },
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "opened"})
    return incident_id, work_order


# Repairs that still have field work to do; the others are done with (or given up).
_REPAIRS_UNDER_WAY = ("open", "assigned", "accepted", "en_route", "on_site")


def close_with_repair(
    conn: psycopg.Connection, work_order_id: int, *, at: datetime, actor: str
) -> int | None:
    """The crew reported work done: an incident no meter can close (a customer's report,
    not an alarm) closes on the crew's word at *at* once none of its repairs is still
    under way, marked unverified; its repairs get ``restored_at`` = *at*. Alarm
    incidents are left to the gateway, which closes them when their meters report
    supply again. Returns the closed incident's id, or None."""
    row = conn.execute(
        "SELECT i.id FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
        " WHERE w.id = %s AND i.status = 'open' AND i.cause <> 'alarm'"
        " AND NOT EXISTS (SELECT 1 FROM work_orders o WHERE o.incident_id = i.id"
        "                 AND o.status = ANY(%s))"
        " FOR UPDATE OF i",
        (work_order_id, list(_REPAIRS_UNDER_WAY)),
    ).fetchone()
    if row is None:
        return None
    incident_id = row["id"] if isinstance(row, dict) else row[0]
    conn.execute(
        "UPDATE incidents SET status = 'closed', closed_at = %s,"
        ' details = details || \'{"restoration": "crew_reported", "verified": false}\''
        " WHERE id = %s",
        (at, incident_id),
    )
    conn.execute(
        "UPDATE work_orders SET restored_at = %s, updated_at = now()"
        " WHERE incident_id = %s AND restored_at IS NULL",
        (at, incident_id),
    )
    audit.append(
        conn,
        actor=actor,
        entity="incident",
        entity_id=incident_id,
        action="closed",
        payload={"restoration": "crew_reported", "verified": False, "at": at.isoformat()},
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "closed"})
    return incident_id
