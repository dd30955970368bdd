"""``GET|POST /v1/osmand``: positions from Traccar Client / OsmAnd; ``POST /v1/trackers``.

The tracker apps cannot log in: a position is accepted only for a tracker id
registered to a crew (403 otherwise), like Traccar's own server does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from mobile_api.deps import DbConn, DispatcherUser
from mobile_api.osmand import protocol, service
from mobile_api.problems import Problem

router = APIRouter(tags=["trackers"])


class TrackerIn(BaseModel):
    tracker_id: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    crew_id: str


class FixOut(BaseModel):
    moved: bool


async def position_fields(request: Request) -> tuple[dict[str, Any], bool]:
    """(fields, is_json): the query string merged with a form or a JSON body."""
    fields: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return fields, False
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise Problem(400, "bad_fix", "the JSON body does not parse") from None
        if not isinstance(body, dict):
            raise Problem(400, "bad_fix", "the JSON body must be an object")
        return {**fields, **body}, True
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    return fields, False


@router.get("/v1/osmand", response_model=FixOut, operation_id="osmand_position_get")
@router.post("/v1/osmand", response_model=FixOut, operation_id="osmand_position_post")
def osmand_position(
    received: Annotated[tuple[dict[str, Any], bool], Depends(position_fields)], conn: DbConn
) -> dict:
    """One position in the OsmAnd protocol (id, lat, lon, timestamp, speed, bearing, ...)."""
    now = datetime.now(UTC)
    fields, is_json = received
    try:
        fix = (
            protocol.decode_json(fields, now)
            if is_json and "location" in fields
            else protocol.decode(fields, now)
        )
    except protocol.FixError as exc:
        raise Problem(400, "bad_fix", str(exc)) from None
    crew_id = service.crew_of(conn, fix.tracker_id)
    if crew_id is None:
        raise Problem(
            403,
            "unknown_tracker",
            f"tracker {fix.tracker_id} is not registered; a dispatcher registers it with "
            "POST /v1/trackers",
        )
    return {"moved": service.store(conn, crew_id, fix)}


@router.post("/v1/trackers", status_code=201)
def register_tracker(body: TrackerIn, conn: DbConn, user: DispatcherUser) -> dict:
    """Register a tracker app's device id for a crew (moving it if it was another's)."""
    if not service.register(conn, body.tracker_id, body.crew_id, user.username):
        raise Problem(404, "unknown_crew", f"crew {body.crew_id} does not exist")
    return {"tracker_id": body.tracker_id, "crew_id": body.crew_id}
