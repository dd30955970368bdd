"""The board's server-sent-events stream: LISTEN, coalesce, push the changed features.

One dedicated async connection per connected dispatcher LISTENs on the
channels of docs/contracts.md; each batch of NOTIFYs becomes one ``change``
event carrying the features to upsert or remove. Never writes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from mobile_api.board import geo, service

CHANNELS = ("work_orders", "assignments", "crews", "incidents", "constraints")
KEEPALIVE_S = 15.0
COALESCE_S = 0.1  # wait this long for more NOTIFYs of the same burst


def _decode(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {"raw": payload}
    return value if isinstance(value, dict) else {"value": value}


def _changes(pool: ConnectionPool, notices: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    with pool.connection() as conn:
        return service.changes(conn, notices)


async def events(database_url: str, pool: ConnectionPool) -> AsyncIterator[str]:
    """Yield SSE text: ``hello`` once listening, then ``change`` per burst, keep-alives between."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
        for channel in CHANNELS:
            await aconn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        yield "retry: 2000\n\n"
        yield geo.sse("hello", {"channels": list(CHANNELS)})
        seq = 0
        while True:
            burst = [n async for n in aconn.notifies(timeout=KEEPALIVE_S, stop_after=1)]
            if not burst:
                yield ": keep-alive\n\n"
                continue
            burst += [n async for n in aconn.notifies(timeout=COALESCE_S)]
            notices = [(n.channel, _decode(n.payload)) for n in burst]
            seq += 1
            yield geo.sse("change", await run_in_threadpool(_changes, pool, notices), seq)
