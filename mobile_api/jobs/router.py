"""``/v1/jobs``: the crew's job list, one job, and status transitions."""

from __future__ import annotations

from fastapi import APIRouter

from mobile_api import idempotency
from mobile_api.deps import CrewUser, DbConn, JobId, ReadableJob
from mobile_api.idempotency import IdempotencyKey
from mobile_api.jobs import service
from mobile_api.jobs.schemas import Job, JobDetail, StatusChange

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=list[Job])
def my_jobs(user: CrewUser, conn: DbConn) -> list[dict]:
    """My active jobs in plan order."""
    return service.my_jobs(conn, user.crew_id or "")


@router.get("/{job_id}", response_model=JobDetail)
def one_job(job: ReadableJob, conn: DbConn) -> dict:
    """One job with its check-ins and photos (the holding crew, or a dispatcher)."""
    return service.job_detail(conn, job.work_order_id)


@router.post(
    "/{job_id}/status",
    response_model=Job,
    responses={409: {"description": "illegal transition (``allowed`` lists the legal ones)"}},
)
def change_status(
    job_id: JobId,
    body: StatusChange,
    user: CrewUser,
    conn: DbConn,
    idempotency_key: IdempotencyKey = None,
):
    """Move the job through the crew's part of its life cycle."""
    return idempotency.respond(
        conn,
        user,
        idempotency_key,
        idempotency.fingerprint("status", job_id, body.model_dump(mode="json")),
        lambda: service.change_status(
            conn, user, job_id, body.status, body.client_time, body.reason
        ),
    )
