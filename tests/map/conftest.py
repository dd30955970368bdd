"""Fixtures of the map tests: the module database clone, retried while the template is busy.

TimescaleDB's background-worker scheduler briefly reconnects to the template
database, and PostgreSQL refuses to copy a database that has a session; the
shared ``clone`` ends such sessions but can lose that race, so try again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from gridcrew import db
from tests.conftest import SERVER_URL, clone

ATTEMPTS = 20


def clone_retrying(template_url: str) -> tuple[str, str]:
    for _ in range(ATTEMPTS - 1):
        try:
            return clone(template_url)
        except psycopg.errors.ObjectInUse:
            time.sleep(0.25)
    return clone(template_url)


@pytest.fixture(scope="module")
def module_db_url(template_db_url: str) -> Iterator[str]:
    url, name = clone_retrying(template_db_url)
    yield url
    db.drop_database(SERVER_URL, name)
