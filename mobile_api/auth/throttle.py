"""Login throttling: growing delays after wrong passwords, per account and per client.

The failures live in ``login_failures`` so every API worker sees them; each counts for
an hour and is kept a day, the record of who guessed at what. The delay itself is a
pure function; a throttled attempt is answered 429 at once, never by sleeping a worker,
and its password is not even checked (nor counted: a flood does not grow the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

WINDOW = "1 hour"
"""How long a failure counts; longer than the longest delay, so the delays keep growing."""
KEEP = "1 day"
KEY_CHARS = 150
"""A typed user name is kept up to this many characters (no account has a longer one)."""


@dataclass(frozen=True)
class Policy:
    free_failures: int
    """Failures of one account before its attempts wait."""
    client_free_failures: int
    """Failures from one client address, any accounts, before its attempts wait."""
    max_delay_s: int


def delay_s(failures: int, free: int, max_delay_s: int) -> int:
    """Seconds to wait after the last failure: none for the first *free*, then 1, 2, 4, ...
    doubling with each further failure, at most *max_delay_s*."""
    if failures < free:
        return 0
    return min(max_delay_s, 2 ** min(failures - free, 30))


def lock(conn: psycopg.Connection, username: str) -> None:
    """Serialize the attempts on one account until the transaction ends, so parallel
    guesses cannot all pass the check before any failure is recorded."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('login:' || %s))", (username[:KEY_CHARS],))


def wait_s(conn: psycopg.Connection, username: str, client: str, policy: Policy) -> int:
    """Seconds before this account may be tried again from this client (0: now)."""
    row = conn.execute(
        "SELECT"
        " count(*) FILTER (WHERE username = %(u)s) AS account_failures,"
        " max(at) FILTER (WHERE username = %(u)s) AS account_last,"
        " count(*) FILTER (WHERE client = %(c)s) AS client_failures,"
        " max(at) FILTER (WHERE client = %(c)s) AS client_last,"
        " clock_timestamp() AS now"
        " FROM login_failures WHERE (username = %(u)s OR client = %(c)s)"
        " AND at > clock_timestamp() - %(w)s::interval",
        {"u": username[:KEY_CHARS], "c": client, "w": WINDOW},
    ).fetchone()
    waits = [0.0]
    for failures, last, free in (
        (row["account_failures"], row["account_last"], policy.free_failures),
        (row["client_failures"], row["client_last"], policy.client_free_failures),
    ):
        delay = delay_s(failures, free, policy.max_delay_s)
        if delay and last is not None:
            waits.append(delay - (row["now"] - last).total_seconds())
    return max(0, int(-(-max(waits) // 1)))  # whole seconds, rounded up


def record_failure(conn: psycopg.Connection, username: str, client: str) -> None:
    conn.execute(
        "INSERT INTO login_failures (username, client) VALUES (%s, %s)",
        (username[:KEY_CHARS], client),
    )
    # failures older than a day, a few at a time, never waiting on another worker
    conn.execute(
        "DELETE FROM login_failures WHERE ctid = ANY(ARRAY(SELECT ctid FROM login_failures"
        " WHERE at < clock_timestamp() - %s::interval LIMIT 50 FOR UPDATE SKIP LOCKED))",
        (KEEP,),
    )
