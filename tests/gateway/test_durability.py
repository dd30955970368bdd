"""Nothing the broker accepted is lost, nothing is stored twice: a gateway killed with
SIGKILL mid-stream (the worker, or its MQTT link process), database connections cut
mid-stream, two workers sharing a stream."""

from __future__ import annotations

import os
import re
import signal
import threading
from datetime import datetime
from pathlib import Path

import psycopg

from gridcrew import db
from tests.conftest import stop_process
from tests.gateway.conftest import T0, Publisher, reading, scalar, seconds, wait_for


def stream(n: int, start: datetime = T0) -> list[tuple[str, dict]]:
    """*n* distinct readings over the demo meters."""
    out = []
    for i in range(n):
        meter = f"MTR-{i % 10_000 + 1:06d}"
        out.append((f"devices/{meter}/readings", reading(meter, start + seconds(i // 10_000))))
    return out


def publish_in_background(broker, messages) -> threading.Thread:
    def run() -> None:
        p = Publisher(broker)
        try:
            p.publish_all(messages)
        finally:
            p.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def counts(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT (device_id, time)) AS d FROM meter_readings"
    ).fetchone()
    return row["n"], row["d"]


def kill_mid_stream_then_restart(db_url, conn, broker, start_gateway, kill) -> None:
    """Stream 20,000 readings, *kill* (given the gateway) once 2,000 are stored, restart:
    every reading stored exactly once."""
    n = 20_000
    gw = start_gateway(db_url)
    sender = publish_in_background(broker, stream(n))
    wait_for(lambda: counts(conn)[0] >= 2_000, 60, "the first rows")
    kill(gw)
    killed_at = counts(conn)[0]
    sender.join(120)
    start_gateway(db_url, group=gw.group)
    wait_for(lambda: counts(conn)[0] >= n, 90, f"all {n} rows (killed at {killed_at})")
    assert killed_at < n
    stored, distinct = counts(conn)
    assert stored == distinct == n


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(
    db_url, conn, broker, start_gateway
):
    def kill(gw) -> None:
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(10)

    kill_mid_stream_then_restart(db_url, conn, broker, start_gateway, kill)


def link_pid(worker_pid: int) -> int:
    """The worker's MQTT link process (``python -m gateway.link``)."""
    for task in Path(f"/proc/{worker_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"gateway.link" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise AssertionError(f"no link process under {worker_pid}")


def test_link_process_killed_mid_stream_stops_the_worker_and_loses_nothing(
    db_url, conn, broker, start_gateway
):
    def kill(gw) -> None:
        os.kill(link_pid(gw.proc.pid), signal.SIGKILL)
        assert gw.proc.wait(15) == 1  # the worker notices and fails, for its supervisor
        assert any("link" in line and "exited" in line for line in gw.lines), gw.lines

    kill_mid_stream_then_restart(db_url, conn, broker, start_gateway, kill)


def test_database_connections_cut_mid_stream_lose_nothing(db_url, conn, broker, start_gateway):
    n = 10_000
    start_gateway(db_url)
    sender = publish_in_background(broker, stream(n))
    name = db.database_name(db_url)
    cuts = 0
    with db.connect(db.with_database(db_url, "postgres"), autocommit=True) as admin:
        for target in (1_000, 4_000, 7_000):
            wait_for(lambda t=target: counts(conn)[0] >= t, 60, f"{target} rows")
            cuts += scalar(
                admin,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> %s",
                (name, conn.info.backend_pid),
            )
    sender.join(120)
    wait_for(lambda: counts(conn)[0] >= n, 90, f"all {n} rows")
    stored, distinct = counts(conn)
    assert stored == distinct == n
    assert cuts >= 2


def test_two_workers_split_one_shared_subscription(db_url, conn, broker, start_gateway):
    n = 6_000
    gw = start_gateway(db_url, workers=2)
    sender = publish_in_background(broker, stream(n))
    sender.join(120)
    wait_for(lambda: counts(conn)[0] >= n, 60, f"all {n} rows")
    stop_process(gw.proc, 30)
    assert gw.proc.returncode == 0
    pattern = r"stopped \((\d+) messages"
    wait_for(lambda: len(re.findall(pattern, "".join(gw.lines))) == 2, 10, "worker totals")
    per_worker = [int(m) for m in re.findall(pattern, "".join(gw.lines))]
    assert all(k > 0 for k in per_worker), gw.lines
    assert sum(per_worker) == n
    assert counts(conn) == (n, n)
