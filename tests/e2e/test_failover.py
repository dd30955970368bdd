"""The database survives losing its host: a Patroni cluster (etcd, a primary and a
synchronous standby; ops.ha) under the whole stack, its primary lost mid-stream.

Real processes throughout: etcd, two Patroni/PostgreSQL nodes, a private Mosquitto, the
gateway, two dispatchers, the API under uvicorn, devices publishing 20,000 readings and a
crew terminal checking in with Idempotency-Keys. The primary is lost in two ways: its
host dies (SIGKILL of its Patroni and its PostgreSQL), or its Patroni is stopped cleanly
(a switchover). The failover window (loss to the first answered write) and the gateway's
catch-up are printed as JSON (``pytest -k failover -s``); the timing is Patroni's tuned
one unless ``GRIDCREW_FAILOVER_TIMING=default`` (docs/scale-out.md, the figures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from dispatch.service import LEADER_LOCK
from gridcrew import audit, db
from gridcrew import broker as broker_mod
from gridcrew.net import free_port
from ops import ha
from simulators.demo.seed import seed
from tests import stack
from tests.conftest import ROOT, service_env, stop_process
from tests.e2e.fleet import Fleet, logins_for, sample_meters

METERS = 400
TICKS = 50  # 20,000 readings
KILL_AT = 5_000  # stored readings when the primary is lost
TICK_PAUSE_S = 0.4
CLIENT_TIMEOUT_S = 5.0  # a terminal gives up on a slow answer and retries the same key
TIMING = (
    ha.DEFAULT_TIMING
    if os.environ.get("GRIDCREW_FAILOVER_TIMING") == "default"
    else (ha.TUNED_TIMING)
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ha.Cluster]:
    """A local HA cluster on free ports, in a folder the postgres user can enter."""
    directory = Path(tempfile.mkdtemp(prefix="gridcrew-ha-"))
    ports = [free_port() for _ in range(6)]
    c = ha.Cluster(
        directory,
        nodes=(ha.Node("pg1", ports[0], ports[1]), ha.Node("pg2", ports[2], ports[3])),
        etcd_client_port=ports[4],
        etcd_peer_port=ports[5],
        timing=TIMING,
    )
    try:
        ha.up(c)
        yield c
    finally:
        ha.down(c)
        shutil.rmtree(directory, ignore_errors=True)


def seeded_database(c: ha.Cluster) -> str:
    url = c.url(f"gct_failover_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    db.migrate(url)
    with db.transaction(url) as conn:
        seed(conn, 1)
    with db.connect(url, autocommit=True) as conn:
        audit.seal_all(conn)
    return url


def on_site_job(url: str, crew_id: str) -> int:
    """A job the crew is working on (the dispatcher leaves it alone)."""
    with db.transaction(url) as conn:
        customer = conn.execute("SELECT id FROM customers ORDER BY id LIMIT 1").fetchone()
        job = conn.execute(
            "INSERT INTO work_orders (kind, status, lon, lat, address, required_skills,"
            " customer_id, arrival_deadline, description) VALUES ('fault_repair', 'on_site',"
            " 120.755, 30.746, '1 Test Road', ARRAY['overhead_line'], %s,"
            " now() + interval '45 minutes', 'replace fuse') RETURNING id",
            (customer["id"],),
        ).fetchone()["id"]
        conn.execute(
            "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival,"
            " explanation) VALUES (%s, %s, 1, now(), '{}')",
            (job, crew_id),
        )
    return job


@dataclass
class Watch:
    """Samples (time, stored readings, published readings) through any outage."""

    url: str
    published: list[int]
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        def session(conn: psycopg.Connection) -> None:
            while not self.stop.wait(0.2):
                published = self.published[0]
                n = conn.execute("SELECT count(*) AS n FROM meter_readings").fetchone()["n"]
                self.samples.append((time.monotonic(), n, published))

        db.reconnecting(self.url, session, self.stop, what="watch", autocommit=True)

    def start(self) -> Watch:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)

    def stored(self) -> int:
        return self.samples[-1][1] if self.samples else 0


@dataclass
class Terminal:
    """A crew terminal checking in every 0.2 s; a call that failed or got no answer within
    CLIENT_TIMEOUT_S is retried with the same Idempotency-Key every 0.25 s (quicker than
    Retry-After, to time the window finely)."""

    base_url: str
    token: str
    job_id: int
    answers: dict[str, dict] = field(default_factory=dict)  # key -> the 2xx body
    failures: list[tuple[float, int]] = field(default_factory=list)  # (when, status; 0 = no answer)
    retried: set[str] = field(default_factory=set)
    successes: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=CLIENT_TIMEOUT_S,
        )
        while not self.stop.is_set():
            key = str(uuid.uuid4())
            body = {
                "lon": 120.755,
                "lat": 30.746,
                "accuracy_m": 8.0,
                "client_time": datetime.now(UTC).isoformat(),
            }  # a retry sends the same request again
            while True:
                sent = time.monotonic()
                try:
                    r = http.post(
                        f"/v1/jobs/{self.job_id}/check-ins",
                        json=body,
                        headers={"Idempotency-Key": key},
                    )
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                if 200 <= status < 300:
                    self.answers[key] = r.json()
                    self.successes.append((sent, time.monotonic()))
                    break
                self.failures.append((time.monotonic(), status))
                self.retried.add(key)
                if status not in (0, 503):
                    break  # an answer that is no outage: the asserts report it
                time.sleep(0.25)
            self.stop.wait(0.2)
        http.close()

    def start(self) -> Terminal:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)


@dataclass
class BoardStream:
    """A dispatcher's map listening to ``/v1/board/stream``: counts its ``hello`` events
    (one when it connects, one more each time the stream listens again)."""

    base_url: str
    token: str
    hellos: int = 0

    def _run(self) -> None:
        url = f"{self.base_url}/v1/board/stream"
        try:
            with httpx.stream("GET", url, params={"access_token": self.token}, timeout=None) as r:
                self.response = r
                for line in r.iter_lines():
                    if line == "event: hello":
                        self.hellos += 1
        except httpx.HTTPError:
            pass  # closed by close()

    def start(self) -> BoardStream:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        """Hang up (before the API stops, which would otherwise cancel the stream)."""
        response = getattr(self, "response", None)
        if response is not None:
            response.close()
        self.thread.join(10)


def dispatchers(url: str, mqtt_url: str) -> list[stack.Service]:
    env = service_env(
        url,
        GRIDCREW_MQTT_URL=mqtt_url,
        GRIDCREW_DISPATCH_TIME_LIMIT_S="0.5",
        GRIDCREW_DISPATCH_DEBOUNCE_S="0.2",
    )
    first = stack.spawn("dispatcher-a", ["dispatch"], env)
    first.wait_line("leading as")
    second = stack.spawn("dispatcher-b", ["dispatch"], env)
    second.wait_line("standing by")
    return [first, second]


def leader_lock_holders(url: str) -> list[str]:
    with db.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (LEADER_LOCK,),
        ).fetchall()
    return [r["application_name"] for r in rows]


def stored_on(c: ha.Cluster, node: str, url: str) -> tuple[int, int]:
    """Readings stored on one node (a standby answers read-only)."""
    n = c.node(node)
    one = db.with_database(f"postgresql://postgres@{ha.HOST}:{n.pg_port}/x", db.database_name(url))
    with db.connect(one) as conn:
        row = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT (device_id, time)) AS d FROM meter_readings"
        ).fetchone()
    return row["n"], row["d"]


@pytest.mark.parametrize("loss", ["host_killed", "patroni_stopped"])
def test_failover_loses_nothing_and_the_old_primary_rejoins(
    cluster: ha.Cluster, loss: str, tmp_path: Path
):
    url = seeded_database(cluster)
    meters = sample_meters([], METERS)
    logins = logins_for(meters, [])
    with db.connect(url) as conn:
        device_ids = broker_mod.device_ids_from_db(conn)
    job = on_site_job(url, "CREW-01")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    fleet = Fleet(start)
    published = [0]
    with (
        stack.private_broker(tmp_path / "mosquitto", device_ids) as mq,
        stack.gateway(url, mq.url),
        stack.api(url, mq.url) as server,
        stack.devices(mq.url, logins) as devices,
    ):
        leaders = dispatchers(url, mq.url)
        watch = Watch(url, published).start()
        terminal = Terminal(server.base_url, server.login("crew-01"), job).start()
        board = BoardStream(server.base_url, server.login("dispatcher")).start()
        try:
            old = ha.wait_primary(cluster)
            stack.wait_for(lambda: board.hellos == 1, 30, "the board stream to listen")

            def stream() -> None:
                for tick in range(TICKS):
                    when = start + timedelta(minutes=tick)
                    devices.publish(fleet.readings(meters, when, tick))
                    published[0] += len(meters)
                    time.sleep(TICK_PAUSE_S)

            publisher = threading.Thread(target=stream)
            publisher.start()
            stack.wait_for(lambda: watch.stored() >= KILL_AT, 90, f"{KILL_AT} readings stored")
            lost_at = time.monotonic()
            if loss == "host_killed":
                ha.kill_node(cluster, old)
            else:
                ha.stop_node(cluster, old)
            new = stack.wait_for(
                lambda: (p := ha.primary(cluster)) not in (None, old) and p, 120, "a new primary"
            )
            promoted = time.monotonic()
            stack.wait_for(
                lambda: any(sent > promoted for sent, _ in terminal.successes),
                120,
                "an answered check-in on the new primary",
            )
            publisher.join(300)
            total = METERS * TICKS
            assert published[0] == total
            stack.wait_for(lambda: watch.stored() >= total, 180, f"all {total} readings")
            terminal.close()
            # the board's stream stayed open and listened again (the page reloads on hello)
            stack.wait_for(lambda: board.hellos >= 2, 60, "the board stream to listen again")
            # the dispatchers: exactly one of the two took the lead again on the new primary
            stack.wait_for(lambda: leader_lock_holders(url), 60, "a dispatcher to lead again")
            time.sleep(3)
            holders = leader_lock_holders(url)
            took_lead = sum(d.log().count("leading as") for d in leaders)
            assert all(d.proc.poll() is None for d in leaders), [d.log() for d in leaders]
        finally:
            board.close()
            terminal.close()
            watch.close()
            for d in leaders:
                stop_process(d.proc, 30)

    # the old primary comes back as the new one's synchronous standby
    ha.start_node(cluster, old)
    members = ha.wait_healthy(cluster, 180)
    # the window: the longest time after the loss with no write answered (when the host
    # dies, from the kill to the first write the new primary answers)
    answered_at = sorted(done for _, done in terminal.successes if done > lost_at)
    gaps = [(b - a, b) for a, b in zip([lost_at, *answered_at], answered_at, strict=False)]
    window, recovered = max(gaps)
    figures = failover_figures(loss, watch, terminal, window, lost_at, promoted, recovered, total)
    print(json.dumps(figures))

    assert members["primary"] == new
    assert stack.wait_for(lambda: stored_on(cluster, old, url) == (total, total), 60, "replay")
    assert len(holders) == 1 and took_lead == 2, (holders, took_lead)
    with db.connect(url) as conn:
        readings = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT (device_id, time)) AS d FROM meter_readings"
        ).fetchone()
        check_ins = {
            r["id"]
            for r in conn.execute(
                "SELECT id FROM check_ins WHERE work_order_id = %s AND crew_id = 'CREW-01'", (job,)
            )
        }
        double = conn.execute(
            "SELECT work_order_id FROM assignments WHERE active"
            " GROUP BY work_order_id HAVING count(*) > 1"
        ).fetchall()
    assert (readings["n"], readings["d"]) == (total, total)
    answered = {body["id"] for body in terminal.answers.values()}
    assert len(answered) == len(terminal.answers)  # each key stored once, retried or not...
    assert check_ins == answered  # ...and nothing stored that was not answered
    statuses = {s for _, s in terminal.failures}
    assert statuses <= {0, 503}, f"answers other than 503 during the switch: {statuses}"
    assert all(t >= lost_at for t, _ in terminal.failures), "a check-in failed before the loss"
    assert all(t <= recovered for t, _ in terminal.failures), "a check-in failed after the switch"
    assert double == []
    verify = subprocess.run(
        [sys.executable, "-m", "gridcrew", "audit", "verify"],
        env=service_env(url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr


def failover_figures(
    loss: str,
    watch: Watch,
    terminal: Terminal,
    window: float,
    lost_at: float,
    promoted: float,
    recovered: float,
    total: int,
) -> dict:
    """The window (loss to the first answered write) and the gateway's catch-up (from then
    until it has stored every reading the devices had published by then)."""
    published_then = next((p for t, _, p in watch.samples if t >= recovered), total)
    caught_up = next(t for t, n, _ in watch.samples if n >= published_then)
    return {
        "failover": loss,
        "timing": vars(TIMING),
        "window_s": round(window, 2),
        "new_primary_s": round(promoted - lost_at, 2),
        "gateway_catch_up_s": round(max(0.0, caught_up - recovered), 2),
        "http_503": sum(1 for _, s in terminal.failures if s == 503),
        "http_no_answer": sum(1 for _, s in terminal.failures if s == 0),
        "check_ins_retried_and_answered": len(terminal.retried & set(terminal.answers)),
        "check_ins": len(terminal.answers),
        "readings": total,
    }


def test_failover_api_answers_503_with_retry_after_while_there_is_no_primary(
    cluster: ha.Cluster, tmp_path: Path
):
    """Both nodes down: a check-in is answered 503 with Retry-After (never 500), and its
    retry with the same Idempotency-Key, once a primary is back, is stored once."""
    url = seeded_database(cluster)
    job = on_site_job(url, "CREW-01")
    body = {
        "lon": 120.755,
        "lat": 30.746,
        "accuracy_m": 8.0,
        "client_time": datetime.now(UTC).isoformat(),
    }
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    with stack.api(url, "mqtt://127.0.0.1:9") as server:
        http = server.client(server.login("crew-01"))
        first = ha.wait_primary(cluster)
        for node in sorted(cluster.nodes, key=lambda n: n.name == first):  # the standby first
            ha.stop_node(cluster, node.name)
        try:
            refused = [
                http.post(f"/v1/jobs/{job}/check-ins", json=body, headers=headers) for _ in range(2)
            ]
        finally:
            for node in sorted(cluster.nodes, key=lambda n: n.name != first):
                ha.start_node(cluster, node.name)
            ha.wait_healthy(cluster, 180)
        stored = stack.wait_for(
            lambda: (
                (
                    r := http.post(f"/v1/jobs/{job}/check-ins", json=body, headers=headers)
                ).status_code
                == 201
                and r
            ),
            60,
            "the retry to be answered",
        )
        again = http.post(f"/v1/jobs/{job}/check-ins", json=body, headers=headers)
    for r in refused:
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "2"
        assert r.json()["code"] == "database_unavailable"
    assert again.status_code == 201 and again.json() == stored.json()
    with db.connect(url) as conn:
        n = conn.execute("SELECT count(*) AS n FROM check_ins WHERE work_order_id = %s", (job,))
        assert n.fetchone()["n"] == 1


def test_failover_read_url_uses_the_standby_and_falls_back_to_the_primary(
    cluster: ha.Cluster,
):
    """``GRIDCREW_DATABASE_READ_URL``: the KPIs are read on the standby while it is up,
    and on the primary while it is down."""
    url = seeded_database(cluster)
    name = db.database_name(url)
    read_url = cluster.read_url(name)
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    primary = ha.wait_primary(cluster)
    standby = next(n.name for n in cluster.nodes if n.name != primary)

    def sessions_on(node: str) -> int:
        one = f"postgresql://postgres@{ha.HOST}:{cluster.node(node).pg_port}/postgres"
        with db.connect(one) as conn:
            return conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = %s", (name,)
            ).fetchone()["n"]

    with stack.api(url, "mqtt://127.0.0.1:9", GRIDCREW_DATABASE_READ_URL=read_url) as server:
        http = server.client(server.login("dispatcher"))
        assert http.get("/v1/kpi", params=window).status_code == 200
        assert sessions_on(standby) >= 1  # the read pool's connections
        ha.stop_node(cluster, standby)
        try:
            answers = [http.get("/v1/kpi", params=window).status_code for _ in range(3)]
        finally:
            ha.start_node(cluster, standby)
            ha.wait_healthy(cluster, 180)
    assert answers == [200, 200, 200]
