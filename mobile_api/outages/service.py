"""One-tap outage reports: find the meter, then join the open incident covering it or open one.

A report never opens a second incident for an outage already known: it
serialises on the meter's transformer, joins an open incident that covers the
meter (same transformer, or a section incident upstream of the meter's
section), answers "planned" inside a planned-outage window, and repeats the
earlier answer for a meter reported again within ``DUPLICATE_WINDOW_MIN``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gridcrew import db
from gridcrew.i18n import format_local, t
from gridcrew.notices import messages
from gridcrew.outages import NewFaultRepair, NewIncident, open_incident
from mobile_api.outages import announce

DUPLICATE_WINDOW_MIN = 30
SKILL_BY_LINE_TYPE = {"overhead": "overhead_line", "cable": "cable"}
ACTOR = "customer-report"
_ACTIVE_JOB_STATUSES = ("open", "assigned", "accepted", "en_route", "on_site")


@dataclass(frozen=True)
class Meter:
    id: str
    section_id: str
    transformer_id: str
    feeder_id: str
    customer_id: str | None
    category: str
    address: str
    service_area_id: str
    arrival_deadline_min: int
    line_type: str
    site_lon: float
    site_lat: float


def normalize_phone(phone: str) -> str:
    """Digits only, without the +86 / 0086 country prefix."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def find_meter(conn: psycopg.Connection, meter_id: str) -> Meter | None:
    row = conn.execute(
        "SELECT d.id, d.section_id, d.transformer_id, d.feeder_id, d.customer_id,"
        " coalesce(c.category, 'residential') AS category, coalesce(c.address, '') AS address,"
        " d.service_area_id, a.arrival_deadline_min, s.line_type,"
        " t.lon AS site_lon, t.lat AS site_lat"
        " FROM devices d"
        " JOIN transformers t ON t.id = d.transformer_id"
        " JOIN feeder_sections s ON s.id = d.section_id"
        " JOIN service_areas a ON a.id = d.service_area_id"
        " LEFT JOIN customers c ON c.id = d.customer_id"
        " WHERE d.id = %s AND d.kind = 'meter' AND d.active",
        (meter_id.strip().upper(),),
    ).fetchone()
    return Meter(**row) if row else None


def meters_of_phone(conn: psycopg.Connection, phone: str) -> list[str]:
    rows = conn.execute(
        "SELECT d.id FROM customers c JOIN devices d ON d.customer_id = c.id"
        " WHERE regexp_replace(c.phone, '\\D', '', 'g') = %s AND d.kind = 'meter' AND d.active"
        " ORDER BY d.id",
        (normalize_phone(phone),),
    ).fetchall()
    return [r["id"] for r in rows]


def report(
    conn: psycopg.Connection,
    meter: Meter,
    *,
    via: str,
    client_key: str,
    note: str,
    tz: ZoneInfo,
    lang: str | None = None,
) -> dict[str, Any]:
    """Record one report and answer it; the caller holds no transaction.

    A work order opened here is announced on MQTT once the transaction has
    committed (``NOTIFY work_orders`` goes out with the commit itself).
    """
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"outage:{meter.transformer_id}",)
        )
        planned = _planned_outage(conn, meter)
        if planned is not None:
            report_id = _record(
                conn, meter, via, client_key, note, "planned", planned=planned["id"]
            )
            return _answer(report_id, "planned", meter, tz, lang, planned=planned)
        incident_id = _recent_report_incident(conn, meter.id)
        outcome = "duplicate"
        if incident_id is None:
            incident_id = _covering_incident(conn, meter)
            outcome = "joined"
        work_order = None
        if incident_id is None:
            incident_id, work_order = _open_incident(conn, meter, via)
            outcome = "opened"
        elif outcome == "joined":
            _count_report(conn, incident_id)
        report_id = _record(
            conn,
            meter,
            via,
            client_key,
            note,
            outcome,
            incident=incident_id,
            work_order=work_order["id"] if work_order else None,
        )
        crew = _crew_progress(conn, incident_id)
        if outcome != "duplicate" and meter.customer_id is not None:
            messages.outage_reported(
                conn,
                meter.customer_id,
                report_id=report_id,
                meter_id=meter.id,
                outcome=outcome,
                number=crew["work_order_number"],
                eta=crew["eta"],
            )
    if work_order is not None:
        announce.work_order(work_order["id"], work_order["number"], "open", "created")
    return _answer(report_id, outcome, meter, tz, lang, incident_id=incident_id, crew=crew)


def _planned_outage(conn: psycopg.Connection, meter: Meter) -> dict[str, Any] | None:
    inside = conn.execute(
        "SELECT 1 FROM devices_in_planned_outage(ARRAY[%s], now())", (meter.id,)
    ).fetchone()
    if inside is None:
        return None
    return conn.execute(
        "WITH RECURSIVE up AS ("
        "  SELECT id, parent_section_id FROM feeder_sections WHERE id = %s"
        "  UNION"
        "  SELECT s.id, s.parent_section_id FROM feeder_sections s"
        "  JOIN up ON s.id = up.parent_section_id)"
        " SELECT p.id, p.number, p.starts_at, p.ends_at, p.reason, now() AS now"
        " FROM planned_outages p"
        " JOIN up ON up.id = p.section_id"
        " WHERE p.cancelled_at IS NULL AND now() >= p.starts_at AND now() < p.ends_at"
        " ORDER BY p.ends_at DESC LIMIT 1",
        (meter.section_id,),
    ).fetchone()


def _recent_report_incident(conn: psycopg.Connection, meter_id: str) -> int | None:
    row = conn.execute(
        "SELECT r.incident_id FROM outage_reports r JOIN incidents i ON i.id = r.incident_id"
        " WHERE r.meter_id = %s AND r.reported_at > now() - make_interval(mins => %s)"
        " AND i.status = 'open' ORDER BY r.reported_at DESC LIMIT 1",
        (meter_id, DUPLICATE_WINDOW_MIN),
    ).fetchone()
    return row["incident_id"] if row else None


def _covering_incident(conn: psycopg.Connection, meter: Meter) -> int | None:
    """The open incident covering the meter: its transformer's, else the nearest section up."""
    row = conn.execute(
        "WITH RECURSIVE up AS ("
        "  SELECT id, parent_section_id, 0 AS distance FROM feeder_sections WHERE id = %(section)s"
        "  UNION ALL"
        "  SELECT s.id, s.parent_section_id, up.distance + 1 FROM feeder_sections s"
        "  JOIN up ON s.id = up.parent_section_id)"
        " SELECT i.id FROM incidents i LEFT JOIN up ON up.id = i.section_id"
        " WHERE i.status = 'open' AND i.merged_into IS NULL"
        "   AND (i.transformer_id = %(tx)s OR (i.scope = 'section' AND up.id IS NOT NULL))"
        " ORDER BY (i.transformer_id IS NOT DISTINCT FROM %(tx)s) DESC,"
        "   up.distance NULLS LAST, i.opened_at, i.id"
        " LIMIT 1",
        {"section": meter.section_id, "tx": meter.transformer_id},
    ).fetchone()
    return row["id"] if row else None


def _count_report(conn: psycopg.Connection, incident_id: int) -> None:
    conn.execute(
        "UPDATE incidents SET details = jsonb_set(details, '{customer_reports}',"
        " to_jsonb(coalesce((details->>'customer_reports')::int, 0) + 1)) WHERE id = %s",
        (incident_id,),
    )
    db.notify(conn, "incidents", {"id": incident_id, "change": "updated"})


def _open_incident(conn: psycopg.Connection, meter: Meter, via: str) -> tuple[int, dict[str, Any]]:
    critical = meter.category == "critical"
    skill = SKILL_BY_LINE_TYPE[meter.line_type]
    incident_id, work_order = open_incident(
        conn,
        actor=ACTOR,
        incident=NewIncident(
            cause="customer_report",
            scope="transformer",
            feeder_id=meter.feeder_id,
            section_id=meter.section_id,
            transformer_id=meter.transformer_id,
            meters_affected=1,
            customers_affected=1 if meter.customer_id else 0,
            critical_customers=1 if critical else 0,
            first_alarm_at=None,
            details={"reported_meter": meter.id, "customer_reports": 1},
        ),
        order=NewFaultRepair(
            priority=1 if critical else 2,
            lon=meter.site_lon,
            lat=meter.site_lat,
            required_skills=[skill],
            description=(
                f"Customer report: no power at meter {meter.id} (transformer"
                f" {meter.transformer_id}, section {meter.section_id}); no alarm had been seen"
            ),
            service_area_id=meter.service_area_id,
            arrival_deadline_min=meter.arrival_deadline_min,
            address=meter.address,
            customer_id=meter.customer_id,
        ),
        incident_audit={"cause": "customer_report", "meter": meter.id, "via": via},
        order_audit={"kind": "fault_repair", "skill": skill},
    )
    db.notify_work_order(conn, work_order["id"], "created")
    return incident_id, work_order


def _record(
    conn: psycopg.Connection,
    meter: Meter,
    via: str,
    client_key: str,
    note: str,
    outcome: str,
    *,
    incident: int | None = None,
    work_order: int | None = None,
    planned: int | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO outage_reports (meter_id, via, client_key, outcome, incident_id,"
        " work_order_id, planned_outage_id, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (meter.id, via, client_key, outcome, incident, work_order, planned, note),
    ).fetchone()
    return row["id"]


def _crew_progress(conn: psycopg.Connection, incident_id: int) -> dict[str, Any]:
    """The incident's repair jobs: the first work order, the soonest crew arrival and the
    estimated restoration the dispatcher keeps on the incident."""
    row = conn.execute(
        "SELECT min(w.number) AS work_order_number,"
        " bool_or(w.status = 'on_site') AS on_site,"
        " min(a.planned_arrival) FILTER (WHERE w.status <> 'on_site') AS eta,"
        " bool_or(a.id IS NOT NULL) AS assigned,"
        " (SELECT i.estimated_restoration FROM incidents i WHERE i.id = %s)"
        " AS estimated_restoration,"
        " now() AS now"
        " FROM work_orders w"
        " LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
        " WHERE w.incident_id = %s AND w.status = ANY(%s)",
        (incident_id, incident_id, list(_ACTIVE_JOB_STATUSES)),
    ).fetchone()
    return dict(row)


def crew_message(crew: dict[str, Any], tz: ZoneInfo, lang: str | None = None) -> tuple[str, str]:
    """(crew_status, sentence) for the customer in *lang*, times in *tz*; pure."""
    now: datetime = crew.get("now") or datetime.now(tz)
    etr: datetime | None = crew.get("estimated_restoration")
    when = {"etr": format_local(etr, tz, lang or "", now)} if etr else {}
    if crew.get("on_site"):
        key = "customer.outage_crew_on_site_etr" if etr else "customer.outage_crew_on_site"
        return "on_site", t(key, lang or "", **when)
    eta: datetime | None = crew.get("eta")
    if eta is not None:
        key = "customer.outage_crew_on_the_way_etr" if etr else "customer.outage_crew_on_the_way"
        return "on_the_way", t(key, lang or "", eta=format_local(eta, tz, lang or "", now), **when)
    if crew.get("work_order_number"):
        return "being_assigned", t("customer.outage_crew_being_assigned", lang or "")
    return "none", t("customer.outage_crew_none", lang or "")


def _answer(
    report_id: int,
    outcome: str,
    meter: Meter,
    tz: ZoneInfo,
    lang: str | None,
    *,
    incident_id: int | None = None,
    crew: dict[str, Any] | None = None,
    planned: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "report_id": report_id,
        "outcome": outcome,
        "meter_id": meter.id,
        "incident_id": incident_id,
        "work_order_number": None,
        "crew_status": None,
        "eta": None,
        "crew_eta": None,
        "estimated_restoration": None,
        "planned_outage": None,
    }
    if planned is not None:
        body["planned_outage"] = {
            k: planned[k] for k in ("number", "starts_at", "ends_at", "reason")
        }
        body["estimated_restoration"] = planned["ends_at"]
        body["message"] = t(
            "customer.outage_planned",
            lang or "",
            number=planned["number"],
            reason=planned["reason"],
            ends=format_local(planned["ends_at"], tz, lang or "", planned["now"]),
        )
        return body
    crew = crew or {}
    status, sentence = crew_message(crew, tz, lang)
    body.update(
        work_order_number=crew.get("work_order_number"),
        crew_status=status,
        eta=crew.get("eta"),
        crew_eta=crew.get("eta"),
        estimated_restoration=crew.get("estimated_restoration"),
    )
    lead = t(f"customer.outage_lead_{outcome}", lang or "")
    body["message"] = t("customer.outage_answer", lang or "", lead=lead, crew=sentence)
    return body
