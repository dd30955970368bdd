"""The dispatcher service on a real database clone and the session's Mosquitto."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch import service
from dispatch.rules import points
from dispatch.travel import provider_for
from gridcrew import constraints, db
from gridcrew.config import get_settings
from gridcrew.mqtt import broker_address, service_client
from tests.conftest import ROOT, Broker, service_env, stop_process

WAIT_S = 30.0
CITY = (120.755, 30.746)


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def add_fault(conn: psycopg.Connection, lon: float, lat: float, skills: list[str], **kw) -> int:
    row = conn.execute(
        "INSERT INTO work_orders (kind, priority, lon, lat, required_skills, service_area_id,"
        " arrival_deadline, service_time_min)"
        " VALUES ('fault_repair', %s, %s, %s, %s, 'SA-CITY', now() + interval '45 minutes', 45)"
        " RETURNING id",
        (kw.get("priority", 2), lon, lat, skills),
    ).fetchone()
    db.notify_work_order(conn, row["id"], "created")
    return row["id"]


def active(conn: psycopg.Connection, work_order_id: int) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT a.crew_id, a.sequence, a.explanation, w.status FROM assignments a"
        " JOIN work_orders w ON w.id = a.work_order_id"
        " WHERE a.active AND a.work_order_id = %s",
        (work_order_id,),
    ).fetchone()


def start_dispatcher(db_url: str, log: Path) -> subprocess.Popen:
    env = service_env(
        db_url, GRIDCREW_DISPATCH_TIME_LIMIT_S="0.3", GRIDCREW_DISPATCH_DEBOUNCE_S="0.1"
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gridcrew", "dispatch"], env=env, cwd=ROOT, stderr=out
        )


@pytest.fixture
def dispatchers(db_url: str, broker: Broker, tmp_path: Path) -> Iterator[Callable]:
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = start_dispatcher(db_url, tmp_path / f"dispatch-{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop_process(proc)


def subscribe(topic: str) -> tuple[Any, queue.Queue]:
    got: queue.Queue = queue.Queue()
    client = service_client(f"test-sub-{os.getpid()}-{time.monotonic_ns()}", "svc-monitor")
    client.on_message = lambda c, u, msg: got.put((msg.topic, msg.retain, json.loads(msg.payload)))
    addr = broker_address()
    client.connect(addr.host, addr.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, got


def leader_pid(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
        " AND l.objsubid = 1 AND a.datname = current_database()",
        (service.LEADER_LOCK >> 32, service.LEADER_LOCK & 0xFFFFFFFF),
    ).fetchone()
    return int(row["application_name"].rsplit(":", 1)[1]) if row else None


def test_service_assigns_open_work_orders_and_publishes_retained_plans(
    conn: psycopg.Connection, dispatchers: Callable
):
    cable = add_fault(conn, CITY[0] + 0.01, CITY[1], ["cable"], priority=1)
    overhead = add_fault(conn, CITY[0] - 0.01, CITY[1] + 0.01, ["overhead_line"])
    proc = dispatchers()
    first = wait_for("both faults assigned", lambda: active(conn, cable) and active(conn, overhead))
    row = active(conn, cable)
    assert row["status"] == "assigned"
    crew = conn.execute("SELECT skills FROM crews WHERE id = %s", (row["crew_id"],)).fetchone()
    assert "cable" in crew["skills"]
    e = row["explanation"]
    for key in ("eta", "deadline", "slack_min", "distance_km", "skill", "next_best_crew"):
        assert key in e
    assert e["skill"] == "cable" and e["next_best_eta"]
    assert first

    # a new job arrives by NOTIFY and is planned without waiting for the periodic re-plan
    later = add_fault(conn, CITY[0], CITY[1] - 0.01, ["transformer"])
    wait_for("the new fault assigned", lambda: active(conn, later))

    client, got = subscribe("crews/+/plan")
    try:
        crew_id = active(conn, later)["crew_id"]

        def plan_of_crew():
            while True:
                try:
                    topic, retained, body = got.get(timeout=0.5)
                except queue.Empty:
                    return None
                ids = {j["id"] for j in body["jobs"]}
                if topic == f"crews/{crew_id}/plan" and later in ids:
                    return retained, body

        retained, body = wait_for("the crew's retained plan", plan_of_crew)
        assert retained and body["crew_id"] == crew_id and body["plan_id"]
    finally:
        client.loop_stop()
        client.disconnect()

    audit_rows = conn.execute(
        "SELECT action FROM audit_log WHERE actor = 'svc-dispatch' AND entity_id = %s",
        (str(cable),),
    ).fetchall()
    assert [r["action"] for r in audit_rows] == ["assigned"]
    plans = conn.execute("SELECT count(*) AS n FROM dispatch_plans").fetchone()["n"]
    assert plans >= 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_standby_takes_over_when_the_leader_is_killed(
    conn: psycopg.Connection, dispatchers: Callable
):
    first = add_fault(conn, CITY[0] + 0.005, CITY[1], ["cable"])
    procs = {p.pid: p for p in (dispatchers(), dispatchers())}
    pid = wait_for("a leader", lambda: leader_pid(conn))
    wait_for("the first plan", lambda: active(conn, first))
    procs[pid].send_signal(signal.SIGKILL)
    procs[pid].wait(30)
    standby = next(p for p in procs.values() if p.pid != pid)
    # The killed leader's server session may hold the lock a moment longer.
    wait_for("the standby to lead", lambda: leader_pid(conn) == standby.pid)
    second = add_fault(conn, CITY[0] - 0.005, CITY[1], ["overhead_line"])
    wait_for("the standby to assign the new fault", lambda: active(conn, second))
    doubled = conn.execute(
        "SELECT work_order_id FROM assignments WHERE active"
        " GROUP BY work_order_id HAVING count(*) > 1"
    ).fetchall()
    assert doubled == []
    audit_first = conn.execute(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'assigned' AND entity_id = %s",
        (str(first),),
    ).fetchone()["n"]
    assert audit_first == 1
    standby.send_signal(signal.SIGINT)
    assert standby.wait(30) == 0


def test_pins_and_forbids_are_written_announced_and_obeyed(conn: psycopg.Connection, broker):
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": 0.3})
    travel = provider_for(None)
    job = add_fault(conn, CITY[0] + 0.002, CITY[1], ["cable"])
    with db.connect(conn.info.dsn, autocommit=True) as listener:
        listener.execute("LISTEN constraints")
        with conn.transaction():
            constraints.pin(conn, job, "CREW-12", "dispatcher")
        note = next(listener.notifies(timeout=5, stop_after=1))
        assert json.loads(note.payload) == {
            "work_order_id": job,
            "crew_id": "CREW-12",
            "kind": "pin",
            "removed": False,
        }
    service.replan(conn, settings, travel, leader="test", trigger="test")
    assert active(conn, job)["crew_id"] == "CREW-12"
    conn.execute("UPDATE work_orders SET status = 'accepted' WHERE id = %s", (job,))
    with conn.transaction():
        assert constraints.unpin(conn, job, "dispatcher")
        constraints.forbid(conn, job, "CREW-12", "dispatcher", "declined")
    service.replan(conn, settings, travel, leader="test", trigger="test")
    row = active(conn, job)
    assert row["crew_id"] != "CREW-12" and row["status"] == "assigned"
    actions = [
        r["action"]
        for r in conn.execute(
            "SELECT action FROM audit_log WHERE entity_id = %s ORDER BY id", (str(job),)
        )
    ]
    assert actions == ["pinned", "assigned", "unpinned", "forbidden", "reassigned"]
    old = conn.execute(
        "SELECT superseded_at FROM assignments WHERE work_order_id = %s AND NOT active", (job,)
    ).fetchone()
    assert old["superseded_at"] is not None


def test_job_without_a_qualified_crew_goes_back_to_open_with_its_reason(
    conn: psycopg.Connection,
):
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": 0.2})
    travel = provider_for(None)
    job = add_fault(conn, CITY[0], CITY[1], ["transformer"])
    service.replan(conn, settings, travel, leader="test", trigger="test")
    assert active(conn, job)["status"] == "assigned"
    conn.execute("UPDATE crews SET state = 'offline' WHERE 'transformer' = ANY(skills)")
    written = service.replan(conn, settings, travel, leader="test", trigger="test")
    row = conn.execute(
        "SELECT unassigned FROM dispatch_plans WHERE id = %s", (written.plan_id,)
    ).fetchone()
    (entry,) = [u for u in row["unassigned"] if u["work_order_id"] == job]
    assert "transformer" in entry["reason"]
    assert active(conn, job) is None
    status = conn.execute("SELECT status FROM work_orders WHERE id = %s", (job,)).fetchone()
    assert status["status"] == "open"
    last = conn.execute(
        "SELECT action, payload FROM audit_log WHERE entity_id = %s ORDER BY id DESC LIMIT 1",
        (str(job),),
    ).fetchone()
    assert last["action"] == "unassigned" and "transformer" in last["payload"]["reason"]


@pytest.mark.parametrize(
    ("start", "end", "now", "expected"),
    [
        (dtime(0, 0), dtime(23, 59), datetime(2026, 12, 1, 23, 50), (0.0, 1440.0)),
        (dtime(8, 0), dtime(17, 0), datetime(2026, 12, 1, 9, 0), (0.0, 480.0)),
        (dtime(8, 0), dtime(17, 0), datetime(2026, 12, 1, 7, 0), (60.0, 600.0)),
        (dtime(8, 0), dtime(17, 0), datetime(2026, 12, 1, 18, 0), (840.0, 1380.0)),
        (dtime(20, 0), dtime(6, 0), datetime(2026, 12, 1, 22, 0), (0.0, 480.0)),
        (dtime(20, 0), dtime(6, 0), datetime(2026, 12, 1, 2, 0), (0.0, 240.0)),
        (dtime(20, 0), dtime(6, 0), datetime(2026, 12, 1, 12, 0), (480.0, 1080.0)),
    ],
)
def test_shift_window_in_local_time(start, end, now, expected):
    assert service.shift_window(start, end, now) == expected


def test_job_set_back_to_open_under_its_assignment_is_assigned_again(conn: psycopg.Connection):
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": 0.2})
    travel = provider_for(None)
    job = add_fault(conn, CITY[0] + 0.003, CITY[1] + 0.003, ["cable"])
    service.replan(conn, settings, travel, leader="test", trigger="test")
    crew = active(conn, job)["crew_id"]
    conn.execute("UPDATE work_orders SET status = 'open' WHERE id = %s", (job,))
    written = service.replan(conn, settings, travel, leader="test", trigger="test")
    row = active(conn, job)
    assert row["status"] == "assigned" and row["crew_id"] == crew
    assert job in written.changed_jobs
    count = conn.execute(
        "SELECT count(*) AS n FROM assignments WHERE work_order_id = %s", (job,)
    ).fetchone()["n"]
    assert count == 1


def test_an_en_route_eta_counts_from_the_crews_last_fix_and_a_stale_fix_is_flagged(
    conn: psycopg.Connection,
):
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": 0.2})
    crew = conn.execute("SELECT id FROM crews ORDER BY id LIMIT 1").fetchone()["id"]
    conn.execute(
        "UPDATE crews SET last_lon = %s, last_lat = %s, last_fix_at = now() - interval '25 min'"
        " WHERE id = %s",
        (CITY[0], CITY[1], crew),
    )
    job = add_fault(conn, CITY[0] + 0.2, CITY[1] + 0.1, [])  # about 20 km: a long drive
    conn.execute("UPDATE work_orders SET status = 'en_route' WHERE id = %s", (job,))
    conn.execute(
        "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival)"
        " VALUES (%s, %s, 1, now())",
        (job, crew),
    )
    conn.execute(
        "INSERT INTO work_order_transitions (work_order_id, crew_id, actor, from_status,"
        " to_status, client_time, server_time) VALUES (%s, %s, 'test', 'accepted', 'en_route',"
        " now() - interval '40 min', now() - interval '40 min')",
        (job, crew),
    )
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    problem = service.load(conn, settings, now)
    loaded = next(c for c in problem.crews if c.id == crew)
    assert abs(loaded.fix_age_min - 25) < 0.5 and abs(loaded.driven_min - 25) < 0.5

    service.replan(conn, settings, provider_for(None), leader="test", trigger="test")
    row = conn.execute(
        "SELECT planned_arrival, explanation, now() AS now FROM assignments"
        " WHERE work_order_id = %s AND active",
        (job,),
    ).fetchone()
    pts = points(problem)
    v = problem.crews.index(loaded)
    k = next(k for k, j in enumerate(problem.jobs) if j.id == job)
    drive = provider_for(None).table(pts, pts).minutes[v][len(problem.crews) + k]
    assert drive > 30  # the whole drive from the fix; 25 min of it are behind the crew
    assert abs((row["planned_arrival"] - now).total_seconds() / 60 - (drive - 25)) < 0.5
    assert row["explanation"]["position_stale"]
    assert row["explanation"]["position_age_min"] >= 25
