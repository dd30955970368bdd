"""Planned outages: write one notice per downstream customer into the outbox, in one transaction.

The customers come from the topology (``customers_downstream_of``, a
recursive walk down ``feeder_sections``); a cancellation tells exactly the
customers who were told about the outage. This module only fills the
notification outbox, and only through :mod:`gridcrew.notices.outbox`
(so every notice is audited); sending is the outbox's job.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gridcrew import audit
from gridcrew.notices import messages
from gridcrew.notices import outbox as notifications

_DOWNSTREAM = (
    "SELECT c.id, c.phone, c.language FROM customers c"
    " WHERE c.id IN (SELECT customers_downstream_of(%s)) ORDER BY c.id"
)
_TOLD = (
    "SELECT c.id, c.phone, c.language FROM planned_outage_notices n"
    " JOIN customers c ON c.id = n.customer_id"
    " WHERE n.planned_outage_id = %s AND n.kind = 'notice' ORDER BY c.id"
)


def _tell(
    conn: psycopg.Connection,
    po: dict[str, Any],
    targets: list[dict[str, Any]],
    *,
    notice: str,
    kind: str,
    params: dict[str, Any],
    actor: str,
    zone: ZoneInfo,
) -> list[str]:
    """Queue ``notify.<kind>`` to every target in their language, one batch per language
    (audited by the outbox), and record who was told."""
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    rows: list[dict[str, Any]] = []
    for lang in sorted({t["language"] for t in targets}):
        rows += notifications.enqueue_bulk(
            conn,
            actor=actor,
            recipients=[
                notifications.Recipient(t["id"], t["phone"], f"{po['number']}:{t['id']}:{notice}")
                for t in targets
                if t["language"] == lang
            ],
            subject=po["number"],
            kind=kind,
            body=messages.text(kind, lang, zone, now, number=po["number"], **params),
        )
    conn.execute(
        "INSERT INTO planned_outage_notices (planned_outage_id, customer_id, kind, notification_id)"
        " SELECT %s, customer_id, %s, id FROM unnest(%s::text[], %s::bigint[])"
        " AS n (customer_id, id)",
        (po["id"], notice, [r["customer_id"] for r in rows], [r["id"] for r in rows]),
    )
    return [r["customer_id"] for r in rows]


class PlanError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        super().__init__(detail)


def _digest(customer_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(customer_ids)).encode()).hexdigest()


def schedule(
    conn: psycopg.Connection,
    *,
    section_id: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: str,
    tz: ZoneInfo,
) -> dict[str, Any]:
    with conn.transaction():
        section = conn.execute(
            "SELECT id FROM feeder_sections WHERE id = %s", (section_id,)
        ).fetchone()
        if section is None:
            raise PlanError("unknown_section", f"feeder section {section_id} does not exist")
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        if starts_at <= now:
            raise PlanError(
                "starts_in_the_past",
                "a planned outage must start in the future so that customers are told ahead",
            )
        po = conn.execute(
            "INSERT INTO planned_outages (section_id, starts_at, ends_at, reason, created_by)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING *",
            (section_id, starts_at, ends_at, reason, actor),
        ).fetchone()
        customers = _tell(
            conn,
            po,
            conn.execute(_DOWNSTREAM, (section_id,)).fetchall(),
            notice="notice",
            kind="planned_outage",
            params={"reason": reason, "start": starts_at, "end": ends_at},
            actor=actor,
            zone=tz,
        )
        po = conn.execute(
            "UPDATE planned_outages SET customers_affected = %s WHERE id = %s RETURNING *",
            (len(customers), po["id"]),
        ).fetchone()
        audit.append(
            conn,
            actor=actor,
            entity="planned_outage",
            entity_id=po["number"],
            action="scheduled",
            payload={
                "section": section_id,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "reason": reason,
                "customers_notified": len(customers),
                "customers_sha256": _digest(customers),
            },
        )
    return {**po, "notified": len(customers)}


def cancel(
    conn: psycopg.Connection, number: str, *, actor: str, reason: str, tz: ZoneInfo
) -> dict[str, Any] | None:
    with conn.transaction():
        po = conn.execute(
            "SELECT * FROM planned_outages WHERE number = %s FOR UPDATE", (number.upper(),)
        ).fetchone()
        if po is None:
            return None
        if po["cancelled_at"] is not None:
            raise PlanError("already_cancelled", f"planned outage {po['number']} is cancelled")
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        if po["ends_at"] <= now:
            raise PlanError("already_over", f"planned outage {po['number']} is over")
        po = conn.execute(
            "UPDATE planned_outages SET cancelled_at = now() WHERE id = %s RETURNING *", (po["id"],)
        ).fetchone()
        customers = _tell(
            conn,
            po,
            conn.execute(_TOLD, (po["id"],)).fetchall(),
            notice="cancellation",
            kind="planned_outage_cancelled",
            params={"start": po["starts_at"], "reason": reason or "-"},
            actor=actor,
            zone=tz,
        )
        audit.append(
            conn,
            actor=actor,
            entity="planned_outage",
            entity_id=po["number"],
            action="cancelled",
            payload={
                "reason": reason,
                "customers_notified": len(customers),
                "customers_sha256": _digest(customers),
            },
        )
    return {**po, "notified": len(customers)}


def get(conn: psycopg.Connection, number: str) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT p.*, (SELECT count(*) FROM planned_outage_notices n"
        "  WHERE n.planned_outage_id = p.id AND n.kind = 'notice') AS notified"
        " FROM planned_outages p WHERE p.number = %s",
        (number.upper(),),
    ).fetchone()


# A notice counts as given when it was delivered (notifications.sent_at: the receiver
# accepted it) before the outage starts; queued notices are reported apart.
_KPI = """
WITH po AS (
    SELECT id, section_id, starts_at FROM planned_outages
    WHERE cancelled_at IS NULL AND starts_at >= %(since)s AND starts_at < %(until)s),
affected AS (
    SELECT po.id, po.starts_at, c.customer_id FROM po
    CROSS JOIN LATERAL customers_downstream_of(po.section_id) AS c (customer_id)),
notices AS (
    SELECT a.starts_at, m.sent_at FROM affected a
    JOIN planned_outage_notices n ON n.planned_outage_id = a.id AND n.customer_id = a.customer_id
    JOIN notifications m ON m.id = n.notification_id
    WHERE n.kind = 'notice'),
told AS (
    SELECT extract(epoch FROM starts_at - sent_at) / 3600 AS lead_h FROM notices
    WHERE sent_at < starts_at)
SELECT (SELECT count(*) FROM po) AS outages,
       (SELECT count(*) FROM affected) AS affected,
       (SELECT count(*) FROM notices) AS queued,
       (SELECT count(*) FROM told) AS notified,
       (SELECT avg(lead_h) FROM told) AS mean_lead_h,
       (SELECT min(lead_h) FROM told) AS min_lead_h
"""


def kpi(conn: psycopg.Connection, since: datetime, until: datetime) -> dict[str, Any]:
    """Planned outages starting in [since, until): notice rate and lead time of the notices.

    A customer counts as notified in advance when the notice was delivered before
    the outage started; ``notices_queued`` counts the notices written for them, sent
    or not. The customers affected are counted from today's topology, so a customer
    connected after the notices went out and never told lowers the rate.
    """
    row = conn.execute(_KPI, {"since": since, "until": until}).fetchone()
    affected = int(row["affected"])
    return {
        "since": since,
        "until": until,
        "outages": row["outages"],
        "customers_affected": affected,
        "notices_queued": row["queued"],
        "customers_notified_in_advance": row["notified"],
        "notice_rate": round(row["notified"] / affected, 4) if affected else None,
        "mean_lead_time_h": None
        if row["mean_lead_h"] is None
        else round(float(row["mean_lead_h"]), 2),
        "min_lead_time_h": None
        if row["min_lead_h"] is None
        else round(float(row["min_lead_h"]), 2),
    }
