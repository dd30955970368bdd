"""``POST /v1/positions``: the crew terminal's GPS fixes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from mobile_api import idempotency
from mobile_api.deps import AsyncDbConn, CrewUser
from mobile_api.idempotency import IdempotencyKey
from mobile_api.positions import service

router = APIRouter(prefix="/v1", tags=["positions"])


class Position(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float = Field(ge=0, le=100_000)
    time: AwareDatetime
    speed_mps: float | None = Field(default=None, ge=0, le=200)
    heading_deg: float | None = Field(default=None, ge=0, le=360)


class Moved(BaseModel):
    moved: bool = Field(description="false when a newer fix of this crew is already known")


@router.post("/positions", response_model=Moved)
async def post_position(
    body: Position, user: CrewUser, conn: AsyncDbConn, idempotency_key: IdempotencyKey = None
):
    """Store a fix; only a fix newer than the crew's last one moves it on the map."""
    # async on the event loop, like check-ins: terminals send fixes all day long
    fix = body.model_dump()
    return await idempotency.respond_async(
        conn,
        user,
        idempotency_key,
        lambda: idempotency.fingerprint("position", None, body.model_dump(mode="json")),
        lambda: service.record_steps(user.crew_id or "", **fix),
    )
