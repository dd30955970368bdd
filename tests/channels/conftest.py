"""Fixtures of the channel tests: a real API with a roomy rate limit, and a connection beside it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from gridcrew import db
from tests.conftest import ApiServer, start_api, stop_process


@pytest.fixture(scope="module")
def channels_api(module_db_url: str, broker) -> Iterator[ApiServer]:
    """The real API on this module's database; the limits are raised so tests do not trip them."""
    server = start_api(
        module_db_url,
        GRIDCREW_LOOKUP_LIMIT_PER_MINUTE="1000",
        GRIDCREW_LOOKUP_LIMIT_PER_NUMBER="1000",
    )
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
