"""Database plumbing shared by every service: connections, migrations, NOTIFY.

Holds no domain SQL; that lives in the migrations and in each domain's
service module. Parameters are always bound, never formatted in.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from gridcrew.config import get_settings

MIGRATIONS_DIR = Path(str(resources.files("schemas") / "migrations"))
log = logging.getLogger(__name__)


def database_url(url: str | None = None) -> str:
    return url or get_settings().database_url


def connect(url: str | None = None, **kwargs: Any) -> psycopg.Connection:
    """A plain connection with dict rows (callers own the transaction)."""
    kwargs.setdefault("row_factory", dict_row)
    return psycopg.connect(database_url(url), **kwargs)


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """One connection, one transaction: commit on success, roll back on error."""
    with connect(url) as conn:
        with conn.transaction():
            yield conn


UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # connection refused or cut, server shutting down or starting
    psycopg.errors.ReadOnlySqlTransaction,  # reached a node that is (now) a standby
    PoolTimeout,  # no pooled connection could be made in time
)
"""Errors that mean the database is away or changing primaries (docs/scale-out.md): the
work is retried on a new connection, never turned into a dead letter or an HTTP 500."""
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 2.0
POOL_WAIT_S = 10.0
"""How long a request waits for a pooled connection before it is answered 503 (the
database is away, or every connection is busy): a terminal is told to retry rather than
held for psycopg_pool's default 30 s."""
POOL_RECONNECT_TIMEOUT_S = 4.0
"""``reconnect_timeout`` of the services' pools. psycopg_pool doubles the delay between
attempts to replace a lost connection until this timeout (1, 2, 4, 8, 16 s ... with its
default of five minutes): after a failover whose new primary was up in 9.8 s, the API's
first answered write came at 14.6 s. Given up after 4 s, an attempt is started afresh by
the next request that waits for a connection: the same failover then answered at 10.8 s
(docs/scale-out.md)."""


def reconnecting(
    url: str,
    session: Callable[[psycopg.Connection], object],
    stop: threading.Event,
    *,
    what: str,
    **kwargs: Any,
) -> None:
    """Run *session* on a connection to *url*; each time the database goes away in it, on
    a new one (to whichever node is the primary now), until it returns or *stop* is set.

    *session* starts from nothing each time: it re-takes its locks, re-LISTENs and
    re-reads what it may have missed while it was away."""
    delay = RECONNECT_MIN_S
    while not stop.is_set():
        try:
            with connect(url, **kwargs) as conn:
                delay = RECONNECT_MIN_S
                session(conn)
                return
        except UNAVAILABLE as exc:
            log.warning("%s: database unavailable (%s); reconnecting in %.1f s", what, exc, delay)
        stop.wait(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)


def listen(conn: psycopg.Connection, channels: Iterable[str]) -> None:
    for channel in channels:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


async def listening(url: str, channels: Iterable[str]) -> psycopg.AsyncConnection:
    """A new autocommit async connection LISTENing on *channels* (the caller closes it)."""
    aconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    for channel in channels:
        await aconn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return aconn


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def ensure_database(url: str | None = None) -> None:
    """Create the target database when it does not exist yet."""
    url = database_url(url)
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def clone_database(url: str, template: str, name: str) -> str:
    """Create database *name* as a copy of *template* (same server) and return its URL.

    PostgreSQL refuses to copy a database others are connected to, so stray
    sessions on the template (it is never written to; TimescaleDB's scheduler
    visits it) are ended first.
    """
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (template,),
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def one_host_url(url: str) -> str:
    """*url* naming the one server it reaches now: a libpq multi-host URL
    (``h1:5441,h2:5442``, docs/scale-out.md) becomes its current primary's, for tools that
    parse URLs themselves (yoyo); a one-host URL is returned as it is."""
    parts = urlsplit(url)
    if "," not in parts.netloc:
        return url
    with psycopg.connect(url) as conn:
        host, port = conn.info.host, conn.info.port
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{user}{host}:{port}"))


def _yoyo_url(url: str) -> str:
    scheme, rest = one_host_url(url).split("://", 1)
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


def migrate(url: str | None = None) -> list[str]:
    """Apply pending migrations (yoyo, forward only); return the ids applied."""
    from yoyo import get_backend, read_migrations

    url = database_url(url)
    ensure_database(url)
    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    return [m.id for m in pending]


def migration_status(url: str | None = None) -> dict[str, Any]:
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(database_url(url)))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        pending = [m.id for m in backend.to_apply(migrations)]
    finally:
        backend.connection.close()
    return {"ok": not pending, "known": len(migrations), "pending": pending}


class _NotifyQueue:
    """What both :class:`NotifyAfterCommit` classes share: notifications kept per
    transaction, dropped with a savepoint that rolls back, sent after the commit."""

    _pending: list[tuple[str, str]] | None = None
    info: psycopg.ConnectionInfo

    def _enter(self) -> tuple[bool, int]:
        """Whether this ``transaction()`` block is the outermost, and where its
        notifications start."""
        idle = self.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        outermost = self._pending is None and idle
        if outermost:
            self._pending = []
        return outermost, len(self._pending or ())

    def _leave(self, outermost: bool, mark: int, committed: bool) -> list[tuple[str, str]]:
        """The notifications to send now (those of a committed outermost block)."""
        pending: list[tuple[str, str]] = []
        if outermost:
            pending, self._pending = self._pending or [], None
            if not committed:
                pending = []
        elif not committed and self._pending is not None:
            del self._pending[mark:]
        return pending

    def defer_notify(self, channel: str, payload: str) -> bool:
        """Keep a notification for the commit; False outside a ``transaction()`` block."""
        if self._pending is None:
            return False
        self._pending.append((channel, payload))
        return True


# one autocommitted statement: set_config(..., true) applies to its own transaction,
# whose commit then does not wait for the WAL flush
_SEND_NOTIFICATIONS = (
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify(n.c, n.p)"
    " FROM unnest(%s::text[], %s::text[]) AS n(c, p)"
)


def _notifications(pending: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    channels, payloads = zip(*pending, strict=True)
    return list(channels), list(payloads)


class NotifyAfterCommit(_NotifyQueue, psycopg.Connection):
    """A connection whose :func:`notify` calls inside ``transaction()`` wait for its commit.

    PostgreSQL serialises every committing transaction that has issued a NOTIFY on
    one cluster-wide lock, held until its commit record is flushed to disk: with
    the NOTIFY inside, concurrent writers cannot share a WAL flush (group commit),
    each waits for every flush queued before it, and one slow fsync stalls them all
    (docs/api.md, Benchmark). Here the notifications of a transaction are kept
    until its outermost ``transaction()`` block commits (those of a savepoint rolled
    back are dropped) and then sent in one statement of their own, which writes no
    data and so does not wait for the WAL flush (the notification queue is never
    durable anyway). The writer's own commit stays synchronous and durable.

    Delivered only if the transaction commits, as before, but after it: a process
    that dies between the two loses the announcement, not the data (the board
    refreshes on its next change or reconnect, dispatch re-plans periodically).
    Outside a ``transaction()`` block, :func:`notify` behaves as on any connection.
    """

    @contextmanager
    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> Iterator[psycopg.Transaction]:
        outermost, mark = self._enter()
        committed = failed = False
        try:
            with super().transaction(savepoint_name, force_rollback) as tx:
                try:
                    yield tx
                except BaseException:  # psycopg.Rollback included: the block rolled back
                    failed = True
                    raise
            committed = not failed and not force_rollback
        finally:
            pending = self._leave(outermost, mark, committed)
        if pending:
            try:
                self.execute(_SEND_NOTIFICATIONS, _notifications(pending))
                if not self.autocommit:
                    self.commit()
            except psycopg.Error as exc:  # the data are committed: the answer stands
                log.warning("notifications after commit lost: %s", exc)


class AsyncNotifyAfterCommit(_NotifyQueue, psycopg.AsyncConnection):
    """:class:`NotifyAfterCommit` for asyncio (the API's requests that need no thread)."""

    @asynccontextmanager
    async def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> AsyncIterator[psycopg.AsyncTransaction]:
        outermost, mark = self._enter()
        committed = failed = False
        try:
            async with super().transaction(savepoint_name, force_rollback) as tx:
                try:
                    yield tx
                except BaseException:  # psycopg.Rollback included: the block rolled back
                    failed = True
                    raise
            committed = not failed and not force_rollback
        finally:
            pending = self._leave(outermost, mark, committed)
        if pending:
            try:
                await self.execute(_SEND_NOTIFICATIONS, _notifications(pending))
                if not self.autocommit:
                    await self.commit()
            except psycopg.Error as exc:  # the data are committed: the answer stands
                log.warning("notifications after commit lost: %s", exc)


_NOTIFY = "SELECT pg_notify(%s, %s)"


def notify(conn: psycopg.Connection, channel: str, payload: dict[str, Any]) -> None:
    """pg_notify for the caller's transaction: delivered only if it commits (at its
    commit on a :class:`NotifyAfterCommit` connection, inside it otherwise)."""
    text = json.dumps(payload, default=str)
    if isinstance(conn, NotifyAfterCommit) and conn.defer_notify(channel, text):
        return
    conn.execute(_NOTIFY, (channel, text))


# ------------------------------------------------ steps: written once, run sync or async


@dataclass(frozen=True, slots=True)
class Query:
    """One statement of a step function; the step receives its first row (None when
    there is none, or the statement returns no rows)."""

    sql: str
    params: Any = None


@dataclass(frozen=True, slots=True)
class Notify:
    """A :func:`notify` of a step function (nothing is sent back)."""

    channel: str
    payload: dict[str, Any]


T = TypeVar("T")
Steps = Generator[Query | Notify, dict[str, Any] | None, T]
"""A unit of database work that does no I/O itself: a generator that yields its
statements and is sent each one's first row, so that the same code runs on a
blocking connection (:func:`run_steps`, in a worker thread) and on an asyncio one
(:func:`run_steps_async`, the API's hot requests: no thread hand-off, which cost a
threaded check-in more CPU than its SQL). Exceptions raised by the steps (an HTTP
problem, say) come out of the runner as they are."""


def run_steps(conn: psycopg.Connection, steps: Steps[T]) -> T:
    reply: dict[str, Any] | None = None
    try:
        while True:
            step = steps.send(reply)
            if isinstance(step, Notify):
                notify(conn, step.channel, step.payload)
                reply = None
            else:
                cur = conn.execute(step.sql, step.params)
                reply = cur.fetchone() if cur.description is not None else None
    except StopIteration as done:
        return done.value


async def run_steps_async(conn: psycopg.AsyncConnection, steps: Steps[T]) -> T:
    reply: dict[str, Any] | None = None
    try:
        while True:
            step = steps.send(reply)
            if isinstance(step, Notify):
                text = json.dumps(step.payload, default=str)
                if not (
                    isinstance(conn, AsyncNotifyAfterCommit)
                    and conn.defer_notify(step.channel, text)
                ):
                    await conn.execute(_NOTIFY, (step.channel, text))
                reply = None
            else:
                acur = await conn.execute(step.sql, step.params)
                reply = await acur.fetchone() if acur.description is not None else None
    except StopIteration as done:
        return done.value


def work_order_changed(work_order_id: int, change: str) -> Notify:
    return Notify("work_orders", {"id": work_order_id, "change": change})


def notify_work_order(conn: psycopg.Connection, work_order_id: int, change: str) -> None:
    """Announce a new or changed work order to the dispatcher and the board."""
    step = work_order_changed(work_order_id, change)
    notify(conn, step.channel, step.payload)
