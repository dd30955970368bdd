"""``POST /v1/sync``: a terminal's offline queue, applied in order, each action once.

Every action runs in its own savepoint under its own Idempotency-Key: a retried
batch replays the stored answers, a conflicting action (job reassigned, illegal
transition, ...) comes back with its own code, and nothing else is lost.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError

from gridcrew.db import run_steps
from mobile_api import idempotency
from mobile_api.checkins import service as checkins
from mobile_api.checkins.router import CheckIn
from mobile_api.deps import CrewUser, DbConn, User
from mobile_api.idempotency import Outcome
from mobile_api.jobs import service as jobs
from mobile_api.jobs.schemas import StatusChange
from mobile_api.positions import service as positions
from mobile_api.positions.router import Position
from mobile_api.problems import Problem
from mobile_api.signoffs import service as signoffs
from mobile_api.signoffs.schemas import SignOffRequest
from mobile_api.storage import get_storage

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["sync"])

ActionType = Literal["status", "check_in", "position", "signoff"]
_BODIES: dict[str, type[BaseModel]] = {
    "status": StatusChange,
    "check_in": CheckIn,
    "position": Position,
    "signoff": SignOffRequest,
}
_SUCCESS = {"status": 200, "check_in": 201, "position": 200, "signoff": 201}


class SyncAction(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=255, pattern=r"^[ -~]+$")
    type: ActionType
    job_id: int | None = Field(default=None, ge=1, le=2**62)
    body: dict[str, Any]


class SyncRequest(BaseModel):
    actions: list[SyncAction] = Field(max_length=500, description="oldest first")


class SyncResult(BaseModel):
    idempotency_key: str
    status: int = Field(description="what the single endpoint would have answered")
    body: Any
    replayed: bool = False


class SyncResponse(BaseModel):
    results: list[SyncResult]


def _apply(conn, user: User, action: SyncAction, body: BaseModel) -> Any:
    job_id = action.job_id
    if action.type == "position":
        return run_steps(conn, positions.record_steps(user.crew_id or "", **body.model_dump()))
    if job_id is None:
        raise Problem(422, "job_id_required", f"a {action.type} action needs job_id")
    if action.type == "status":
        assert isinstance(body, StatusChange)
        return jobs.change_status(conn, user, job_id, body.status, body.client_time, body.reason)
    if action.type == "check_in":
        return run_steps(conn, checkins.check_in_steps(user, job_id, **body.model_dump()))
    assert isinstance(body, SignOffRequest)
    return signoffs.sign_off(conn, get_storage(), user, job_id, body)


def _one(conn, user: User, action: SyncAction) -> Outcome:
    try:
        body = _BODIES[action.type].model_validate(action.body)
    except ValidationError as e:
        errors = [{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]
        problem = Problem(
            422, "validation_error", "the action's body does not match its type", errors=errors
        )
        return Outcome(422, idempotency.problem_body(problem))
    printed = idempotency.fingerprint(action.type, action.job_id, body.model_dump(mode="json"))
    return idempotency.run_once(
        conn,
        user,
        action.idempotency_key,
        printed,
        lambda: _apply(conn, user, action, body),
        status=_SUCCESS[action.type],
    )


@router.post("/sync", response_model=SyncResponse)
def sync(batch: SyncRequest, user: CrewUser, conn: DbConn) -> dict:
    """Apply queued actions in order; one result per action, in the same order."""
    results = []
    with conn.transaction():
        for action in batch.actions:
            try:
                with conn.transaction():
                    outcome = _one(conn, user, action)
            except Exception:
                log.exception("sync action %s failed", action.idempotency_key)
                outcome = Outcome(
                    500,
                    idempotency.problem_body(
                        Problem(500, "internal_error", "this action failed; send it again later")
                    ),
                )
            results.append(
                {
                    "idempotency_key": action.idempotency_key,
                    "status": outcome.status,
                    "body": outcome.body,
                    "replayed": outcome.replayed,
                }
            )
    return {"results": results}
