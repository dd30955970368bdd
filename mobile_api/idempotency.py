"""Idempotency-Key semantics (IETF draft) for every write, single or batched.

The same caller, key and request fingerprint replay the stored answer; the same
key with another fingerprint is 422 ``idempotency_key_reused``. Answers are
stored in the caller's transaction, so an answer is stored only if its effects
commit. 5xx answers are never stored (the client may retry them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb

from gridcrew.db import Steps, run_steps_async
from mobile_api import metrics
from mobile_api.deps import User
from mobile_api.problems import Problem, problem_response

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[ -~]+$",
        description="retry safely: the same key and body replay the first answer",
    ),
]


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool = False

    def response(self) -> JSONResponse:
        media = "application/problem+json" if self.status >= 400 else "application/json"
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return JSONResponse(self.body, status_code=self.status, media_type=media, headers=headers)


def fingerprint(kind: str, job_id: int | None, body: Any) -> str:
    canonical = json.dumps([kind, job_id, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def problem_body(p: Problem) -> dict[str, Any]:
    return json.loads(
        problem_response(p.status_code, p.title, p.detail, code=p.code, **p.extra).body
    )


def run(action: Callable[[], Any], status: int = 200) -> Outcome:
    """Run *action*; a Problem becomes the outcome. *action* may return its own Outcome."""
    try:
        result = action()
        if isinstance(result, Outcome):
            return result
        return Outcome(status, jsonable_encoder(result))
    except Problem as p:
        return Outcome(p.status_code, problem_body(p))


_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))"
_FIND = (
    "SELECT fingerprint, status_code, response FROM idempotency_keys"
    " WHERE username = %s AND key = %s"
)
_STORE = (
    "INSERT INTO idempotency_keys (username, key, fingerprint, status_code, response)"
    " VALUES (%s, %s, %s, %s, %s)"
)


def _replay(row: dict[str, Any], key: str, print_: str) -> Outcome:
    """The answer to a key already used: its stored outcome, or 422 for another request."""
    if row["fingerprint"] != print_:
        return Outcome(
            422,
            problem_body(
                Problem(
                    422,
                    "idempotency_key_reused",
                    f"Idempotency-Key {key!r} was already used for a different request;"
                    " use a new key for a new action",
                )
            ),
        )
    metrics.IDEMPOTENT_REPLAYS.inc()
    return Outcome(row["status_code"], row["response"], replayed=True)


def run_once(
    conn: psycopg.Connection,
    user: User,
    key: str,
    print_: str,
    action: Callable[[], Any],
    status: int = 200,
) -> Outcome:
    """Apply *action* at most once per (user, key); the caller owns the transaction."""
    conn.execute(_LOCK, (user.username, key))
    row = conn.execute(_FIND, (user.username, key)).fetchone()
    if row is not None:
        return _replay(row, key, print_)

    def in_savepoint() -> Any:
        with conn.transaction():
            return action()

    outcome = run(in_savepoint, status)
    conn.execute(_STORE, (user.username, key, print_, outcome.status, Jsonb(outcome.body)))
    return outcome


def respond(
    conn: psycopg.Connection,
    user: User,
    key: str | None,
    print_: str,
    action: Callable[[], Any],
    status: int = 200,
) -> Any:
    """A single endpoint's answer: plain without a key, stored and replayable with one."""
    if key is None:
        with conn.transaction():
            return action()
    with conn.transaction():
        outcome = run_once(conn, user, key, print_, action, status)
    return outcome.response()


async def respond_async(
    conn: psycopg.AsyncConnection,
    user: User,
    key: str | None,
    fingerprint_of: Callable[[], str],
    steps: Callable[[], Steps[Any]],
    status: int = 200,
) -> Any:
    """:func:`respond` on an asyncio connection, for an action written as steps
    (``gridcrew.db.Steps``); the fingerprint is worked out only when there is a key."""
    if key is None:
        async with conn.transaction():
            return await run_steps_async(conn, steps())
    async with conn.transaction():
        await conn.execute(_LOCK, (user.username, key))
        row = await (await conn.execute(_FIND, (user.username, key))).fetchone()
        print_ = fingerprint_of()
        if row is not None:
            outcome = _replay(row, key, print_)
        else:
            try:
                async with conn.transaction():  # a savepoint: a refusal stores only itself
                    result = await run_steps_async(conn, steps())
                outcome = Outcome(status, jsonable_encoder(result))
            except Problem as p:
                outcome = Outcome(p.status_code, problem_body(p))
            await conn.execute(
                _STORE, (user.username, key, print_, outcome.status, Jsonb(outcome.body))
            )
    return outcome.response()
