"""The lookup rate limit is per client IP and held in the database, across API workers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import start_api, stop_process

LIMIT = 3


@pytest.fixture(scope="module")
def two_workers(module_db_url, broker):
    """Two API processes on one database, as two uvicorn workers would be, behind a proxy
    on 127.0.0.1 (the test) that says who the client is; the limit per number is out of
    the way (tests/security has its test)."""
    servers = []
    try:
        for _ in range(2):
            servers.append(
                start_api(
                    module_db_url,
                    GRIDCREW_LOOKUP_LIMIT_PER_MINUTE=str(LIMIT),
                    GRIDCREW_LOOKUP_LIMIT_PER_NUMBER="1000",
                    GRIDCREW_TRUSTED_PROXIES="127.0.0.1",
                )
            )
        yield servers
    finally:
        for server in servers:
            stop_process(server.process)


def _lookup(server, client_ip: str) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/v1/track/AP-2026-000001",
        headers={"X-Phone-Last4": "0000", "X-Forwarded-For": client_ip},
        timeout=30,
    )


def test_limit_holds_across_workers_and_answers_429_with_retry_after(two_workers):
    first, second = two_workers
    client = "203.0.113.7"
    answers = [_lookup(first, client), _lookup(second, client), _lookup(first, client)]
    assert [r.status_code for r in answers] == [404] * LIMIT
    limited = _lookup(second, client)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["code"] == "too_many_lookups"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert _lookup(first, client).status_code == 429
    assert _lookup(first, "203.0.113.8").status_code == 404
