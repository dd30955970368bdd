"""``GET /v1/audit/verify``: check the tamper-evident chain and name broken entries.

Read-only: this router never writes to the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gridcrew import audit
from mobile_api.deps import DbConn, DispatcherUser

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class ChainProblem(BaseModel):
    entry_id: int
    kind: str
    detail: str


class Verification(BaseModel):
    ok: bool
    entries: int
    pending: int
    problems: list[ChainProblem]


@router.get("/verify", response_model=Verification)
def verify(conn: DbConn, user: DispatcherUser) -> dict:
    """Seal what has been committed so far, then check the whole chain."""
    audit.seal_all(conn)
    with conn.transaction():
        return audit.verify(conn)
