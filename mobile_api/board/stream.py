"""The board's server-sent-events stream: LISTEN, coalesce, push the changed features.

One dedicated async connection per connected dispatcher LISTENs on the
channels of docs/contracts.md; each batch of NOTIFYs becomes one ``change``
event carrying the features to upsert or remove. The large alarm and
meters-off layers follow incident changes at most every ``LAYERS_EVERY_S``.
Never writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from gridcrew import db
from mobile_api.board import geo, service

log = logging.getLogger(__name__)

CHANNELS = ("work_orders", "assignments", "crews", "incidents", "constraints")
KEEPALIVE_S = 15.0
CHECK_CLIENT_S = 1.0  # how often to look whether the client has gone (and free its LISTEN)
COALESCE_S = 0.1  # wait this long for more NOTIFYs of the same burst
LAYERS_EVERY_S = 2.0


@dataclass
class LayerThrottle:
    """When to resend the alarm and meters-off layers: at once, then at most every *every_s*."""

    every_s: float = LAYERS_EVERY_S
    last: float = -math.inf
    pending: bool = False

    def wait_s(self, now: float, idle_s: float) -> float:
        """How long the stream may wait for the next NOTIFY."""
        if not self.pending:
            return idle_s
        return max(0.0, min(idle_s, self.last + self.every_s - now))

    def due(self, now: float, incidents_changed: bool) -> bool:
        """Whether this event carries the layers (and remember a deferred resend)."""
        wanted = self.pending or incidents_changed
        if wanted and now - self.last >= self.every_s:
            self.last, self.pending = now, False
            return True
        self.pending = wanted
        return False


def _decode(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {"raw": payload}
    return value if isinstance(value, dict) else {"value": value}


def _changes(
    pool: ConnectionPool, notices: list[tuple[str, dict[str, Any]]], replace_layers: bool
) -> dict[str, Any]:
    with pool.connection() as conn:
        return service.changes(conn, notices, replace_layers=replace_layers)


async def events(
    database_url: str, pool: ConnectionPool, is_disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[str]:
    """Yield SSE text: ``hello`` once listening, then ``change`` per burst, keep-alives between.

    When the database goes away (a failover) the stream stays open: it LISTENs again on a
    new connection and says ``hello`` again, on which the page reloads the board, so what
    changed meanwhile is not missed."""
    yield "retry: 2000\n\n"
    while not await is_disconnected():
        try:
            async for text in _listen(database_url, pool, is_disconnected):
                yield text
        except db.UNAVAILABLE as exc:
            log.warning("board stream: database unavailable (%s); listening again", exc)
            await asyncio.sleep(db.RECONNECT_MAX_S)


async def _listen(
    database_url: str, pool: ConnectionPool, is_disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[str]:
    async with await db.listening(database_url, CHANNELS) as aconn:
        yield geo.sse("hello", {"channels": list(CHANNELS)})
        seq = 0
        layers = LayerThrottle()
        last_sent = time.monotonic()
        while not await is_disconnected():
            wait = layers.wait_s(time.monotonic(), CHECK_CLIENT_S)
            burst = [n async for n in aconn.notifies(timeout=wait, stop_after=1)]
            if burst:
                burst += [n async for n in aconn.notifies(timeout=COALESCE_S)]
            notices = [(n.channel, _decode(n.payload)) for n in burst]
            incidents = any(channel == "incidents" for channel, _ in notices)
            replace_layers = layers.due(time.monotonic(), incidents)
            if notices or replace_layers:
                change = await run_in_threadpool(_changes, pool, notices, replace_layers)
                seq += 1
                yield geo.sse("change", change, seq)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
