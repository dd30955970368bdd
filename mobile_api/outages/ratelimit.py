"""Per-client request limits of the anonymous customer endpoints, kept in the database.

Every API worker sees the same counts because they live in ``client_hits``;
a refused request is counted too, so guessing numbers does not get cheaper.
Rows older than the window are deleted as requests come in, so the table
holds about one minute of traffic.
This module never decides who a client is: the caller passes its key, a client
address or, for a limit per looked-up number, the number itself under a scope of its own.
"""

from __future__ import annotations

import psycopg

from mobile_api.problems import Problem

WINDOW_S = 60


def check(
    conn: psycopg.Connection,
    scope: str,
    client_key: str,
    limit_per_minute: int,
    *,
    whose: str = "from this address",
) -> None:
    """Count this request; raise 429 ``rate_limited`` when the key is over its limit.
    *whose* says in the message what was counted."""
    with conn.transaction():
        conn.execute(
            "DELETE FROM client_hits WHERE scope = %s"
            " AND at < clock_timestamp() - make_interval(secs => %s)",
            (scope, WINDOW_S),
        )
        conn.execute(
            "INSERT INTO client_hits (scope, client_key) VALUES (%s, %s)", (scope, client_key)
        )
        row = conn.execute(
            "SELECT count(*) AS n FROM client_hits WHERE scope = %s AND client_key = %s",
            (scope, client_key),
        ).fetchone()
    if row["n"] > limit_per_minute:
        raise Problem(
            429,
            "rate_limited",
            f"more than {limit_per_minute} requests in a minute {whose}; try again in a minute",
            title="Too many requests",
            headers={"Retry-After": str(WINDOW_S)},
        )
