"""Typed dependencies used by every router: the database connection and the caller.

``DbConn`` is a pooled psycopg connection in autocommit mode: a handler that
writes wraps its statements in ``with conn.transaction():`` so that the
commit happens before the response is built. A request waits for a free
connection *asynchronously* (a semaphore the size of the pool) before a thread
blocks on the pool: otherwise, under load, every worker thread can sit in
``getconn`` while the requests holding the connections wait for a thread, and
nothing moves until the pool times out;
``AsyncDbConn`` is the same for an ``async def`` handler, from the event loop's own
pool (no thread at all: the hot crew writes, check-ins and positions);
``CurrentUser`` is the authenticated caller; ``DispatcherUser`` / ``CrewUser``
narrow it by role (403 otherwise); ``ReadableJob`` / ``CrewJobNoConn`` are the job
of the path, owned by the calling crew (or read by a dispatcher), or 403/404/409.
A write that locks the job (status, check-in, sign-off) takes only ``JobId`` and
checks the job once, under its lock, in its transaction (``jobs.service.lock_job``):
a second, unlocked check first would cost a round trip and a threadpool hop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import jwt
import psycopg
from fastapi import Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer

from gridcrew.config import get_settings
from gridcrew.db import Query, Steps, run_steps
from mobile_api.problems import Problem

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
ALGORITHM = "HS256"


def connection_slots(app: FastAPI, pool: str = "pool") -> asyncio.Semaphore:
    """One slot per pooled connection; take one before taking a connection."""
    name = "connection_slots" if pool == "pool" else f"{pool}_slots"
    slots = getattr(app.state, name, None)
    if slots is None:
        slots = asyncio.Semaphore(getattr(app.state, pool).max_size)
        setattr(app.state, name, slots)
    return slots


# An idle connection goes back to the pool without a round trip (a closed one is
# dropped); one left in a transaction is rolled back first.
_RETURNS_WITHOUT_IO = (psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.UNKNOWN)


@asynccontextmanager
async def pooled_connection(
    app: FastAPI, pool_name: str = "pool"
) -> AsyncIterator[psycopg.Connection]:
    async with connection_slots(app, pool_name):
        pool = getattr(app.state, pool_name)
        conn = await run_in_threadpool(pool.getconn)
        try:
            yield conn
        finally:
            if conn.info.transaction_status in _RETURNS_WITHOUT_IO:
                pool.putconn(conn)  # no I/O to do: not worth a threadpool hop
            else:  # the pool rolls back (a round trip): off the event loop
                await run_in_threadpool(pool.putconn, conn)


async def get_conn(request: Request) -> AsyncIterator[psycopg.Connection]:
    async with pooled_connection(request.app) as conn:
        yield conn


DbConn = Annotated[psycopg.Connection, Depends(get_conn)]


async def get_read_conn(request: Request) -> AsyncIterator[psycopg.Connection]:
    """A standby's connection when ``GRIDCREW_DATABASE_READ_URL`` is set, else the primary's."""
    name = "read_pool" if getattr(request.app.state, "read_pool", None) is not None else "pool"
    async with pooled_connection(request.app, name) as conn:
        yield conn


ReadDbConn = Annotated[psycopg.Connection, Depends(get_read_conn)]
"""For handlers that never write and may read a few milliseconds behind (the KPIs)."""


async def get_async_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    async with request.app.state.async_pool.connection() as conn:
        yield conn


AsyncDbConn = Annotated[psycopg.AsyncConnection, Depends(get_async_conn)]
"""A pooled asyncio connection (autocommit, like ``DbConn``) for an ``async def`` handler
that does its database work on the event loop: no worker thread, no hand-off. The
hot, short writes use it (check-ins); a handler that blocks (files, images) must not."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    crew_id: str | None

    @property
    def is_dispatcher(self) -> bool:
        return self.role in ("dispatcher", "admin")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "not_authenticated",
        detail,
        title="Not authenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


_VERIFIED_MAX = 10_000
_verified: dict[str, tuple[float, User]] = {}
"""Access tokens whose signature and claims were checked, with their expiry: a terminal
sends the same token with every request until it refreshes it, and verifying it again
each time was a tenth of the API's CPU under load (py-spy, check-ins at 300 req/s). The
key is the whole token, so a token differing in one byte is verified in full."""


def decode_access_token(token: str) -> User:
    """The caller of a valid access token, else a 401 Problem."""
    hit = _verified.get(token)
    if hit is not None and time.time() < hit[0]:
        return hit[1]  # expired: verified again below, which says so
    user, expires = _verify_access_token(token)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (expires, user)
    return user


def _verify_access_token(token: str) -> tuple[User, float]:
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the access token has expired; refresh it") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("the access token is not valid") from None
    if claims.get("typ") != "access":
        raise _unauthorized("not an access token")
    return User(claims["sub"], claims["role"], claims.get("crew")), float(claims["exp"])


async def current_user(token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    if not token:
        raise _unauthorized("log in first: POST /v1/auth/token")
    return decode_access_token(token)


CurrentUser = Annotated[User, Depends(current_user)]


async def dispatcher_user(user: CurrentUser) -> User:
    if not user.is_dispatcher:
        raise Problem(403, "dispatcher_only", "this needs a dispatcher or admin account")
    return user


async def crew_user(user: CurrentUser) -> User:
    if user.role != "crew" or not user.crew_id:
        raise Problem(403, "crew_only", "this needs a crew account")
    return user


async def admin_user(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Problem(403, "admin_only", "this needs an admin account")
    return user


DispatcherUser = Annotated[User, Depends(dispatcher_user)]
CrewUser = Annotated[User, Depends(crew_user)]
AdminUser = Annotated[User, Depends(admin_user)]


@dataclass(frozen=True)
class JobAccess:
    """A work order the caller may touch, with the crew that holds it."""

    work_order_id: int
    status: str
    crew_id: str | None
    assignment_id: int | None
    lon: float
    lat: float
    site_polygon_wkt: str | None
    reported_at: datetime


_JOB = (
    "SELECT w.id AS work_order_id, w.status, a.crew_id, a.id AS assignment_id, w.lon, w.lat,"
    " w.site_polygon_wkt, w.reported_at,"
    # only for a job the caller does not hold (the 403 it gets): no index serves
    # past assignments, so evaluated always it scanned every assignment ever made
    " CASE WHEN a.crew_id IS DISTINCT FROM %(crew)s THEN"
    "  EXISTS (SELECT 1 FROM assignments p WHERE p.work_order_id = w.id"
    "          AND p.crew_id = %(crew)s AND NOT p.active) END AS held_before"
    " FROM work_orders w LEFT JOIN assignments a ON a.work_order_id = w.id AND a.active"
    " WHERE w.id = %(id)s"
)
RowLock = Literal["update", "key share"]
_LOCKED_JOB: dict[RowLock, str] = {
    "update": _JOB + " FOR UPDATE OF w",
    "key share": _JOB + " FOR KEY SHARE OF w",
}


def job_access(
    conn: psycopg.Connection,
    job_id: int,
    user: User,
    *,
    write: bool,
    lock: RowLock | None = None,
) -> JobAccess:
    """The job if *user* may read it (or change it when *write*), else a Problem.
    With *lock*, the work order row stays locked (FOR UPDATE or FOR KEY SHARE) until the
    caller's transaction ends."""
    return run_steps(conn, job_access_steps(job_id, user, write=write, lock=lock))


def job_access_steps(
    job_id: int, user: User, *, write: bool, lock: RowLock | None = None
) -> Steps[JobAccess]:
    """:func:`job_access` as steps (``gridcrew.db.Steps``).

    A crew may touch only the job its active assignment holds: another crew's
    job is 403 ``not_your_job``; a job the crew held before and lost (reassigned,
    declined) is 403 ``job_reassigned``: like any job not theirs (the contract's 403),
    but telling the terminal to drop it. Dispatchers read every job and change none.
    """
    row = yield Query(_LOCKED_JOB[lock] if lock else _JOB, {"id": job_id, "crew": user.crew_id})
    if row is None:
        raise Problem(404, "job_not_found", f"there is no job {job_id}")
    held_before = row.pop("held_before")
    access = JobAccess(**row)
    if user.role == "crew" and user.crew_id and row["crew_id"] == user.crew_id:
        return access
    if user.is_dispatcher and not write:
        return access
    if user.is_dispatcher:
        raise Problem(403, "crew_only", "only the crew holding the job changes it")
    if held_before:
        raise Problem(
            403,
            "job_reassigned",
            f"job {job_id} is no longer assigned to your crew; refresh your job list",
        )
    raise Problem(403, "not_your_job", f"job {job_id} is not assigned to your crew")


JobId = Annotated[int, Path(description="work order id", ge=1, le=2**62)]


def _readable_job(job_id: JobId, user: CurrentUser, conn: DbConn) -> JobAccess:
    return job_access(conn, job_id, user, write=False)


async def _crew_job_briefly(request: Request, job_id: JobId, user: CrewUser) -> JobAccess:
    async with pooled_connection(request.app) as conn:
        return await run_in_threadpool(job_access, conn, job_id, user, write=True)


ReadableJob = Annotated[JobAccess, Depends(_readable_job)]
CrewJobNoConn = Annotated[JobAccess, Depends(_crew_job_briefly)]
"""The job a crew may change, checked on a connection given back at once: for long
requests (uploads) that must not hold a pooled connection while the body arrives."""
