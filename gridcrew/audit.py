"""The tamper-evident audit chain: append, seal, verify.

``append`` writes an entry inside the caller's transaction and takes no lock,
so writers never queue behind each other. ``seal`` chains the committed
entries that are not sealed yet, in the order it finds them: each gets the
next sequence number, the previous entry's hash and its own SHA-256 over its
content and that hash. An edited or deleted sealed entry breaks the chain at
a place ``verify`` names. The mobile API runs a :class:`Sealer` (every half
second); ``gridcrew audit seal`` does the same from the command line. Between
its commit and its seal an entry is not yet protected: that window is the
price of check-ins not serialising on one lock.

This module never updates an entry's content and never deletes entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from gridcrew.db import Query

GENESIS = "0" * 64
_LOCK_KEY = 0x6772_6964_6175  # "gridau": one sealer at a time
SEAL_BATCH = 5000
log = logging.getLogger(__name__)


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
) -> None:
    """Append one entry inside the caller's transaction (sealed after it commits)."""
    step = entry(actor=actor, entity=entity, entity_id=entity_id, action=action, payload=payload)
    conn.execute(step.sql, step.params)


def entry(
    *,
    actor: str,
    entity: str,
    entity_id: str | int,
    action: str,
    payload: dict[str, Any] | None = None,
) -> Query:
    """:func:`append` as a step (``gridcrew.db.Steps``)."""
    return Query(
        "INSERT INTO audit_log (actor, entity, entity_id, action, payload)"
        " VALUES (%s, %s, %s, %s, %s)",
        (actor, entity, str(entity_id), action, json.dumps(payload or {}, default=str)),
    )


def seal(conn: psycopg.Connection, limit: int = SEAL_BATCH) -> int:
    """Chain up to *limit* committed, unsealed entries; return how many were sealed.

    Runs in its own transaction on *conn* (which must not be inside one).
    """
    cur = conn.cursor(row_factory=dict_row)
    with conn.transaction():
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        last = cur.execute(
            "SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
        rows = cur.execute(
            "SELECT id, at, actor, entity, entity_id, action, payload FROM audit_log"
            " WHERE seq IS NULL ORDER BY id LIMIT %s",
            (limit,),
        ).fetchall()
        ids, seqs, prevs, hashes = [], [], [], []
        for r in rows:
            seq += 1
            digest = entry_hash(
                prev, r["at"], r["actor"], r["entity"], r["entity_id"], r["action"], r["payload"]
            )
            ids.append(r["id"])
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(digest)
            prev = digest
        if ids:  # one statement for the whole batch: the lock is held as briefly as possible
            cur.execute(
                "UPDATE audit_log a SET seq = v.seq, prev_hash = v.prev, hash = v.hash"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])"
                " AS v(id, seq, prev, hash) WHERE a.id = v.id",
                (ids, seqs, prevs, hashes),
            )
    return len(ids)


def seal_all(conn: psycopg.Connection) -> int:
    total = 0
    while n := seal(conn):
        total += n
    return total


class Sealer:
    """A background thread sealing the chain every *interval* seconds."""

    def __init__(self, database_url: str, interval: float = 0.5) -> None:
        self._url = database_url
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> Sealer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.wait(self._interval):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._url, autocommit=True)
                seal_all(conn)
            except psycopg.Error as exc:  # the database may be away: try again later
                log.warning("audit sealer: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


@dataclass(frozen=True)
class Problem:
    entry_id: int
    kind: str  # edited, deleted_before
    detail: str


def verify_rows(rows: list[dict[str, Any]]) -> list[Problem]:
    """Pure check of the sealed audit rows in sequence order."""
    problems: list[Problem] = []
    prev = GENESIS
    prev_id, prev_seq = 0, 0
    for r in rows:
        if r["prev_hash"] != prev or r["seq"] != prev_seq + 1:
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
        prev, prev_id, prev_seq = r["hash"], r["id"], r["seq"]
    return problems


def verify(conn: psycopg.Connection) -> dict[str, Any]:
    """Check every sealed entry; ``pending`` counts the entries not sealed yet."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "SELECT id, seq, at, actor, entity, entity_id, action, payload, prev_hash, hash"
        " FROM audit_log WHERE seq IS NOT NULL ORDER BY seq"
    ).fetchall()
    pending = cur.execute("SELECT count(*) AS n FROM audit_log WHERE seq IS NULL").fetchone()["n"]
    problems = verify_rows(rows)
    return {
        "ok": not problems,
        "entries": len(rows),
        "pending": pending,
        "problems": [p.__dict__ for p in problems],
    }
