"""The tamper-evident audit chain: append, and verify.

Each entry's hash covers its content and the previous entry's hash, so an
edited or deleted row breaks the chain at a place ``verify`` names. Appends
serialise on an advisory lock; this module never updates or deletes rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

GENESIS = "0" * 64
_LOCK_KEY = 0x6772_6964_6175  # "gridau"


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    payload: Any,
) -> str:
    body = json.dumps(
        [prev_hash, at.isoformat(), actor, entity, entity_id, action, payload],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(
    conn: psycopg.Connection,
    *,
    actor: str,
    entity: str,
    entity_id: str | int,
    action: str,
    payload: dict[str, Any] | None = None,
) -> str:
    """Append one entry inside the caller's transaction; return its hash."""
    payload = json.loads(json.dumps(payload or {}, default=str))
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = _col(row, "hash") if row else GENESIS
    at = conn.execute("SELECT date_trunc('microseconds', clock_timestamp())").fetchone()
    at_value: datetime = _col(at, "date_trunc")
    digest = entry_hash(prev, at_value, actor, entity, str(entity_id), action, payload)
    conn.execute(
        "INSERT INTO audit_log (at, actor, entity, entity_id, action, payload, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (at_value, actor, entity, str(entity_id), action, json.dumps(payload), prev, digest),
    )
    return digest


def _col(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[0]


@dataclass(frozen=True)
class Problem:
    entry_id: int
    kind: str  # edited, deleted_before, unlinked
    detail: str


def verify_rows(rows: list[dict[str, Any]]) -> list[Problem]:
    """Pure check of an ordered list of audit rows."""
    problems: list[Problem] = []
    prev = GENESIS
    prev_id = 0
    for r in rows:
        if r["prev_hash"] != prev:
            problems.append(
                Problem(
                    r["id"],
                    "deleted_before",
                    f"entry {r['id']} does not follow entry {prev_id}: "
                    "an entry between them was deleted or its hash changed",
                )
            )
        recomputed = entry_hash(
            r["prev_hash"],
            r["at"],
            r["actor"],
            r["entity"],
            r["entity_id"],
            r["action"],
            r["payload"],
        )
        if recomputed != r["hash"]:
            problems.append(
                Problem(
                    r["id"],
                    "edited",
                    f"entry {r['id']} ({r['entity']} {r['entity_id']} "
                    f"{r['action']}) was edited after it was written",
                )
            )
        prev, prev_id = r["hash"], r["id"]
    return problems


def verify(conn: psycopg.Connection) -> dict[str, Any]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute(
        "SELECT id, at, actor, entity, entity_id, action, payload, prev_hash, hash"
        " FROM audit_log ORDER BY id"
    ).fetchall()
    problems = verify_rows(rows)
    return {
        "ok": not problems,
        "entries": len(rows),
        "problems": [p.__dict__ for p in problems],
    }
