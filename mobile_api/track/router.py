"""``/v1/track``: customers look up their application or repair by number + phone digits.

Every route here goes through ``TrackedSubject`` (rate limit, then the pair
check); none of them needs or accepts an account. Photo bytes come only through
the storage interface (:func:`mobile_api.storage.get_storage`), never from a path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from mobile_api import ratings, sheet
from mobile_api.deps import DbConn
from mobile_api.problems import Problem
from mobile_api.storage import get_storage
from mobile_api.track import service
from mobile_api.track.deps import TrackedSubject

router = APIRouter(prefix="/v1/track", tags=["customers"])
_PRIVATE = {"Cache-Control": "private, no-store"}


@router.get("/{number}")
def track(number: str, subject: TrackedSubject, conn: DbConn, response: Response) -> dict:
    """Each stage with its owner, deadline and times, what is next, and construction photos."""
    response.headers.update(_PRIVATE)
    return service.customer_view(conn, subject)


@router.get(
    "/{number}/photos/{photo_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def photo(
    number: str,
    photo_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
    subject: TrackedSubject,
    conn: DbConn,
) -> StreamingResponse:
    """One construction photo of the customer's own application or work order, streamed."""
    row = service.customer_photo(conn, subject, photo_id)
    if row is None:
        raise Problem(
            404, "photo_not_found", f"{subject.number} has no construction photo {photo_id}"
        )
    storage = get_storage()
    try:
        present = storage.exists(row["storage_key"])
    except ValueError:
        present = False
    if not present:
        raise Problem(
            404,
            "photo_file_missing",
            f"photo {photo_id} is recorded but its file is not in the photo store",
        )
    return StreamingResponse(
        storage.stream(row["storage_key"]), media_type=row["content_type"], headers=_PRIVATE
    )


@router.get(
    "/{number}/sheet.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def signed_sheet(number: str, subject: TrackedSubject, conn: DbConn) -> Response:
    """The signed service confirmation sheet (PDF) of the customer's own repair or application."""
    row = conn.execute(
        "SELECT s.work_order_id FROM signoffs s WHERE s.work_order_id = ANY(%s)"
        " ORDER BY s.signed_at DESC LIMIT 1",
        (list(subject.work_order_ids),),
    ).fetchone()
    if row is None:
        raise Problem(404, "not_signed_off", f"{subject.number} has no signed sheet yet")
    pdf = sheet.stored_sheet(conn, row["work_order_id"])
    return Response(
        pdf,
        media_type="application/pdf",
        headers={**_PRIVATE, "Content-Disposition": f'inline; filename="{subject.number}.pdf"'},
    )


Score = Annotated[int, Field(ge=1, le=5)]


class RatingRequest(BaseModel):
    stage: str = Field(
        description="an application stage reached so far, or 'completion' for a repair"
    )
    attitude: Score
    professional_skill: Score
    response_speed: Score
    process_standard: Score
    comment: str = Field(default="", max_length=2000, pattern=r"^[^\x00]*$")


@router.post("/{number}/ratings", status_code=201)
def rate(number: str, body: RatingRequest, subject: TrackedSubject, conn: DbConn) -> dict:
    """Rate a stage on four dimensions (1-5); any score of 2 or less opens a call-back."""
    scores = body.model_dump(include=set(ratings.DIMENSIONS))
    try:
        with conn.transaction():
            return service.rate(conn, subject, body.stage, scores, body.comment)
    except service.NotRatable as e:
        raise Problem(409, "not_ratable", str(e)) from None
    except ratings.AlreadyRated:
        raise Problem(
            409, "already_rated", f"{subject.number} has already been rated on '{body.stage}'"
        ) from None
