"""Customer ratings on four dimensions; an unsatisfied one opens a call-back.

Rule (seed 004): a rating of 2 or less on any dimension is "unsatisfied" and
gets a call-back within 2 h and a plan within 24 h. ``record`` is the one way
in, for the customer's lookup route and for any other writer of ratings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from gridcrew import audit
from gridcrew.notices import messages

DIMENSIONS = ("attitude", "professional_skill", "response_speed", "process_standard")
UNSATISFIED_AT_MOST = 2
CALL_BACK_WITHIN = timedelta(hours=2)
PLAN_WITHIN = timedelta(hours=24)


class AlreadyRated(Exception):
    pass


def unsatisfied(scores: dict[str, int]) -> list[str]:
    """The dimensions rated unsatisfied (pure)."""
    return [d for d in DIMENSIONS if scores[d] <= UNSATISFIED_AT_MOST]


def record(
    conn: psycopg.Connection,
    *,
    work_order_id: int,
    stage: str,
    scores: dict[str, int],
    comment: str,
    actor: str,
) -> dict[str, Any]:
    """Store one rating and, when unsatisfied, its call-back. Call inside a transaction."""
    rating = conn.execute(
        "INSERT INTO ratings (work_order_id, stage, attitude, professional_skill, response_speed,"
        " process_standard, comment) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (work_order_id, stage) DO NOTHING RETURNING id, rated_at",
        (work_order_id, stage, *[scores[d] for d in DIMENSIONS], comment),
    ).fetchone()
    if rating is None:
        raise AlreadyRated(f"work order {work_order_id} stage {stage}")
    audit.append(
        conn,
        actor=actor,
        entity="work_order",
        entity_id=work_order_id,
        action="rated",
        payload={"rating_id": rating["id"], "stage": stage, **scores, "comment": comment},
    )
    low = unsatisfied(scores)
    call_back = None
    if low:
        call_back = open_call_back(
            conn,
            actor=actor,
            work_order_id=work_order_id,
            reason=f"unsatisfied rating ({stage}): {', '.join(low)}",
            low=low,
            at=rating["rated_at"],
            rating_id=rating["id"],
        )
    return {
        "id": rating["id"],
        "stage": stage,
        "rated_at": rating["rated_at"],
        "unsatisfied": low,
        "call_back": call_back,
    }


def open_call_back(
    conn: psycopg.Connection,
    *,
    actor: str,
    work_order_id: int,
    reason: str,
    low: list[str],
    at: datetime | None = None,
    rating_id: int | None = None,
) -> dict[str, Any]:
    """Open the call-back of an unsatisfied rating given at *at* (default now): due
    within 2 h, its plan within 24 h; audited. Call inside a transaction."""
    call_back = conn.execute(
        "INSERT INTO call_backs (work_order_id, reason, due_at, plan_due_at)"
        " SELECT %s, %s, t.at + %s, t.at + %s FROM (SELECT coalesce(%s::timestamptz, now())"
        " AS at) t RETURNING id, reason, due_at, plan_due_at, status",
        (work_order_id, reason, CALL_BACK_WITHIN, PLAN_WITHIN, at),
    ).fetchone()
    audit.append(
        conn,
        actor=actor,
        entity="call_back",
        entity_id=call_back["id"],
        action="opened",
        payload={
            "work_order_id": work_order_id,
            "rating_id": rating_id,
            "low": low,
            "reason": reason,
            "due_at": call_back["due_at"],
        },
    )
    messages.call_back(
        conn, work_order_id, call_back_id=call_back["id"], due=call_back["due_at"], actor=actor
    )
    return call_back
