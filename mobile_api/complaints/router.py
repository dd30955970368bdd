"""Complaints: intake (customers or call-centre agents), steps, follow-up, warnings, KPI.

Customers need no account: they file a complaint and follow it with its
number and the last four digits of their phone. Steps, warnings and the KPI
are for dispatchers and admins (the complaint desk).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field

from gridcrew.config import get_settings
from mobile_api import ratelimit
from mobile_api.complaints import rules, service
from mobile_api.deps import DbConn, DispatcherUser, User, decode_access_token, oauth2_scheme
from mobile_api.problems import Problem
from mobile_api.track.deps import NUMBER_CHARS

router = APIRouter(tags=["complaints"])

Severity = Literal["minor", "moderate", "serious", "critical"]
Channel = Literal["app", "call_centre", "hotline_95598", "web", "media", "walk_in"]
Step = Literal["contact", "specialist", "plan", "resolve", "return_visit", "satisfaction"]
_STAFF_CHANNELS = {"call_centre", "hotline_95598", "media", "walk_in"}
_BACKDATE_LIMIT = timedelta(days=30)


class ComplaintIn(BaseModel):
    phone: str = Field(pattern=r"^\+?[0-9][0-9 \-]{5,19}$")
    meter_id: str | None = Field(None, max_length=40)
    channel: Channel = "app"
    category: str = Field(min_length=2, max_length=60, examples=["repair_delay"])
    description: str = Field(min_length=5, max_length=4000)
    severity: Severity = "moderate"
    public_exposure: bool = Field(False, description="reported in the media or on social media")
    complex: bool = Field(False, description="needs several departments: 4 working days")
    work_order_number: str | None = Field(None, max_length=40)
    application_number: str | None = Field(None, max_length=40)
    received_at: datetime | None = Field(
        None, description="agents only: when the call came in (default: now)"
    )


class StepIn(BaseModel):
    step: Step
    note: str = Field("", max_length=2000)
    satisfied: bool | None = Field(None, description="the satisfaction step: false reopens")


class StepOut(BaseModel):
    step: str
    at: datetime
    note: str


class ComplaintOut(BaseModel):
    number: str
    level: int
    teams: list[str]
    status: str
    received_at: datetime
    contact_due: datetime
    specialist_due: datetime
    plan_due: datetime
    resolve_due: datetime
    return_visit_due: datetime | None
    next_step: str | None
    next_due: datetime | None
    reopen_count: int
    satisfied: bool | None
    steps: list[StepOut]


class ComplaintWarning(BaseModel):
    number: str
    level: int
    teams: list[str]
    status: str
    step: str
    due_at: datetime
    warning: Literal["overdue", "near_overdue"]
    minutes_left: float


def optional_user(token: Annotated[str | None, Depends(oauth2_scheme)]) -> User | None:
    return decode_access_token(token) if token else None


def _tz() -> ZoneInfo:
    return get_settings().local_zone


def _out(conn, row: dict, *, staff: bool) -> dict:
    step, due, _ = service.pending(row)
    steps = service.steps_of(conn, row["id"])
    return {
        **row,
        "next_step": step,
        "next_due": due,
        "steps": [
            {"step": s["step"], "at": s["at"], "note": s["note"] if staff else ""} for s in steps
        ],
    }


@router.post("/v1/complaints", status_code=201, response_model=ComplaintOut)
def file_complaint(
    body: ComplaintIn,
    request: Request,
    conn: DbConn,
    user: Annotated[User | None, Depends(optional_user)],
) -> dict:
    """File a complaint; it is graded, routed to its team and given its deadlines."""
    staff = user is not None and user.is_dispatcher
    if not staff:
        ratelimit.check(
            conn, "complaint", ratelimit.client_key(request), get_settings().lookup_limit_per_minute
        )
        if body.channel in _STAFF_CHANNELS or body.received_at is not None:
            raise Problem(
                403,
                "agents_only",
                f"channel {body.channel!r} and received_at are for call-centre agents; "
                "log in as a dispatcher",
            )
    received_at = body.received_at
    if received_at is not None:
        now = datetime.now(UTC)
        if received_at.tzinfo is None or not now - _BACKDATE_LIMIT <= received_at <= now:
            raise Problem(
                422,
                "bad_received_at",
                "received_at needs a time zone and must lie within the last 30 days",
            )
    customer_id = service.find_customer(conn, body.phone, body.meter_id)
    if body.meter_id and customer_id is None:
        raise Problem(404, "unknown_meter", f"meter {body.meter_id} is not registered")
    intake = {**body.model_dump(), "customer_id": customer_id}
    row = service.create(
        conn,
        intake,
        actor=user.username if staff and user else "customer",
        received_at=received_at,
        tz=_tz(),
    )
    return _out(conn, row, staff=staff)


class ComplaintSummary(BaseModel):
    number: str
    level: int
    teams: list[str]
    status: str
    category: str
    channel: str
    received_at: datetime
    reopen_count: int


@router.get("/v1/complaints", response_model=list[ComplaintSummary])
def list_complaints(
    conn: DbConn,
    user: DispatcherUser,
    status: Annotated[str | None, Query(description="default: every open complaint")] = None,
    team: Annotated[str | None, Query(examples=["marketing"])] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict]:
    """The complaint desk's list, for one team (its routing) or all."""
    return service.listing(conn, status=status, team=team, limit=limit)


@router.get("/v1/complaints/warnings", response_model=list[ComplaintWarning])
def complaint_warnings(conn: DbConn, user: DispatcherUser) -> list[dict]:
    """Open complaints whose next step is overdue or less than a quarter of its time away."""
    return service.warnings(conn)


@router.get("/v1/complaints/{number}", response_model=ComplaintOut)
def follow_complaint(
    number: str,
    request: Request,
    conn: DbConn,
    x_phone_last4: Annotated[str | None, Header(pattern=r"^[0-9]{4}$")] = None,
    user: Annotated[User | None, Depends(optional_user)] = None,
) -> dict:
    """Follow a complaint by its number (or the application / work order it is about).

    Customers send the header X-Phone-Last4 with the last four digits of their phone.
    """
    staff = user is not None and user.is_dispatcher
    if not staff:
        settings = get_settings()
        ratelimit.check(
            conn,
            "complaint_lookup",
            ratelimit.client_key(request),
            settings.lookup_limit_per_minute,
        )
        # per number as well, whatever the address: guessing its phone digits stays slow
        ratelimit.check(
            conn,
            "complaint_lookup_number",
            number.strip().upper()[:NUMBER_CHARS],
            settings.lookup_limit_per_number,
            whose="for this number",
        )
    row = service.get(conn, number)
    if row is None or (not staff and row["phone"][-4:] != x_phone_last4):
        raise Problem(
            404,
            "complaint_not_found",
            f"no complaint {number} with these phone digits; check the number in your SMS",
        )
    return _out(conn, row, staff=staff)


@router.post("/v1/complaints/{number}/steps", response_model=ComplaintOut)
def take_step(number: str, body: StepIn, conn: DbConn, user: DispatcherUser) -> dict:
    """Record the next step of a complaint (contact, specialist, plan, resolve, ...)."""
    if body.step == "satisfaction" and body.satisfied is None:
        raise Problem(422, "satisfied_missing", "the satisfaction step needs satisfied: true/false")
    try:
        row = service.advance(
            conn,
            number,
            body.step,
            actor=user.username,
            note=body.note,
            satisfied=body.satisfied,
            tz=_tz(),
        )
    except rules.StepError as exc:
        raise Problem(409, "illegal_step", str(exc), allowed=exc.allowed) from None
    if row is None:
        raise Problem(404, "complaint_not_found", f"no complaint {number}")
    return _out(conn, row, staff=True)


@router.get("/v1/kpi/complaints")
def complaint_kpi(
    conn: DbConn,
    user: DispatcherUser,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> dict:
    """Complaints by level, on-time first contact and resolution, re-opened share."""
    until = until or datetime.now(UTC) + timedelta(seconds=1)
    since = since or until - timedelta(days=30)
    return service.kpi(conn, since, until)
