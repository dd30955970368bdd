"""Fixtures of the records tests: a real API with its own photo store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ApiServer, start_api, stop_process


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
        GRIDCREW_LOOKUP_LIMIT_PER_NUMBER="100000",
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
