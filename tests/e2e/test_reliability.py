"""Reliability under a stream: the broker restarted, the database connections cut.

The broker restarted is a private Mosquitto of this test (never the session's), on the
same port with its persistence: the gateway's persistent session resumes and every
reading the devices published is stored once. The database outage is
``pg_terminate_backend`` of every connection the gateway and the API hold on this test's
clone (PostgreSQL itself is shared and never restarted): both recover on their own and
nothing is lost. (The dispatcher's leader kill is tests/dispatch/test_service.py.)
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from gridcrew import db
from tests import stack
from tests.conftest import Broker
from tests.e2e.fleet import Fleet, logins_for, sample_meters

METERS = 400
TICKS = 30


def stored(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT (device_id, time)) AS d FROM meter_readings"
    ).fetchone()
    return row["n"], row["d"]


class Stream:
    """Readings of METERS meters for TICKS ticks, published in the background."""

    def __init__(self, devices: stack.Devices, pause_s: float = 0.15, first_tick: int = 0) -> None:
        self.first_tick = first_tick
        self.meters = sample_meters([], METERS)
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.fleet = Fleet(self.start)
        self.devices = devices
        self.pause_s = pause_s
        self.published = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            for tick in range(self.first_tick, self.first_tick + TICKS):
                when = self.start + timedelta(seconds=60 * tick)
                self.devices.publish(self.fleet.readings(self.meters, when, tick))
                self.published += len(self.meters)
                time.sleep(self.pause_s)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def run(self) -> int:
        """Publish the whole stream now (in this thread)."""
        self._run()
        if self.error is not None:
            raise self.error
        return self.published

    def begin(self) -> Stream:
        self.thread.start()
        return self

    def join(self) -> int:
        self.thread.join(180)
        assert not self.thread.is_alive(), "the stream did not finish"
        if self.error is not None:
            raise self.error
        return self.published


@pytest.fixture
def quiet_db(db_url: str) -> Iterator[psycopg.Connection]:
    with db.connect(db_url, autocommit=True) as conn:
        yield conn


def test_broker_restart_mid_stream_loses_nothing(db_url, quiet_db, tmp_path: Path):
    """A lone gateway's plain persistent subscription survives the broker's restart
    (Mosquitto 2.0.11 would drop a shared one: docs/scale-out.md)."""
    logins = logins_for(sample_meters([], METERS), [])
    with stack.private_broker(tmp_path / "mosquitto", logins) as mq:
        with stack.gateway(db_url, mq.url) as gw, stack.devices(mq.url, logins) as devices:
            stream = Stream(devices).begin()
            stack.wait_for(lambda: stored(quiet_db)[0] >= 2_000, 60, "the first rows")
            # Down long enough for the gateway's reconnect back-off (0.2 s doubling) to
            # come back after the devices' (every second).
            mq.restart(pause_s=3.5)
            at_restart = stored(quiet_db)[0]
            published = stream.join()
            assert devices.stats.reconnects >= 1
            assert published == METERS * TICKS and at_restart < published
            wait_stored(quiet_db, published, timeout=20)
            assert gw.proc.poll() is None
    assert stored(quiet_db) == (published, published)


def wait_stored(conn: psycopg.Connection, n: int, timeout: float = 60) -> None:
    try:
        stack.wait_for(lambda: stored(conn)[0] >= n, timeout, f"all {n} readings stored")
    except AssertionError:
        raise AssertionError(f"{stored(conn)[0]} of {n} readings stored") from None


def test_what_the_broker_queued_for_the_gateway_survives_a_broker_restart(
    db_url, quiet_db, tmp_path: Path
):
    """The persistent session resumes: readings queued while the gateway was away,
    then the broker restarted, then the gateway back with the same client id."""
    logins = logins_for(sample_meters([], METERS), [])
    with stack.private_broker(tmp_path / "mosquitto", logins) as mq:
        with stack.gateway(db_url, mq.url, purge=False) as gw:
            group = gw.group
            with stack.devices(mq.url, logins) as devices:
                first = Stream(devices, pause_s=0.0).run()
                wait_stored(quiet_db, first)
        with stack.devices(mq.url, logins) as devices:
            queued = Stream(devices, pause_s=0.0, first_tick=TICKS).run()
        mq.restart()
        total = first + queued
        with stack.gateway(db_url, mq.url, group=group):
            wait_stored(quiet_db, total)
    assert stored(quiet_db) == (total, total)


def terminate_others(db_url: str, conn: psycopg.Connection) -> int:
    """Cut every connection to this clone except *conn*'s (the gateway's and the API's)."""
    with db.connect(db.with_database(db_url, "postgres"), autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> %s",
            (db.database_name(db_url), conn.info.backend_pid),
        ).fetchone()["n"]


class Terminal:
    """A crew terminal posting GPS fixes; it retries a failed call with the same
    Idempotency-Key, as the handhelds do."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.sent: list[datetime] = []
        self.failures: list[int] = []

    def post_fix(self, when: datetime, lon: float, lat: float) -> None:
        key = str(uuid.uuid4())
        body = {"lon": lon, "lat": lat, "accuracy_m": 5.0, "time": when.isoformat()}
        for _ in range(20):
            try:
                r = self.http.post("/v1/positions", json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                self.failures.append(0)
                time.sleep(0.25)
                continue
            if r.status_code < 500:
                assert r.status_code == 200, r.text
                self.sent.append(when)
                return
            self.failures.append(r.status_code)
            time.sleep(0.25)
        raise AssertionError(f"the API did not recover: {self.failures[-5:]}")


def test_database_outage_gateway_and_api_recover_and_lose_nothing(db_url, quiet_db, broker: Broker):
    with (
        stack.api(db_url, broker.url) as server,
        stack.gateway(db_url, broker.url),
    ):
        logins = logins_for(sample_meters([], METERS), [])
        terminal = Terminal(server.base_url, server.login("crew-01"))
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        with stack.devices(broker.url, logins) as devices:
            stream = Stream(devices).begin()
            cuts = 0
            for i, target in enumerate((2_000, 5_000, 8_000)):
                stack.wait_for(lambda t=target: stored(quiet_db)[0] >= t, 60, f"{target} rows")
                terminal.post_fix(t0 + timedelta(seconds=10 * i), 120.755, 30.746)
                cuts += terminate_others(db_url, quiet_db)
                terminal.post_fix(t0 + timedelta(seconds=10 * i + 5), 120.756, 30.746)
            published = stream.join()
        stack.wait_for(lambda: stored(quiet_db)[0] >= published, 90, f"all {published} readings")
        health = httpx.get(f"{server.base_url}/healthz", timeout=30).json()
    assert cuts >= 6  # the gateway's and the API's pools, three times
    assert stored(quiet_db) == (published, published)
    positions = quiet_db.execute(
        "SELECT time FROM crew_positions WHERE crew_id = 'CREW-01' ORDER BY time"
    ).fetchall()
    assert [r["time"] for r in positions] == terminal.sent
    assert health["database"]["ok"], health
    assert terminal.failures == [], (
        f"calls failed while the database reconnected: {terminal.failures}"
    )
