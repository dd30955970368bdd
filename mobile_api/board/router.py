"""``/v1/board``: the dispatcher's GeoJSON board, its SSE stream, job timelines and pins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from mobile_api.board import service, stream
from mobile_api.deps import DbConn, DispatcherUser, User, decode_access_token, oauth2_scheme
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/board", tags=["board"])


class PinRequest(BaseModel):
    work_order_id: int
    crew_id: str


def stream_user(
    header_token: Annotated[str | None, Depends(oauth2_scheme)],
    access_token: Annotated[
        str | None, Query(description="for EventSource, which cannot send headers")
    ] = None,
) -> User:
    token = header_token or access_token
    if not token:
        raise Problem(
            401,
            "not_authenticated",
            "log in first: POST /v1/auth/token, then send the Bearer header or ?access_token=",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = decode_access_token(token)
    if not user.is_dispatcher:
        raise Problem(403, "dispatcher_only", "this needs a dispatcher or admin account")
    return user


@router.get("")
def board(conn: DbConn, user: DispatcherUser) -> dict[str, Any]:
    """GeoJSON FeatureCollection; ``properties.layer`` says what each feature is."""
    return service.board(conn)


@router.get("/kpi")
def kpi(conn: DbConn, user: DispatcherUser) -> dict[str, Any]:
    """The map's KPI strip: on-time share today (urban / rural), open jobs, crews."""
    return service.kpi_strip(conn)


@router.get("/stream")
def board_stream(
    request: Request, user: Annotated[User, Depends(stream_user)]
) -> StreamingResponse:
    """Server-sent events: ``hello``, then one ``change`` per burst of NOTIFYs."""
    return StreamingResponse(
        stream.events(
            request.app.state.database_url, request.app.state.pool, request.is_disconnected
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs/{work_order_id}/timeline")
def job_timeline(work_order_id: int, conn: DbConn, user: DispatcherUser) -> dict[str, Any]:
    return service.timeline(conn, work_order_id)


@router.post("/pins", status_code=201)
def create_pin(body: PinRequest, conn: DbConn, user: DispatcherUser) -> dict[str, Any]:
    """Pin a job to a crew; the dispatcher obeys ``dispatch_constraints`` and re-plans."""
    with conn.transaction():
        return service.pin(conn, body.work_order_id, body.crew_id, user.username)


@router.delete("/pins/{work_order_id}")
def delete_pin(work_order_id: int, conn: DbConn, user: DispatcherUser) -> dict[str, Any]:
    with conn.transaction():
        return service.unpin(conn, work_order_id, user.username)
