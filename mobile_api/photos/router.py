"""``/v1/jobs/{id}/photos``: streamed upload, the original and its thumbnail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from gridcrew.config import get_settings
from mobile_api import idempotency
from mobile_api.deps import CrewJobNoConn, CrewUser, DbConn, ReadableJob, pooled_connection
from mobile_api.idempotency import IdempotencyKey, Outcome
from mobile_api.photos import service, upload
from mobile_api.problems import Problem
from mobile_api.storage import get_storage

PhotoId = Annotated[int, Path(description="photo id", ge=1, le=2**62)]

router = APIRouter(prefix="/v1/jobs", tags=["photos"])


class Photo(BaseModel):
    id: int
    work_order_id: int
    stage: str
    content_type: str
    size_bytes: int
    sha256: str
    flags: list[str]
    exif_lon: float | None
    exif_lat: float | None
    exif_time: datetime | None
    distance_m: float | None
    uploaded_at: datetime
    has_thumbnail: bool


_MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "stage"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "stage": {"type": "string", "enum": list(service.STAGES)},
                    },
                }
            }
        },
    }
}


@router.post(
    "/{job_id}/photos",
    response_model=Photo,
    status_code=201,
    openapi_extra=_MULTIPART,
    responses={
        200: {"model": Photo, "description": "the same bytes were already uploaded"},
        413: {"description": "larger than the photo size limit"},
        422: {"description": "a canvas of more pixels than the photo bound"},
        415: {"description": "not a JPEG, PNG or HEIC image (judged from the bytes)"},
    },
)
async def upload_photo(
    job: CrewJobNoConn, user: CrewUser, request: Request, idempotency_key: IdempotencyKey = None
):
    """Upload a photo (multipart ``file`` + ``stage``), streamed to storage."""
    storage = get_storage()
    s = get_settings()
    form = await upload.receive(request, storage, s.photo_max_bytes, s.photo_max_pixels)
    stage = form.fields.get("stage", "")
    work_order_id = job.work_order_id

    def keep(conn: psycopg.Connection, stored: service.Stored | None) -> Outcome:
        with conn.transaction():

            def action() -> Outcome:
                code, row = service.keep(
                    conn, storage, user, work_order_id, stage, form.file, stored
                )
                return Outcome(code, jsonable_encoder(row))

            if idempotency_key is None:
                return action()
            printed = idempotency.fingerprint(
                "photo", work_order_id, {"stage": stage, "sha256": form.file.sha256}
            )
            return idempotency.run_once(conn, user, idempotency_key, printed, action)

    try:
        # The slow part (storage, for S3 a PutObject of up to the size limit, and
        # decoding) holds neither the job's lock nor a pooled connection, which
        # check-ins and status changes need; a plain read first says if it is needed.
        async with pooled_connection(request.app) as conn:
            worth = await run_in_threadpool(
                service.worth_storing, conn, user, work_order_id, stage, form.file
            )
        stored = None
        if worth:
            stored = await run_in_threadpool(service.store, storage, work_order_id, form.file)
        async with pooled_connection(request.app) as conn:
            outcome = await run_in_threadpool(keep, conn, stored)
    finally:
        if form.file.upload is not None:
            form.file.upload.close()  # the spool; a committed photo stays stored
    return outcome.response()


@router.get("/{job_id}/photos/{photo_id}", response_class=StreamingResponse)
def photo_original(job: ReadableJob, photo_id: PhotoId, conn: DbConn) -> StreamingResponse:
    """The photo as uploaded."""
    row = service.photo_row(conn, job.work_order_id, photo_id)
    return StreamingResponse(
        get_storage().stream(row["storage_key"]), media_type=row["content_type"]
    )


@router.get("/{job_id}/photos/{photo_id}/thumbnail", response_class=StreamingResponse)
def photo_thumbnail(job: ReadableJob, photo_id: PhotoId, conn: DbConn) -> StreamingResponse:
    """A JPEG of at most 320 px for lists (404 when the photo could not be decoded)."""
    row = service.photo_row(conn, job.work_order_id, photo_id)
    if row["thumbnail_key"] is None:
        raise Problem(404, "no_thumbnail", "this photo has no thumbnail (its image did not decode)")
    return StreamingResponse(get_storage().stream(row["thumbnail_key"]), media_type="image/jpeg")
