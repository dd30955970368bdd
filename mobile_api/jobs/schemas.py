"""Shapes of a job on the crew's terminal (see docs/contracts.md, Mobile API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from mobile_api.jobs.machine import STATUSES
from mobile_api.positions.service import MAX_CLOCK_SKEW_S


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text from a terminal (PostgreSQL text cannot hold NUL)."""


def _not_ahead(value: datetime) -> datetime:
    if value > datetime.now(UTC) + timedelta(seconds=MAX_CLOCK_SKEW_S):
        raise ValueError(
            f"{value.isoformat()} is more than {MAX_CLOCK_SKEW_S} s ahead of the server;"
            " check the terminal's clock"
        )
    return value


ClientTime = Annotated[AwareDatetime, AfterValidator(_not_ahead)]
"""When a terminal says something happened: never further ahead of the server than a
position fix may be (an offline backlog is in the past, a far-future time is a bad clock)."""

Status = Literal[STATUSES]


class Customer(BaseModel):
    name: str
    phone: str


class Job(BaseModel):
    id: int
    number: str
    kind: str
    status: Status
    priority: int
    lon: float
    lat: float
    address: str
    customer: Customer | None
    required_skills: list[str]
    eta: datetime | None
    arrival_deadline: datetime | None
    sequence: int | None
    explanation: Any = None
    description: str = ""
    arrived_at: datetime | None = None
    application_number: str | None = None
    window_start: datetime | None = Field(default=None, description="appointment window (installs)")
    window_end: datetime | None = None
    due_at: datetime | None = Field(default=None, description="deadline of an install, inspection")
    allowed: list[str] = Field(description="statuses the crew may ask for next")


class CheckInRecord(BaseModel):
    id: int
    lon: float
    lat: float
    accuracy_m: float
    client_time: datetime
    server_time: datetime
    distance_m: float
    accepted: bool
    flag: str | None


class PhotoRecord(BaseModel):
    id: int
    stage: str
    content_type: str
    size_bytes: int
    sha256: str
    flags: list[str]
    uploaded_at: datetime
    has_thumbnail: bool


class JobDetail(Job):
    check_ins: list[CheckInRecord]
    photos: list[PhotoRecord]


class StatusChange(BaseModel):
    status: Status
    client_time: ClientTime = Field(description="when the crew made the change (with offset)")
    reason: Text | None = Field(default=None, max_length=2000)
