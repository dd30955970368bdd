"""Shared fixtures: real PostgreSQL + TimescaleDB, a real Mosquitto, a real API server.

Each pytest session migrates and seeds one *template* database; tests get
clones of it (``db_url`` per test, ``module_db_url`` per module), so no test
sees another's writes and ``./dev test`` never touches the demo database.
The session also runs its own broker on a free port, provisioned with every
device of the demo territory.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from gridcrew.net import free_port

SERVER_URL = os.environ.get(
    "GRIDCREW_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RUN_ID = f"gct_{os.getpid()}"
BROKER_PORT = free_port()
# Everything in-process and every subprocess we start reads these.
os.environ["GRIDCREW_MQTT_URL"] = f"mqtt://127.0.0.1:{BROKER_PORT}"
os.environ["GRIDCREW_DATABASE_URL"] = SERVER_URL.rsplit("/", 1)[0] + f"/{RUN_ID}_tpl"

from gridcrew import secret_policy  # noqa: E402

# The services refuse to start without usable secrets: the session makes its own (the
# environment's win), so the tests need neither var/secrets.env nor GRIDCREW_DEV.
for _secret in secret_policy.SECRETS.values():
    os.environ.setdefault(_secret.env, _secret.generate())

from gridcrew import audit, db  # noqa: E402
from gridcrew import broker as broker_mod  # noqa: E402
from gridcrew.config import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()
_template_device_ids: list[str] = []


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Poll *check* until it returns something true; AssertionError after *timeout*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="session")
def template_db_url() -> Iterator[str]:
    """The migrated and seeded template database of this session (do not write to it)."""
    from simulators.demo.seed import seed

    name = f"{RUN_ID}_tpl"
    url = db.with_database(SERVER_URL, name)
    db.drop_database(SERVER_URL, name)
    db.migrate(url)
    with db.transaction(url) as conn:
        seed(conn, 1)
        _template_device_ids.extend(broker_mod.device_ids_from_db(conn))
    with db.connect(url, autocommit=True) as conn:
        audit.seal_all(conn)
    # TimescaleDB's background scheduler keeps connecting to every database that has
    # the extension, and PostgreSQL refuses to copy a database with connections: close
    # the template to connections for the rest of the session.
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    yield url
    db.drop_database(SERVER_URL, name)


def clone(template_url: str) -> tuple[str, str]:
    name = f"{RUN_ID}_{next(_counter)}"
    return db.clone_database(SERVER_URL, db.database_name(template_url), name), name


@pytest.fixture
def db_url(template_db_url: str) -> Iterator[str]:
    """A fresh copy of the seeded database for one test."""
    url, name = clone(template_db_url)
    yield url
    db.drop_database(SERVER_URL, name)


@pytest.fixture(scope="module")
def module_db_url(template_db_url: str) -> Iterator[str]:
    """A fresh copy of the seeded database shared by one test module."""
    url, name = clone(template_db_url)
    yield url
    db.drop_database(SERVER_URL, name)


@pytest.fixture
def conn(db_url: str):
    """An autocommit connection (dict rows) to this test's database."""
    with db.connect(db_url, autocommit=True) as c:
        yield c


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def broker(template_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The session's own Mosquitto with every demo device provisioned."""
    directory = tmp_path_factory.mktemp("mosquitto")
    conf = broker_mod.render(directory, _template_device_ids, host="127.0.0.1", port=BROKER_PORT)
    proc = broker_mod.start(conf, "127.0.0.1", BROKER_PORT)
    yield Broker("127.0.0.1", BROKER_PORT, directory)
    proc.terminate()
    proc.wait(10)


def device_password(device_id: str) -> str:
    from gridcrew.security import device_password as derive

    return derive(device_id, get_settings().device_secret)


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a service subprocess pointed at a test database and the test broker."""
    env = dict(os.environ)
    env["GRIDCREW_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@dataclass
class ApiServer:
    base_url: str
    database_url: str
    process: subprocess.Popen

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    def login(self, username: str, password: str | None = None) -> str:
        password = password or get_settings().demo_password
        r = httpx.post(
            f"{self.base_url}/v1/auth/token",
            data={"username": username, "password": password},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["access_token"]


def start_api(database_url: str, **env: str) -> ApiServer:
    """Run the real API under uvicorn in a subprocess and wait until it answers."""
    from mobile_api.serve import api_subprocess

    port = free_port()
    proc = api_subprocess(port, service_env(database_url, **env), cwd=ROOT, timeout=30)
    return ApiServer(f"http://127.0.0.1:{port}", database_url, proc)


def gridcrew_json(*args: str, timeout: float = 600) -> dict:
    """Run ``gridcrew *args`` (a ``--json`` command) from the checkout; its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def api(module_db_url: str, broker: Broker) -> Iterator[ApiServer]:
    """A real uvicorn serving the API on this module's database copy."""
    server = start_api(module_db_url)
    yield server
    stop_process(server.process)
