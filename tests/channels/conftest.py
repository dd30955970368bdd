"""Fixtures of the channel tests: a real API with a roomy rate limit, and a connection beside it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from gridcrew import db
from tests.conftest import SERVER_URL, ApiServer, start_api, stop_process


@pytest.fixture(scope="session", autouse=True)
def _template_closed_to_connections(template_db_url: str, broker) -> Iterator[None]:
    """Close the session's template to connections once the broker has read its devices.

    TimescaleDB's scheduler keeps (re)connecting to every database with the extension,
    template included, and ``CREATE DATABASE ... TEMPLATE`` then fails now and then with
    "being accessed by other users", even right after ending that session. A template
    that allows no connections gets no scheduler and clones every time. The fix belongs
    in tests/conftest.py; until then this keeps the whole session's clones reliable.
    """
    name = db.database_name(template_db_url)
    with psycopg.connect(db.with_database(SERVER_URL, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    try:
        yield
    finally:
        with psycopg.connect(db.with_database(SERVER_URL, "postgres"), autocommit=True) as c:
            c.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def channels_api(module_db_url: str, broker) -> Iterator[ApiServer]:
    """The real API on this module's database; the limit is raised so tests do not trip it."""
    server = start_api(module_db_url, GRIDCREW_LOOKUP_LIMIT_PER_MINUTE="1000")
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture(scope="module")
def mconn(module_db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the database the module's API serves."""
    with db.connect(module_db_url, autocommit=True) as c:
        yield c


def meters_on(conn: psycopg.Connection, section_id: str) -> list[dict]:
    """The section's meters with their transformer, one per transformer, in id order."""
    return conn.execute(
        "SELECT DISTINCT ON (d.transformer_id) d.id, d.transformer_id, d.customer_id, c.phone"
        " FROM devices d JOIN customers c ON c.id = d.customer_id"
        " WHERE d.kind = 'meter' AND d.section_id = %s ORDER BY d.transformer_id, d.id",
        (section_id,),
    ).fetchall()
