"""The correlation pass: stored alarms -> incidents -> fault-repair work orders.

Each pass reads the current dark meters and tripped fault indicators from
``device_events``, runs the pure correlation, and applies the resulting plan
in one transaction under an advisory lock, so any number of gateway workers
agree on one set of incidents. Every change is audited and announced
(``NOTIFY`` inside the transaction; the caller publishes the returned MQTT
announcements after the commit). Never touches incidents it did not open
(customer reports) and never moves a work order a crew is working on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from gateway import metrics, store
from gateway.correlation import (
    OpenIncident,
    Outage,
    Topology,
    outages,
    reconcile,
    work_order_spec,
)
from gateway.rules import FCI_RESET, FCI_TRIP, POWER_DOWN, POWER_UP
from gridcrew import audit, db
from gridcrew.grid import ServiceArea, load_service_areas
from gridcrew.notices import messages
from gridcrew.outages import NewFaultRepair, NewIncident, open_incident

ACTOR = "gateway"
LOOKBACK = timedelta(hours=12)
"""Alarms older than this no longer keep a meter dark or an indicator tripped."""
_LOCK_KEY = 0x6777_636F_7272  # "gwcorr"
_DONE = ("work_done", "signed_off", "cancelled")


@dataclass(frozen=True)
class Context:
    topology: Topology
    areas: list[ServiceArea]


def load_context(conn: psycopg.Connection) -> Context:
    with conn.transaction():
        return Context(store.load_topology(conn), load_service_areas(conn))


def latest_state(conn: psycopg.Connection, names: frozenset[str]) -> list[dict[str, Any]]:
    """Per device, its latest event among *names* within the look-back window."""
    return conn.execute(
        "SELECT DISTINCT ON (device_id) device_id, event_name, time FROM device_events"
        " WHERE event_name = ANY(%s) AND time > now() - %s"
        " ORDER BY device_id, time DESC, received_at DESC",
        (sorted(names), LOOKBACK),
    ).fetchall()


def in_planned_outage(conn: psycopg.Connection, dark: dict[str, datetime]) -> set[str]:
    """The dark meters that are inside a planned outage at the time they went dark.

    ``devices_in_planned_outage`` depends on the time only through which planned windows
    are active, so meters are grouped by that set and it is asked once per group.
    """
    if not dark:
        return set()
    windows = conn.execute(
        "SELECT starts_at, ends_at FROM planned_outages WHERE cancelled_at IS NULL"
        " AND ends_at > %s AND starts_at <= %s",
        (min(dark.values()), max(dark.values())),
    ).fetchall()
    if not windows:
        return set()
    groups: dict[tuple[int, ...], tuple[datetime, list[str]]] = {}
    for meter, at in dark.items():
        active = tuple(i for i, w in enumerate(windows) if w["starts_at"] <= at < w["ends_at"])
        if active:
            groups.setdefault(active, (at, []))[1].append(meter)
    planned: set[str] = set()
    for at, ids in groups.values():
        rows = conn.execute("SELECT devices_in_planned_outage(%s, %s) AS id", (ids, at))
        planned.update(r["id"] for r in rows)
    return planned


def open_incidents(conn: psycopg.Connection) -> list[OpenIncident]:
    rows = conn.execute(
        "SELECT id, scope, section_id, transformer_id, meters_affected, critical_customers,"
        " details FROM incidents WHERE status = 'open' AND cause = 'alarm'"
        " AND details ? 'key' ORDER BY id"
    ).fetchall()
    return [
        OpenIncident(
            id=r["id"],
            key=r["details"]["key"],
            scope=r["scope"],
            section_id=r["section_id"],
            transformer_id=r["transformer_id"],
            covers=frozenset(r["details"].get("covers", [])),
            meters_affected=r["meters_affected"],
            critical_customers=r["critical_customers"],
        )
        for r in rows
    ]


def correlation_pass(conn: psycopg.Connection, ctx: Context) -> list[dict[str, Any]]:
    """One pass, one transaction; returns the work-order announcements to publish."""
    announcements: list[dict[str, Any]] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        power = latest_state(conn, POWER_DOWN | POWER_UP)
        dark = {r["device_id"]: r["time"] for r in power if r["event_name"] in POWER_DOWN}
        for meter in in_planned_outage(conn, dark):
            del dark[meter]
        fci = latest_state(conn, FCI_TRIP | FCI_RESET)
        tripped = {r["device_id"] for r in fci if r["event_name"] in FCI_TRIP}
        plan = reconcile(outages(dark, tripped, ctx.topology), open_incidents(conn))
        if plan.empty:
            metrics.correlated(plan)
            return announcements
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        for o in plan.opened:
            announcements.append(_open(conn, o, ctx, now))
        for incident_id, o, change in plan.changed:
            announcements.extend(_change(conn, incident_id, o, change, ctx))
        for incident_id, into in plan.merged:
            announcements.extend(_merge(conn, incident_id, into))
        for incident_id in plan.closed:
            announcements.extend(_close(conn, incident_id))
    metrics.correlated(plan)
    return announcements


def _details(o: Outage) -> str:
    return json.dumps(
        {
            "key": o.key,
            "covers": sorted(o.covers),
            "indicators": list(o.indicators),
            "location": list(o.location),
        }
    )


def _announce(conn: psycopg.Connection, row: dict[str, Any], change: str) -> dict[str, Any]:
    db.notify_work_order(conn, row["id"], change)
    return {"id": row["id"], "number": row["number"], "status": row["status"], "change": change}


def _audit_and_announce(
    conn: psycopg.Connection,
    rows: list[dict[str, Any]],
    *,
    action: str,
    payload: dict[str, Any],
    change: str,
) -> list[dict[str, Any]]:
    """One audit entry and one announcement per changed work order."""
    out = []
    for wo in rows:
        audit.append(
            conn,
            actor=ACTOR,
            entity="work_order",
            entity_id=wo["id"],
            action=action,
            payload=payload,
        )
        out.append(_announce(conn, wo, change))
    return out


def _open(conn: psycopg.Connection, o: Outage, ctx: Context, now: datetime) -> dict[str, Any]:
    spec = work_order_spec(o, ctx.areas)
    _, wo = open_incident(
        conn,
        actor=ACTOR,
        incident=NewIncident(
            cause="alarm",
            scope=o.scope,
            feeder_id=o.feeder_id,
            section_id=o.section_id,
            transformer_id=o.transformer_id,
            meters_affected=len(o.meters),
            customers_affected=o.customers_affected,
            critical_customers=o.critical_customers,
            first_alarm_at=o.first_alarm_at,
            details=json.loads(_details(o)),
        ),
        order=NewFaultRepair(
            priority=spec.priority,
            lon=spec.lon,
            lat=spec.lat,
            required_skills=spec.required_skills,
            description=spec.description,
            service_area_id=spec.service_area_id,
            arrival_deadline_min=spec.arrival_deadline_min,
            reported_at=min(o.first_alarm_at, now),
        ),
        incident_audit={"key": o.key, "scope": o.scope, "meters_affected": len(o.meters)},
        order_audit=asdict(spec),
    )
    return _announce(conn, wo, "created")


def _change(
    conn: psycopg.Connection, incident_id: int, o: Outage, change: str, ctx: Context
) -> list[dict[str, Any]]:
    conn.execute(
        "UPDATE incidents SET scope = %s, feeder_id = %s, section_id = %s, transformer_id = %s,"
        " meters_affected = %s, customers_affected = %s, critical_customers = %s,"
        " first_alarm_at = least(first_alarm_at, %s), details = details || %s::jsonb"
        " WHERE id = %s",
        (
            o.scope,
            o.feeder_id,
            o.section_id,
            o.transformer_id,
            len(o.meters),
            o.customers_affected,
            o.critical_customers,
            o.first_alarm_at,
            _details(o),
            incident_id,
        ),
    )
    audit.append(
        conn,
        actor=ACTOR,
        entity="incident",
        entity_id=incident_id,
        action=change,
        payload={"key": o.key, "scope": o.scope, "meters_affected": len(o.meters)},
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "updated"})
    spec = work_order_spec(o, ctx.areas)
    rows = conn.execute(
        "UPDATE work_orders SET priority = %s, lon = %s, lat = %s, required_skills = %s,"
        " description = %s, service_area_id = %s,"
        " arrival_deadline = reported_at + make_interval(mins => %s), updated_at = now()"
        " WHERE incident_id = %s AND kind = 'fault_repair' AND status <> ALL(%s)"
        " AND (priority, lon, lat, required_skills, service_area_id)"
        " IS DISTINCT FROM (%s, %s, %s, %s::text[], %s)"
        " RETURNING id, number, status",
        (
            spec.priority,
            spec.lon,
            spec.lat,
            spec.required_skills,
            spec.description,
            spec.service_area_id,
            spec.arrival_deadline_min,
            incident_id,
            list(_DONE),
            spec.priority,
            spec.lon,
            spec.lat,
            spec.required_skills,
            spec.service_area_id,
        ),
    ).fetchall()
    return _audit_and_announce(
        conn,
        rows,
        action=change,
        payload={"incident_id": incident_id, **asdict(spec)},
        change=change,
    )


def _merge(conn: psycopg.Connection, incident_id: int, into: int) -> list[dict[str, Any]]:
    conn.execute(
        "UPDATE incidents SET status = 'closed', closed_at = now(), merged_into = %s WHERE id = %s",
        (into, incident_id),
    )
    audit.append(
        conn,
        actor=ACTOR,
        entity="incident",
        entity_id=incident_id,
        action="merged",
        payload={"into": into},
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "closed"})
    rows = conn.execute(
        "UPDATE work_orders SET status = 'cancelled', closed_at = now(), updated_at = now(),"
        " description = description || %s"
        " WHERE incident_id = %s AND status = 'open' RETURNING id, number, status",
        (f" (duplicate: merged into incident {into})", incident_id),
    ).fetchall()
    return _audit_and_announce(
        conn,
        rows,
        action="cancelled",
        payload={"reason": "duplicate", "incident_id": incident_id, "merged_into": into},
        change="status",
    )


def _close(conn: psycopg.Connection, incident_id: int) -> list[dict[str, Any]]:
    conn.execute(
        "UPDATE incidents SET status = 'closed', closed_at = now() WHERE id = %s", (incident_id,)
    )
    audit.append(
        conn, actor=ACTOR, entity="incident", entity_id=incident_id, action="closed", payload={}
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "closed"})
    rows = conn.execute(
        "UPDATE work_orders SET restored_at = now(), updated_at = now()"
        " WHERE incident_id = %s AND restored_at IS NULL RETURNING id, number, status",
        (incident_id,),
    ).fetchall()
    for row in rows:
        messages.power_restored(conn, row["id"], actor=ACTOR)
    return _audit_and_announce(
        conn, rows, action="restored", payload={"incident_id": incident_id}, change="updated"
    )
