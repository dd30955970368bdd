"""What the customer is told at each event of a repair, an installation, a complaint or a
planned outage: the ``notify.*`` text in the customer's language and local time, queued
through :mod:`gridcrew.notices.outbox` inside the caller's transaction.

One function per event, for the module where the event happens to call (outage reports,
the dispatcher, the crew's status, the gateway's restoration, the sign-off, the stage
code, appointments, ratings). :func:`text` is pure; the others only read the customer and
queue. Nothing here sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gridcrew.config import get_settings
from gridcrew.i18n import catalogue, format_local, language, t
from gridcrew.notices import outbox as outbox


def text(kind: str, lang: str, zone: ZoneInfo, now: datetime, **params: Any) -> str:
    """``notify.<kind>`` with every datetime parameter written in local time (pure)."""
    shown = {
        k: format_local(v, zone, lang, now) if isinstance(v, datetime) else v
        for k, v in params.items()
    }
    return t(f"notify.{kind}", lang, **shown)


def reminder_time(starts_at: datetime, zone: ZoneInfo, hour: int, now: datetime) -> datetime:
    """When an appointment's reminder goes out: *hour* o'clock local time the day before
    (never after the appointment, never in the past), pure."""
    local = starts_at.astimezone(zone)
    at = (local - timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return max(min(at, starts_at - timedelta(hours=1)), now)


def _now(conn: psycopg.Connection) -> datetime:
    return conn.execute("SELECT now() AS now").fetchone()["now"]


def tell(
    conn: psycopg.Connection,
    *,
    actor: str,
    customer_id: str,
    subject: str,
    kind: str,
    dedup_key: str,
    due_at: datetime | None = None,
    message: str | None = None,
    **params: Any,
) -> dict[str, Any] | None:
    """Queue ``notify.<message or kind>`` to one customer; None for an unknown customer."""
    customer = conn.execute(
        "SELECT id, phone, language FROM customers WHERE id = %s", (customer_id,)
    ).fetchone()
    if customer is None:
        return None
    zone = get_settings().local_zone
    now = _now(conn)
    extra = {k: v(customer["language"], zone, now) if callable(v) else v for k, v in params.items()}
    return outbox.enqueue(
        conn,
        actor=actor,
        recipient=customer["phone"],
        customer_id=customer["id"],
        subject=subject,
        kind=kind,
        body=text(message or kind, customer["language"], zone, now, **extra),
        due_at=due_at,
        dedup_key=dedup_key,
    )


def _work_order(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT w.id, w.number, w.customer_id, w.incident_id,"
        " array(SELECT DISTINCT d.customer_id FROM outage_reports r JOIN devices d"
        "  ON d.id = r.meter_id WHERE w.incident_id IS NOT NULL"
        "  AND r.incident_id = w.incident_id AND d.customer_id IS NOT NULL) AS reporters"
        " FROM work_orders w WHERE w.id = %s",
        (work_order_id,),
    ).fetchone()


def tell_work_order(
    conn: psycopg.Connection, work_order_id: int, kind: str, *, actor: str, key: str, **params: Any
) -> list[int]:
    """Tell the work order's customer and everyone who reported its outage; the ids queued.
    *key* makes the dedup key (``<kind>:<work order>:<key>``)."""
    wo = _work_order(conn, work_order_id)
    if wo is None:
        return []
    targets = dict.fromkeys([c for c in [wo["customer_id"], *wo["reporters"]] if c])
    ids = []
    for customer_id in targets:
        row = tell(
            conn,
            actor=actor,
            customer_id=customer_id,
            subject=wo["number"],
            kind=kind,
            dedup_key=f"{kind}:{wo['number']}:{key}:{customer_id}",
            number=wo["number"],
            **params,
        )
        if row is not None:
            ids.append(row["id"])
    return ids


def crew_assigned(
    conn: psycopg.Connection, work_order_id: int, *, crew_id: str, eta: datetime, actor: str
) -> list[int]:
    """The dispatcher gave the job to a crew (a new crew: a new message)."""
    crew = conn.execute("SELECT name FROM crews WHERE id = %s", (crew_id,)).fetchone()
    return tell_work_order(
        conn,
        work_order_id,
        "crew_assigned",
        actor=actor,
        key=crew_id,
        crew=crew["name"] if crew else crew_id,
        eta=eta,
    )


def crew_arrived(conn: psycopg.Connection, work_order_id: int, *, actor: str) -> list[int]:
    """The crew checked in as on site."""
    return tell_work_order(
        conn, work_order_id, "crew_arrived", actor=actor, key="1", time=_now(conn)
    )


def power_restored(conn: psycopg.Connection, work_order_id: int, *, actor: str) -> list[int]:
    """The outage's incident closed: the supply is back."""
    return tell_work_order(
        conn, work_order_id, "power_restored", actor=actor, key="1", time=_now(conn)
    )


def signed_off(conn: psycopg.Connection, work_order_id: int, *, actor: str) -> list[int]:
    """Done and signed: the link to the kept sheet (opened with the phone's last four)."""
    wo = _work_order(conn, work_order_id)
    link = f"/c/#{wo['number']}" if wo else "/c/"
    return tell_work_order(conn, work_order_id, "signed_off", actor=actor, key="1", link=link)


def stage_reached(
    conn: psycopg.Connection,
    *,
    number: str,
    stage: str,
    next_stage: str | None,
    next_deadline: datetime | None,
    actor: str,
) -> dict[str, Any] | None:
    """An application reached *stage* (the stage code calls this at every move)."""
    app = conn.execute(
        "SELECT customer_id FROM applications WHERE number = %s", (number,)
    ).fetchone()
    if app is None:
        return None

    def after(lang: str, zone: ZoneInfo, now: datetime) -> str:
        if next_stage is None or next_deadline is None:
            return ""
        return text(
            "stage_next",
            lang,
            zone,
            now,
            stage=t(f"notify.stage.{next_stage}", lang),
            owner=t(f"notify.owner.{next_stage}", lang),
            deadline=next_deadline,
        )

    def reached(lang: str, zone: ZoneInfo, now: datetime) -> str:
        return t(f"notify.stage.{stage}", lang)

    return tell(
        conn,
        actor=actor,
        customer_id=app["customer_id"],
        subject=number,
        kind="stage_change",
        message="stage_reached",
        dedup_key=f"stage:{number}:{stage}",
        number=number,
        stage=reached,
        next=after,
    )


def outage_reported(
    conn: psycopg.Connection,
    customer_id: str,
    *,
    report_id: int,
    meter_id: str,
    outcome: str,
    number: str | None,
    eta: datetime | None,
) -> dict[str, Any] | None:
    """The customer's report was received: a new repair opened, or joined to one under way."""

    def eta_text(lang: str, zone: ZoneInfo, now: datetime) -> str:
        if eta is None:
            return t("notify.eta_unknown", lang)
        return text("eta_known", lang, zone, now, eta=eta)

    return tell(
        conn,
        actor="customer",
        customer_id=customer_id,
        subject=number or meter_id,
        kind="outage_report_received",
        message="outage_opened" if outcome == "opened" else "outage_joined",
        dedup_key=f"outage_report:{report_id}",
        meter=meter_id,
        number=number or "-",
        eta=eta_text,
    )


def appointment_reminder(
    conn: psycopg.Connection,
    *,
    number: str,
    customer_id: str,
    appointment_id: int,
    purpose: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
) -> dict[str, Any] | None:
    """The reminder of an appointment, due the day before at ``notify_reminder_hour`` local."""
    settings = get_settings()
    due = reminder_time(starts_at, settings.local_zone, settings.notify_reminder_hour, _now(conn))
    return tell(
        conn,
        actor=actor,
        customer_id=customer_id,
        subject=number,
        kind="appointment_reminder",
        dedup_key=f"appointment:{appointment_id}:reminder",
        due_at=due,
        number=number,
        purpose=lambda lang, zone, now: catalogue(language(lang)).get(
            f"notify.stage.{purpose}", purpose
        ),
        start=lambda lang, zone, now: format_local(starts_at, zone, lang, due),
        end=lambda lang, zone, now: (
            starts_at.astimezone(zone).strftime("%H:%M")
            if starts_at.astimezone(zone).date() == ends_at.astimezone(zone).date()
            else format_local(ends_at, zone, lang, due)
        ),
    )


def call_back(
    conn: psycopg.Connection, work_order_id: int, *, call_back_id: int, due: datetime, actor: str
) -> dict[str, Any] | None:
    """An unsatisfied rating opened a call-back: tell the customer when we will call."""
    wo = conn.execute(
        "SELECT number, customer_id, application_number FROM work_orders WHERE id = %s",
        (work_order_id,),
    ).fetchone()
    if wo is None or wo["customer_id"] is None:
        return None
    number = wo["application_number"] or wo["number"]
    return tell(
        conn,
        actor=actor,
        customer_id=wo["customer_id"],
        subject=number,
        kind="call_back",
        dedup_key=f"call_back:{call_back_id}",
        number=number,
        due=due,
    )


def complaint_text(
    lang: str, *, number: str, action: str | None, due: datetime | None, now: datetime
) -> str:
    """A complaint's received notice (*action* None) or the notice of one of its steps."""
    zone = get_settings().local_zone
    if action is None:
        return text("complaint_received", lang, zone, now, number=number, due=due)
    news = t(f"notify.complaint.{action}", lang)
    if due is not None:
        news += text("complaint_next", lang, zone, now, due=due)
    return text("complaint_step", lang, zone, now, number=number, news=news)


def language_of(conn: psycopg.Connection, customer_id: str | None) -> str:
    """The customer's language (zh-CN for a caller with no account)."""
    if customer_id is None:
        return "zh-CN"
    row = conn.execute("SELECT language FROM customers WHERE id = %s", (customer_id,)).fetchone()
    return row["language"] if row else "zh-CN"
