"""The security tests' server: the real API on this module's database, with a storage
folder of its own and the small photo limit of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import start_api_with_data_dir
from tests.conftest import ApiServer, stop_process


@pytest.fixture(scope="module")
def api(module_db_url, broker, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api_with_data_dir(module_db_url, tmp_path_factory)
    yield server
    stop_process(server.process)
