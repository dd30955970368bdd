"""``TrackedSubject``: the number + phone-digits pair check, reusable by any customer route.

A wrong pair and an unknown number take the same code path and raise the same
problem, byte for byte; the digits are compared in constant time. Lookups are
rate-limited in the database (``mobile_api.ratelimit``), so the limits hold across
workers: per client address, and per number whatever the address.
A route using it must have a ``{number}`` path parameter.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, Header, Request

from gridcrew.config import get_settings
from mobile_api import ratelimit
from mobile_api.deps import DbConn
from mobile_api.problems import Problem

# Compared against when the number is unknown, so both cases do the same work.
_NO_DIGITS = "\x00\x00\x00\x00"
NUMBER_CHARS = 40
"""No application or work order number is longer (AP-2026-000001, WO-000005)."""


@dataclass(frozen=True)
class Subject:
    """What a customer may see: one application or one work order of theirs."""

    kind: str  # application, work_order
    number: str
    customer_id: str
    work_order_ids: tuple[int, ...]  # the work order itself, or every one of the application


def not_found() -> Problem:
    return Problem(
        404,
        "not_found",
        "no application or work order matches this number and these phone digits; "
        "check both on your receipt",
    )


# Who may follow a work order: its own customer, the customers who reported its
# outage (by meter) and every customer behind the faulted section or transformer
# (a work order opened from alarms has no customer of its own).
_WORK_ORDER_FOLLOWERS = """
WITH w AS (SELECT id, number, customer_id, incident_id FROM work_orders WHERE number = %(n)s),
i AS (SELECT i.id, i.section_id, i.transformer_id FROM incidents i JOIN w ON w.incident_id = i.id),
followers AS (
    SELECT customer_id FROM w WHERE customer_id IS NOT NULL
    UNION SELECT d.customer_id FROM outage_reports r JOIN devices d ON d.id = r.meter_id
           WHERE (r.work_order_id IN (SELECT id FROM w) OR r.incident_id IN (SELECT id FROM i))
             AND d.customer_id IS NOT NULL
    UNION SELECT customers_downstream_of(i.section_id) FROM i WHERE i.section_id IS NOT NULL
    UNION SELECT d.customer_id FROM devices d JOIN i ON d.transformer_id = i.transformer_id
           WHERE d.kind = 'meter' AND d.customer_id IS NOT NULL
)
SELECT 'work_order' AS kind, w.number, w.id, c.id AS customer_id, c.phone
FROM w JOIN followers f ON true JOIN customers c ON c.id = f.customer_id
ORDER BY (c.id = w.customer_id) DESC NULLS LAST, c.id
"""

_APPLICATION = """
SELECT 'application' AS kind, a.number, a.customer_id, c.phone,
       array(SELECT w.id FROM work_orders w WHERE w.application_number = a.number
             ORDER BY w.id) AS work_order_ids
FROM applications a JOIN customers c ON c.id = a.customer_id WHERE a.number = %(n)s
"""


def find_subject(conn: psycopg.Connection, number: str) -> list[tuple[Subject, str]]:
    """Each customer who may see the subject with this number, as the subject seen by
    them and their phone's last four digits (none when the number is unknown)."""
    if "\x00" in number:  # no stored number has one, and PostgreSQL text cannot hold it
        return []
    row = conn.execute(_APPLICATION, {"n": number}).fetchone()
    if row is not None:
        rows = [(row, tuple(row["work_order_ids"]))]
    else:
        rows = [(r, (r["id"],)) for r in conn.execute(_WORK_ORDER_FOLLOWERS, {"n": number})]
    return [
        (
            Subject(r["kind"], r["number"], r["customer_id"], ids),
            "".join(ch for ch in r["phone"] if ch.isdigit())[-4:],
        )
        for r, ids in rows
    ]


def digits_match(expected: str, given: str | None) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").strip().encode())


def match_subject(candidates: list[tuple[Subject, str]], given: str | None) -> Subject | None:
    """The subject of the first customer whose digits match, every candidate compared
    (an unknown number is compared against a dummy, so both cases do the same work)."""
    found = None
    for subject, digits in candidates or [(None, _NO_DIGITS)]:
        if digits_match(digits, given) and found is None:
            found = subject
    return found


def tracked_subject(
    number: str,
    request: Request,
    conn: DbConn,
    x_phone_last4: Annotated[
        str | None, Header(description="last four digits of the customer's phone")
    ] = None,
) -> Subject:
    settings = get_settings()
    ratelimit.check(
        conn,
        "lookup",
        ratelimit.client_key(request),
        settings.lookup_limit_per_minute,
        code="too_many_lookups",
        what="lookups",
    )
    number = number.strip().upper()
    if len(number) > NUMBER_CHARS:
        raise not_found()
    ratelimit.check(
        conn,
        "lookup_number",
        number,
        settings.lookup_limit_per_number,
        code="too_many_lookups",
        what="lookups",
        whose="of this number",
    )
    subject = match_subject(find_subject(conn, number), x_phone_last4)
    if subject is None:
        raise not_found()
    return subject


TrackedSubject = Annotated[Subject, Depends(tracked_subject)]
