"""``/v1/notifications``: the outbox for dispatchers: queued, sent and dead rows and every
attempt to deliver them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from gridcrew.notices import outbox as service
from mobile_api.deps import DbConn, DispatcherUser
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


class Notification(BaseModel):
    id: int
    channel: str
    recipient: str
    customer_id: str | None
    subject: str
    kind: str
    body: str
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None = Field(description="delivered: the receiver accepted it")
    dedup_key: str | None
    status: Literal["queued", "sent", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    dead_reason: str | None


class Attempt(BaseModel):
    attempt: int
    channel: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: Literal["accepted", "retry", "final", "interrupted"] | None
    status_code: int | None
    answer: str


class NotificationDetail(Notification):
    attempt_log: list[Attempt]


@router.get("", response_model=list[Notification])
def list_notifications(
    conn: DbConn,
    user: DispatcherUser,
    pending: Annotated[bool | None, Query(description="only unsent (true) or sent (false)")] = None,
    status: Annotated[Literal["queued", "sent", "dead"] | None, Query()] = None,
    due: Annotated[bool, Query(description="only rows whose due time has come")] = False,
    subject: Annotated[
        str | None, Query(description="application or work-order number", pattern=r"^[^\x00]*$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict]:
    return service.list_outbox(
        conn, pending=pending, due_only=due, subject=subject, limit=limit, status=status
    )


@router.get("/counts")
def counts(conn: DbConn, user: DispatcherUser) -> dict[str, int]:
    """How many notifications are queued, sent (delivered) and dead."""
    return service.counts(conn)


@router.get("/{notification_id}", response_model=NotificationDetail)
def one(
    notification_id: Annotated[int, Path(ge=1, le=2**63 - 1)], conn: DbConn, user: DispatcherUser
) -> dict:
    """One notification with every delivery attempt (time, channel, outcome, answer)."""
    row = service.one(conn, notification_id)
    if row is None:
        raise Problem(404, "notification_not_found", f"there is no notification {notification_id}")
    return row


@router.post("/{notification_id}/sent", response_model=Notification)
def mark_sent(
    notification_id: Annotated[int, Path(ge=1, le=2**63 - 1)], conn: DbConn, user: DispatcherUser
) -> dict:
    with conn.transaction():
        row = service.mark_sent(conn, notification_id, user.username)
    if row is None:
        raise Problem(404, "notification_not_found", f"there is no notification {notification_id}")
    return row
