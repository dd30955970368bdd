"""``POST /v1/jobs/{id}/check-ins``: a GPS fix judged against the job site."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mobile_api import idempotency
from mobile_api.checkins import service
from mobile_api.deps import AsyncDbConn, CrewUser, JobId
from mobile_api.idempotency import IdempotencyKey
from mobile_api.jobs.schemas import ClientTime

router = APIRouter(prefix="/v1/jobs", tags=["check-ins"])


class CheckIn(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float = Field(ge=0, le=100_000, description="the fix's horizontal accuracy")
    client_time: ClientTime


class CheckInResult(BaseModel):
    id: int
    accepted: bool
    distance_m: float
    flag: str | None = Field(description="poor_accuracy or outside_geofence when not accepted")
    arrived_at: datetime | None


@router.post("/{job_id}/check-ins", response_model=CheckInResult, status_code=201)
async def check_in(
    job_id: JobId,
    body: CheckIn,
    user: CrewUser,
    conn: AsyncDbConn,
    idempotency_key: IdempotencyKey = None,
):
    """Check in at the site; outside the fence or too coarse is stored and flagged."""
    # async on the event loop: a terminal checks in often, and the two thread hand-offs
    # of a threaded handler cost more CPU than the check-in itself (docs/api.md).
    # The job (404/403/409) is checked once, locked, inside the transaction.
    fix = body.model_dump()
    return await idempotency.respond_async(
        conn,
        user,
        idempotency_key,
        lambda: idempotency.fingerprint("check_in", job_id, body.model_dump(mode="json")),
        lambda: service.check_in_steps(user, job_id, **fix),
        status=201,
    )
