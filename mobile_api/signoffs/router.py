"""``/v1/jobs/{id}/signoff`` and ``/v1/jobs/{id}/sheet.pdf``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from mobile_api import idempotency, sheet
from mobile_api.deps import CrewUser, DbConn, JobId, ReadableJob
from mobile_api.idempotency import IdempotencyKey
from mobile_api.problems import Problem
from mobile_api.signoffs import service
from mobile_api.signoffs.schemas import SignOff, SignOffRequest
from mobile_api.storage import get_storage

router = APIRouter(prefix="/v1/jobs", tags=["sign-off"])


@router.post(
    "/{job_id}/signoff",
    response_model=SignOff,
    status_code=201,
    responses={409: {"description": "already signed off, or the work is not done"}},
)
def sign_off(
    job_id: JobId,
    body: SignOffRequest,
    user: CrewUser,
    conn: DbConn,
    idempotency_key: IdempotencyKey = None,
):
    """The customer signs on the terminal and rates the service; final once written."""
    return idempotency.respond(
        conn,
        user,
        idempotency_key,
        idempotency.fingerprint("signoff", job_id, body.model_dump(mode="json")),
        lambda: service.sign_off(conn, get_storage(), user, job_id, body),
        status=201,
    )


@router.get("/{job_id}/signoff", response_model=SignOff)
def get_sign_off(job: ReadableJob, conn: DbConn) -> dict:
    """The job's sign-off (404 until the customer has signed)."""
    found = service.signoff_of(conn, job.work_order_id)
    if found is None:
        raise Problem(404, "not_signed_off", f"job {job.work_order_id} is not signed off yet")
    return found


@router.get(
    "/{job_id}/sheet.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def confirmation_sheet(job: ReadableJob, conn: DbConn) -> Response:
    """The service confirmation sheet (PDF) of a signed-off job, as rendered at sign-off."""
    try:
        pdf = sheet.stored_sheet(conn, job.work_order_id)
    except sheet.NotSignedOff:
        raise Problem(
            404, "not_signed_off", f"job {job.work_order_id} has no sheet until it is signed off"
        ) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="service-{job.work_order_id}.pdf"'},
    )
