"""A crew's live plan: one LISTEN per API process, fanned out to that crew's terminals.

``PlanHub`` holds one database connection that LISTENs on ``work_orders`` and
``assignments`` while at least one terminal is connected (a connection per terminal,
as the dispatcher's board does, would not scale to every crew of a utility). Each
burst of NOTIFYs names work orders; the crews that hold or held them are woken, and
each woken stream reads its crew's job list and sends it when it changed. A crew
never receives another crew's jobs. Never writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from mobile_api.board.geo import sse
from mobile_api.deps import pooled_connection
from mobile_api.jobs import service as jobs
from mobile_api.jobs.schemas import Job

log = logging.getLogger(__name__)

CHANNELS = ("work_orders", "assignments")
COALESCE_S = 0.1  # wait this long for more NOTIFYs of the same burst
CHECK_CLIENT_S = 1.0  # how often a stream looks whether its terminal has gone
KEEPALIVE_S = 15.0
RECONNECT_S = 1.0

_CREWS_OF_JOBS = (
    "SELECT DISTINCT crew_id FROM assignments WHERE work_order_id = ANY (%s) AND crew_id = ANY (%s)"
)


def job_ids(channel: str, payload: str) -> list[int]:
    """The work orders a NOTIFY of ``work_orders`` or ``assignments`` is about (pure)."""
    try:
        value = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(value, dict):
        return []
    found = value.get("changed") if channel == "assignments" else [value.get("id")]
    if not isinstance(found, list):
        return []
    return [i for i in found if isinstance(i, int) and not isinstance(i, bool)]


class PlanHub:
    """Wakes the streams of the crews whose jobs changed; runs while anyone listens."""

    def __init__(self, database_url: str, pool: AsyncConnectionPool) -> None:
        self.database_url = database_url
        self.pool = pool  # for the crews' look-up: the LISTEN connection only listens
        self.subscribers: dict[str, set[asyncio.Queue[None]]] = {}
        self.task: asyncio.Task[None] | None = None

    def subscribe(self, crew_id: str) -> asyncio.Queue[None]:
        wake: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self.subscribers.setdefault(crew_id, set()).add(wake)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return wake

    def unsubscribe(self, crew_id: str, wake: asyncio.Queue[None]) -> None:
        queues = self.subscribers.get(crew_id)
        if queues is not None:
            queues.discard(wake)
            if not queues:
                del self.subscribers[crew_id]

    def wake(self, crew_ids: list[str] | None = None) -> None:
        """Wake the given crews' streams (all when None); a stream already woken stays so."""
        for crew_id in self.subscribers if crew_ids is None else crew_ids:
            for wake in self.subscribers.get(crew_id, ()):
                if wake.empty():
                    wake.put_nowait(None)

    async def _run(self) -> None:
        while self.subscribers:
            try:
                await self._listen()
            except (psycopg.OperationalError, OSError) as e:
                log.warning("crew plan stream lost the database (%s); reconnecting", e)
                await asyncio.sleep(RECONNECT_S)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as conn:
            for channel in CHANNELS:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.wake()  # anything missed while not listening: every stream reloads once
            while self.subscribers:
                burst = [n async for n in conn.notifies(timeout=CHECK_CLIENT_S, stop_after=1)]
                if not burst:
                    continue
                burst += [n async for n in conn.notifies(timeout=COALESCE_S)]
                ids = sorted({i for n in burst for i in job_ids(n.channel, n.payload)})
                if not ids or not self.subscribers:
                    continue
                async with self.pool.connection() as query:
                    cur = await query.execute(_CREWS_OF_JOBS, (ids, list(self.subscribers)))
                    self.wake([r["crew_id"] for r in await cur.fetchall()])


def hub(app: FastAPI) -> PlanHub:
    found = getattr(app.state, "crew_plan_hub", None)
    if found is None:
        found = app.state.crew_plan_hub = PlanHub(app.state.database_url, app.state.async_pool)
    return found


async def _plan(app: FastAPI, crew_id: str) -> list[dict[str, Any]]:
    async with pooled_connection(app) as conn:
        rows = await run_in_threadpool(jobs.my_jobs, conn, crew_id)
    return [Job.model_validate(r).model_dump(mode="json") for r in rows]


async def plan_events(
    app: FastAPI,
    crew_id: str,
    expires_at: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """SSE text: ``plan`` (the crew's jobs, as ``GET /v1/jobs``) at once and after every
    change of them, keep-alives between; ``expired`` and the end when the access token
    runs out (the terminal refreshes it and reconnects)."""
    plans = hub(app)
    wake = plans.subscribe(crew_id)
    try:
        yield "retry: 3000\n\n"
        last = await _plan(app, crew_id)
        yield sse("plan", {"jobs": last})
        last_sent = time.monotonic()
        while not await is_disconnected():
            if time.time() >= expires_at:
                yield sse("expired", {"detail": "the access token has expired; refresh it"})
                return
            try:
                await asyncio.wait_for(wake.get(), CHECK_CLIENT_S)
            except TimeoutError:
                if time.monotonic() - last_sent >= KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    last_sent = time.monotonic()
                continue
            current = await _plan(app, crew_id)
            if current != last:
                last = current
                yield sse("plan", {"jobs": current})
                last_sent = time.monotonic()
    finally:
        plans.unsubscribe(crew_id, wake)
