"""``/v1/applications``: dispatchers move stages, book appointments and see warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, model_validator

from mobile_api.deps import DbConn, DispatcherUser
from mobile_api.problems import Problem
from mobile_api.track import service

router = APIRouter(prefix="/v1/applications", tags=["applications"])

BOOKING_HORIZON = timedelta(days=366)
MAX_APPOINTMENT = timedelta(days=2)

Stage = Literal["accepted", "survey", "plan", "construction", "energized"]


class StageChange(BaseModel):
    stage: Stage


class StageChanged(BaseModel):
    number: str
    from_stage: str
    stage: str
    owner: str
    reached_at: datetime
    deadline: datetime
    on_time: bool
    next_stage: str | None
    notification_id: int


class AppointmentRequest(BaseModel):
    purpose: Literal["survey", "construction", "energize"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> AppointmentRequest:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_APPOINTMENT:
            raise ValueError(f"an appointment lasts at most {MAX_APPOINTMENT}")
        now = datetime.now(UTC)
        if not now <= self.starts_at <= now + BOOKING_HORIZON:
            raise ValueError(f"starts_at must be between now and {BOOKING_HORIZON.days} days ahead")
        return self


class Reminder(BaseModel):
    notification_id: int
    due_at: datetime


class Appointment(BaseModel):
    id: int
    application_number: str
    purpose: str
    starts_at: datetime
    ends_at: datetime
    booked_by: str
    created_at: datetime
    reminder: Reminder


class StageWarning(BaseModel):
    number: str
    current_stage: str
    stage: str
    owner: str
    deadline: datetime
    minutes_left: float
    breached: bool


def _unknown(number: str) -> Problem:
    return Problem(404, "application_not_found", f"there is no application {number}")


@router.get("/warnings", response_model=list[StageWarning])
def stage_warnings(conn: DbConn, user: DispatcherUser) -> list[dict]:
    """Applications whose next stage is about to breach its deadline, or already has."""
    return service.warnings(conn)


@router.post("/{number}/stage", response_model=StageChanged)
def move_stage(number: str, body: StageChange, conn: DbConn, user: DispatcherUser) -> dict:
    """Move the application one stage forward (409 for any other move)."""
    try:
        with conn.transaction():
            return service.move_stage(conn, number, body.stage, user.username)
    except service.ApplicationNotFound:
        raise _unknown(number) from None
    except service.IllegalStageChange as e:
        raise Problem(
            409,
            "illegal_stage_change",
            f"{number} is at '{e.current}'; it can move only to the next stage, one at a time",
            current=e.current,
            allowed=e.allowed,
        ) from None


@router.post("/{number}/appointments", response_model=Appointment, status_code=201)
def book_appointment(
    number: str, body: AppointmentRequest, conn: DbConn, user: DispatcherUser
) -> dict:
    """Book an appointment with the customer; a reminder is queued for one day before."""
    try:
        with conn.transaction():
            return service.book_appointment(
                conn,
                number,
                purpose=body.purpose,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                actor=user.username,
            )
    except service.ApplicationNotFound:
        raise _unknown(number) from None
