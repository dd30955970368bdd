"""``/v1/planned-outages`` (dispatchers) and ``/v1/kpi/planned-outages``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from gridcrew.config import get_settings
from mobile_api.deps import DbConn, DispatcherUser
from mobile_api.planned import service
from mobile_api.problems import Problem

router = APIRouter(tags=["planned outages"])


class PlannedOutageIn(BaseModel):
    section_id: str = Field(examples=["F2-S3"])
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=3, max_length=300)

    @model_validator(mode="after")
    def _order(self) -> PlannedOutageIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CancelIn(BaseModel):
    reason: str = Field("", max_length=300)


class PlannedOutageOut(BaseModel):
    number: str
    section_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    cancelled_at: datetime | None
    customers_affected: int
    notified: int


def _tz() -> ZoneInfo:
    return get_settings().local_zone


def _problem(exc: service.PlanError) -> Problem:
    status = 404 if exc.code == "unknown_section" else 409
    if exc.code == "starts_in_the_past":
        status = 422
    return Problem(status, exc.code, str(exc))


@router.post("/v1/planned-outages", status_code=201, response_model=PlannedOutageOut)
def schedule_planned_outage(body: PlannedOutageIn, conn: DbConn, user: DispatcherUser) -> dict:
    """Schedule planned work; every downstream customer gets a notice now."""
    try:
        return service.schedule(
            conn,
            section_id=body.section_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
            actor=user.username,
            tz=_tz(),
        )
    except service.PlanError as exc:
        raise _problem(exc) from None


@router.get("/v1/planned-outages/{number}", response_model=PlannedOutageOut)
def get_planned_outage(number: str, conn: DbConn, user: DispatcherUser) -> dict:
    row = service.get(conn, number)
    if row is None:
        raise Problem(404, "unknown_planned_outage", f"no planned outage {number}")
    return row


@router.post("/v1/planned-outages/{number}/cancel", response_model=PlannedOutageOut)
def cancel_planned_outage(number: str, body: CancelIn, conn: DbConn, user: DispatcherUser) -> dict:
    """Cancel planned work; the customers who were told get a cancellation notice."""
    try:
        row = service.cancel(conn, number, actor=user.username, reason=body.reason, tz=_tz())
    except service.PlanError as exc:
        raise _problem(exc) from None
    if row is None:
        raise Problem(404, "unknown_planned_outage", f"no planned outage {number}")
    return row


@router.get("/v1/kpi/planned-outages")
def planned_outage_kpi(
    conn: DbConn,
    user: DispatcherUser,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> dict:
    """Notice rate (customers told before the start / customers affected) and lead time."""
    now = datetime.now(UTC)
    since = since or now - timedelta(days=30)
    until = until or now + timedelta(days=30)
    return service.kpi(conn, since, until)
