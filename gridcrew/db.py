"""Database plumbing shared by every service: connections, migrations, NOTIFY.

Holds no domain SQL; that lives in the migrations and in each domain's
service module. Parameters are always bound, never formatted in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from gridcrew.config import get_settings

MIGRATIONS_DIR = Path(str(resources.files("schemas") / "migrations"))


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


def _yoyo_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
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


def notify(conn: psycopg.Connection, channel: str, payload: dict[str, Any]) -> None:
    """pg_notify inside the caller's transaction: delivered only if it commits."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel, json.dumps(payload, default=str)))


def notify_work_order(conn: psycopg.Connection, work_order_id: int, change: str) -> None:
    """Announce a new or changed work order to the dispatcher and the board."""
    notify(conn, "work_orders", {"id": work_order_id, "change": change})
