"""Per-key request limits of the anonymous endpoints (customer lookups, outage reports,
complaints), kept in the database: every API worker sees the same counts in ``client_hits``.

A refused request is counted too, so guessing numbers does not get cheaper; rows older
than the window are deleted as requests come in, so the table holds about one minute of
traffic. This module never decides who a client is: the caller passes its key, a client
address (``client_key``) or, for a limit per looked-up number, the number itself under a
scope of its own.
"""

from __future__ import annotations

import psycopg
from fastapi import Request

from mobile_api.problems import Problem

WINDOW_S = 60


def client_key(request: Request) -> str:
    """The client address (uvicorn replaces it with X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"


def check(
    conn: psycopg.Connection,
    scope: str,
    key: str,
    limit_per_minute: int,
    *,
    code: str = "rate_limited",
    what: str = "requests",
    whose: str = "from this address",
) -> None:
    """Count this request; 429 *code* with Retry-After when *key* is over its limit in
    *scope*. *what* and *whose* say in the message what was counted."""
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('rate:' || %s || ':' || %s))", (scope, key)
        )
        conn.execute(
            "DELETE FROM client_hits WHERE scope = %s AND client_key = %s"
            " AND at < clock_timestamp() - make_interval(secs => %s)",
            (scope, key, WINDOW_S),
        )
        # other keys' old rows, a few at a time, never waiting on another worker
        conn.execute(
            "DELETE FROM client_hits WHERE ctid = ANY(ARRAY(SELECT ctid FROM client_hits"
            " WHERE at < clock_timestamp() - make_interval(secs => %s)"
            " LIMIT 50 FOR UPDATE SKIP LOCKED))",
            (WINDOW_S,),
        )
        conn.execute("INSERT INTO client_hits (scope, client_key) VALUES (%s, %s)", (scope, key))
        row = conn.execute(
            "SELECT count(*) AS n, ceil(extract(epoch FROM min(at)"
            " + make_interval(secs => %s) - clock_timestamp()))::int AS retry_after"
            " FROM client_hits WHERE scope = %s AND client_key = %s",
            (WINDOW_S, scope, key),
        ).fetchone()
    if row["n"] > limit_per_minute:
        retry_after = max(1, row["retry_after"] or 1)
        raise Problem(
            429,
            code,
            f"at most {limit_per_minute} {what} a minute {whose}; try again in {retry_after} s",
            title="Too many requests",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
