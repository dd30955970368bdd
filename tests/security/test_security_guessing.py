"""Guessing is throttled: customer lookups per number whatever X-Forwarded-For says
(which only configured proxies may set), logins per account and per client with growing
delays, every failure recorded."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.conftest import make_job, query, tracking_pair
from tests.conftest import ApiServer, start_api, stop_process


@pytest.fixture
def fresh_api(db_url, broker):
    """A server of its own: the lookups and login failures of one test do not count
    against the next."""
    server = start_api(db_url)
    yield server
    stop_process(server.process)


def _wrong(last4: str, i: int) -> str:
    """A wrong guess at four digits, a different one each time."""
    return next(g for g in (f"{(i + k) % 10000:04d}" for k in range(3)) if g != last4)


def test_security_lookups_of_one_number_are_limited_whatever_the_forwarded_address(fresh_api):
    wo = tracking_pair(fresh_api.database_url, make_job(fresh_api.database_url, None))
    codes = []
    for i in range(8):
        r = httpx.get(
            f"{fresh_api.base_url}/v1/track/{wo['number']}",
            headers={"X-Phone-Last4": _wrong(wo["last4"], i), "X-Forwarded-For": f"198.51.100.{i}"},
        )
        codes.append(r.status_code)
    assert codes[:5] == [404] * 5  # GRIDCREW_LOOKUP_LIMIT_PER_NUMBER, default 5
    assert codes[5:] == [429] * 3
    right = httpx.get(
        f"{fresh_api.base_url}/v1/track/{wo['number']}", headers={"X-Phone-Last4": wo["last4"]}
    )
    assert right.status_code == 429 and "of this number" in right.json()["detail"]


def test_security_forwarded_for_is_not_believed_from_an_untrusted_peer(fresh_api):
    """Different numbers, so only the per-client limit (20) can refuse them."""
    codes = [
        httpx.get(
            f"{fresh_api.base_url}/v1/track/WO-GUESS-{i}",
            headers={"X-Phone-Last4": "0000", "X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(22)
    ]
    assert codes[:20] == [404] * 20 and codes[20:] == [429, 429]


def test_security_complaint_lookups_are_limited_per_number(fresh_api):
    codes = [
        httpx.get(
            f"{fresh_api.base_url}/v1/complaints/CP-GUESS-1",
            headers={"X-Phone-Last4": f"{i:04d}", "X-Forwarded-For": f"192.0.2.{i}"},
        ).status_code
        for i in range(7)
    ]
    assert codes == [404] * 5 + [429] * 2


def _login(server: ApiServer, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/auth/token",
        data={"username": username, "password": password},
        timeout=30,
    )


def test_security_wrong_passwords_for_one_account_are_throttled(fresh_api):
    answers = [_login(fresh_api, "crew-05", f"guess-{i}") for i in range(30)]
    codes = [r.status_code for r in answers]
    assert codes[:5] == [401] * 5  # GRIDCREW_LOGIN_FREE_FAILURES
    assert codes.count(429) >= 20, codes
    throttled = next(r for r in answers if r.status_code == 429)
    assert throttled.json()["code"] == "too_many_failed_logins"
    right = _login(fresh_api, "crew-05", "gridcrew")
    assert right.status_code == 429  # the right password waits too: no free guess
    [row] = query(
        fresh_api.database_url,
        "SELECT count(*) AS n, min(client) AS client FROM login_failures WHERE username = %s",
        "crew-05",
    )
    assert row["n"] == codes.count(401) and row["client"] == "127.0.0.1"
    # the delay grows, it does not lock the account for good
    time.sleep(int(right.headers["retry-after"]) + 0.2)
    assert _login(fresh_api, "crew-05", "gridcrew").status_code == 200
    # another account is not delayed by crew-05's failures (the client has 20 free)
    assert _login(fresh_api, "crew-06", "gridcrew").status_code == 200


def test_security_wrong_passwords_from_one_client_are_throttled(fresh_api):
    codes = [_login(fresh_api, f"crew-{i % 12 + 1:02d}", "nope").status_code for i in range(24)]
    assert codes[:20] == [401] * 20  # GRIDCREW_LOGIN_CLIENT_FREE_FAILURES, 2 per account
    assert 429 in codes[20:]
