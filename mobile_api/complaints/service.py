"""Complaint records: intake, steps, the customer's view, warnings and KPIs.

Every state change writes a ``complaint_steps`` row, an audit entry and a
notice to the customer in the same transaction; notices go only through
:mod:`gridcrew.notices.outbox`, which audits them. The rules (levels,
routing, deadlines, the notices' wording) come from
:mod:`mobile_api.complaints.rules` and are never re-implemented in SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gridcrew import audit
from gridcrew.notices import messages
from gridcrew.notices import outbox as notifications
from mobile_api.complaints import rules
from mobile_api.outages.service import normalize_phone

# Every column a step may change; a step passes the row with its changes applied.
_UPDATE = (
    "UPDATE complaints SET status = %(status)s, contacted_at = %(contacted_at)s,"
    " specialist_at = %(specialist_at)s, planned_at = %(planned_at)s,"
    " resolved_at = %(resolved_at)s, return_visited_at = %(return_visited_at)s,"
    " closed_at = %(closed_at)s, reopened_at = %(reopened_at)s, satisfied = %(satisfied)s,"
    " reopen_count = %(reopen_count)s, specialist_due = %(specialist_due)s,"
    " plan_due = %(plan_due)s, resolve_due = %(resolve_due)s,"
    " return_visit_due = %(return_visit_due)s"
    " WHERE id = %(id)s RETURNING *"
)


def find_customer(conn: psycopg.Connection, phone: str, meter_id: str | None) -> str | None:
    """The customer behind a complaint: the meter's, else the one registered with the phone."""
    if meter_id:
        row = conn.execute(
            "SELECT customer_id FROM devices WHERE id = %s AND kind = 'meter'",
            (meter_id.strip().upper(),),
        ).fetchone()
        return row["customer_id"] if row else None
    rows = conn.execute(
        "SELECT id FROM customers WHERE regexp_replace(phone, '\\D', '', 'g') = %s",
        (normalize_phone(phone),),
    ).fetchall()
    return rows[0]["id"] if len(rows) == 1 else None


def create(
    conn: psycopg.Connection,
    intake: dict[str, Any],
    *,
    actor: str,
    received_at: datetime | None,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """Grade, route and record a new complaint; tell the customer its number."""
    with conn.transaction():
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        received = received_at or now
        phone = normalize_phone(intake["phone"])
        repeats = conn.execute(
            "SELECT count(*) AS n FROM complaints WHERE received_at < %s AND received_at >= %s"
            " AND (customer_id = %s OR phone = %s)",
            (received, received - rules.REPEAT_WINDOW, intake["customer_id"], phone),
        ).fetchone()["n"]
        level = rules.grade(intake["severity"], repeats, intake["public_exposure"])
        due = rules.deadlines(received, level, intake["complex"], tz)
        row = conn.execute(
            "INSERT INTO complaints (customer_id, phone, channel, category, description,"
            " severity, public_exposure, repeat_count, complex, level, teams, work_order_number,"
            " application_number, received_at, contact_due, specialist_due, plan_due,"
            " resolve_due, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING *",
            (
                intake["customer_id"],
                phone,
                intake["channel"],
                intake["category"],
                intake["description"],
                intake["severity"],
                intake["public_exposure"],
                repeats,
                intake["complex"],
                level,
                list(rules.teams_for(level)),
                intake.get("work_order_number"),
                intake.get("application_number"),
                received,
                due.contact_due,
                due.specialist_due,
                due.plan_due,
                due.resolve_due,
                actor,
            ),
        ).fetchone()
        _step(conn, row, "received", actor, intake["description"][:200])
        audit.append(
            conn,
            actor=actor,
            entity="complaint",
            entity_id=row["number"],
            action="received",
            payload={
                "level": level,
                "teams": row["teams"],
                "channel": row["channel"],
                "repeat_count": repeats,
                "public_exposure": row["public_exposure"],
                "contact_due": row["contact_due"],
                "resolve_due": row["resolve_due"],
            },
        )
        notifications.enqueue(
            conn,
            actor=actor,
            recipient=phone,
            customer_id=row["customer_id"],
            subject=row["number"],
            kind="complaint_received",
            body=messages.complaint_text(
                messages.language_of(conn, row["customer_id"]),
                number=row["number"],
                action=None,
                due=row["contact_due"],
                now=row["received_at"],
            ),
            due_at=None,
            dedup_key=f"complaint:{row['number']}:received",
        )
    return row


def get(conn: psycopg.Connection, number: str) -> dict[str, Any] | None:
    """By complaint number, or the latest complaint about an application or a work order."""
    return conn.execute(
        "SELECT * FROM complaints WHERE number = %(n)s OR application_number = %(n)s"
        " OR work_order_number = %(n)s ORDER BY (number = %(n)s) DESC, received_at DESC LIMIT 1",
        {"n": number.strip().upper()},
    ).fetchone()


def listing(
    conn: psycopg.Connection, *, status: str | None, team: str | None, limit: int
) -> list[dict[str, Any]]:
    """The desk's list: open complaints (or one status), of one team or all, newest first."""
    return conn.execute(
        "SELECT * FROM complaints"
        " WHERE (%(status)s::text IS NULL AND status <> 'closed' OR status = %(status)s)"
        " AND (%(team)s::text IS NULL OR %(team)s = ANY (teams))"
        " ORDER BY received_at DESC LIMIT %(limit)s",
        {"status": status, "team": team, "limit": limit},
    ).fetchall()


def steps_of(conn: psycopg.Connection, complaint_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT step, actor, note, at FROM complaint_steps WHERE complaint_id = %s ORDER BY id",
        (complaint_id,),
    ).fetchall()


def advance(
    conn: psycopg.Connection,
    number: str,
    step: str,
    *,
    actor: str,
    note: str,
    satisfied: bool | None,
    tz: ZoneInfo,
) -> dict[str, Any] | None:
    """Take one step; None when there is no such complaint, StepError when out of order."""
    with conn.transaction():
        row = conn.execute(
            "SELECT * FROM complaints WHERE number = %s FOR UPDATE",
            (number.strip().upper(),),
        ).fetchone()
        if row is None:
            return None
        status = rules.next_status(row["status"], step, satisfied)
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        if step == "satisfaction" and satisfied is False:
            changes: dict[str, Any] = {
                "status": status,
                "satisfied": False,
                "reopen_count": row["reopen_count"] + 1,
                "reopened_at": now,
                "specialist_at": None,
                "planned_at": None,
                "resolved_at": None,
                "return_visited_at": None,
                "return_visit_due": None,
                **rules.reopened_deadlines(now, row["complex"], tz),
            }
            action = "reopened"
        else:
            changes = {"status": status, rules.DONE_COLUMN[step]: now}
            if step == "resolve":
                changes["return_visit_due"] = now + rules.RETURN_VISIT_AFTER
            if step == "satisfaction":
                changes["satisfied"] = True
            action = step
        row = conn.execute(_UPDATE, {**row, **changes}).fetchone()
        _step(conn, row, action, actor, note)
        audit.append(
            conn,
            actor=actor,
            entity="complaint",
            entity_id=row["number"],
            action=action,
            payload={"status": status, "note": note, "satisfied": satisfied},
        )
        _, next_due, _ = pending(row)
        notifications.enqueue(
            conn,
            actor=actor,
            recipient=row["phone"],
            customer_id=row["customer_id"],
            subject=row["number"],
            kind="complaint_step",
            body=messages.complaint_text(
                messages.language_of(conn, row["customer_id"]),
                number=row["number"],
                action=action,
                due=next_due,
                now=now,
            ),
            due_at=None,
            dedup_key=f"complaint:{row['number']}:{action}:{row['reopen_count']}",
        )
    return row


def _step(conn: psycopg.Connection, row: dict[str, Any], step: str, actor: str, note: str) -> None:
    conn.execute(
        "INSERT INTO complaint_steps (complaint_id, step, actor, note) VALUES (%s, %s, %s, %s)",
        (row["id"], step, actor, note),
    )


def pending(row: dict[str, Any]) -> tuple[str | None, datetime | None, datetime]:
    """(next step, its deadline, when its clock started) of a complaint."""
    expected = rules.NEXT_STEP.get(row["status"])
    if expected is None:
        return None, None, row["received_at"]
    since = max(
        t
        for t in (
            row["received_at"],
            row["reopened_at"],
            row["contacted_at"],
            row["specialist_at"],
            row["planned_at"],
            row["resolved_at"],
            row["return_visited_at"],
        )
        if t is not None
    )
    due = row[rules.DUE_OF_STATUS[row["status"]]]
    if row["status"] == "return_visited":
        # the satisfaction check follows the visit, even a late one
        due = max(due, row["return_visited_at"] + rules.RETURN_VISIT_AFTER)
    return expected[0], due, since


def warnings(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Open complaints whose pending step is overdue or near it, most urgent first."""
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    rows = conn.execute("SELECT * FROM complaints WHERE status <> 'closed'").fetchall()
    out = []
    for row in rows:
        step, due, since = pending(row)
        kind = rules.warning(now, since, due)
        if kind is None or due is None:
            continue
        out.append(
            {
                "number": row["number"],
                "level": row["level"],
                "teams": row["teams"],
                "status": row["status"],
                "step": step,
                "due_at": due,
                "warning": kind,
                "minutes_left": round((due - now).total_seconds() / 60, 1),
            }
        )
    out.sort(key=lambda w: (w["warning"] != "overdue", w["due_at"], w["level"]))
    return out


def kpi(conn: psycopg.Connection, since: datetime, until: datetime) -> dict[str, Any]:
    """Complaints received in [since, until): by level, on-time shares, re-opened share."""
    row = conn.execute(
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE level = 1) AS l1, count(*) FILTER (WHERE level = 2) AS l2,"
        " count(*) FILTER (WHERE level = 3) AS l3, count(*) FILTER (WHERE level = 4) AS l4,"
        " count(*) FILTER (WHERE contacted_at IS NOT NULL OR contact_due < now()) AS contact_due,"
        " count(*) FILTER (WHERE contacted_at <= contact_due) AS contact_on_time,"
        " count(*) FILTER (WHERE resolved_at IS NOT NULL OR resolve_due < now()) AS resolve_due,"
        " count(*) FILTER (WHERE resolved_at <= resolve_due) AS resolve_on_time,"
        " count(*) FILTER (WHERE reopen_count > 0) AS reopened"
        " FROM complaints WHERE received_at >= %s AND received_at < %s",
        (since, until),
    ).fetchone()

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "since": since,
        "until": until,
        "total": row["total"],
        "by_level": {str(level): row[f"l{level}"] for level in (1, 2, 3, 4)},
        "first_contact": {
            "due": row["contact_due"],
            "on_time": row["contact_on_time"],
            "on_time_share": share(row["contact_on_time"], row["contact_due"]),
        },
        "resolution": {
            "due": row["resolve_due"],
            "on_time": row["resolve_on_time"],
            "on_time_share": share(row["resolve_on_time"], row["resolve_due"]),
        },
        "reopened": row["reopened"],
        "reopened_share": share(row["reopened"], row["total"]),
    }
