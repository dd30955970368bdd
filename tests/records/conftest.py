"""Fixtures of the records tests: database copies, a real API with its own photo store.

The clones retry while TimescaleDB's background-worker scheduler still holds a
connection to the template database ("source database is being accessed by
other users"), which otherwise fails a clone now and then.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gridcrew import db
from tests.conftest import SERVER_URL, ApiServer, clone, start_api, stop_process


def clone_with_retry(template_url: str, timeout: float = 30) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return clone(template_url)
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def db_url(template_db_url: str) -> Iterator[str]:
    url, name = clone_with_retry(template_db_url)
    yield url
    db.drop_database(SERVER_URL, name)


@pytest.fixture(scope="module")
def module_db_url(template_db_url: str) -> Iterator[str]:
    url, name = clone_with_retry(template_db_url)
    yield url
    db.drop_database(SERVER_URL, name)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("records-data")
    (path / "photos").mkdir()
    return path


@pytest.fixture(scope="module")
def records_api(module_db_url: str, broker, data_dir: Path) -> Iterator[ApiServer]:
    """The API on this module's database, photos under *data_dir*, lookups hardly limited."""
    server = start_api(
        module_db_url,
        GRIDCREW_DATA_DIR=str(data_dir),
        GRIDCREW_LOOKUP_LIMIT_PER_MINUTE="100000",
    )
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture(scope="module")
def dispatcher_token(records_api: ApiServer) -> str:
    return records_api.login("dispatcher")


@pytest.fixture(scope="module")
def crew_token(records_api: ApiServer) -> str:
    return records_api.login("crew-01")
