"""The crew's live plan stream (``/v1/crew/plan/stream``) over real HTTP on a real uvicorn:
who may open it, that the token is taken from the header only, that a crew is sent its own
job list when the plan changes and never another crew's, and the pages' rules and shell.
Plan changes are written the way the dispatcher writes them (assignments + NOTIFY)."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from gridcrew import db
from mobile_api.crew import router as crew_router
from mobile_api.crew.stream import job_ids
from mobile_api.jobs import machine
from tests.conftest import ApiServer


def test_crew_app_stream_reads_job_ids_from_both_channels() -> None:
    assert job_ids("assignments", '{"plan_id": 3, "changed": [4, 9]}') == [4, 9]
    assert job_ids("work_orders", '{"id": 7, "change": "status"}') == [7]
    assert job_ids("assignments", '{"changed": ["a", null, true, 2]}') == [2]
    for channel, payload in [
        ("work_orders", "not json"),
        ("work_orders", "[1, 2]"),
        ("work_orders", '{"id": "7"}'),
        ("work_orders", '{"id": true}'),
        ("assignments", '{"changed": 5}'),
        ("assignments", '{"id": 5}'),
    ]:
        assert job_ids(channel, payload) == [], (channel, payload)


@contextmanager
def plan_stream(server: ApiServer, token: str) -> Iterator[queue.Queue]:
    """Events of one open stream, as (event, data) pairs, read by a background thread."""
    events: queue.Queue = queue.Queue()

    client = httpx.Client(base_url=server.base_url, timeout=30)

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            with client.stream("GET", "/v1/crew/plan/stream", headers=headers) as r:
                events.put(("status", r.status_code))
                event = None
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        events.put((event, json.loads(line[6:])))
        except httpx.HTTPError:
            return  # closed by the test, or the server stopped

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert events.get(timeout=30) == ("status", 200)
    try:
        yield events
    finally:
        client.close()  # the daemon thread ends with the connection or the server


def next_plan(events: queue.Queue, timeout: float = 10) -> list[int]:
    event, data = events.get(timeout=timeout)
    assert event == "plan"
    return [j["id"] for j in data["jobs"]]


def assign(database_url: str, job_id: int, crew_id: str) -> None:
    """What the dispatcher does: move the job's active assignment, then NOTIFY."""
    with db.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "UPDATE assignments SET active = false, superseded_at = now()"
            " WHERE work_order_id = %s AND active",
            (job_id,),
        )
        conn.execute(
            "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival)"
            " VALUES (%s, %s, 1, now() + interval '20 minutes')",
            (job_id, crew_id),
        )
        conn.execute("UPDATE work_orders SET status = 'assigned' WHERE id = %s", (job_id,))
        db.notify(conn, "assignments", {"plan_id": None, "changed": [job_id]})


def test_crew_app_stream_sends_each_crew_only_its_own_plan(api: ApiServer) -> None:
    with db.connect(api.database_url, autocommit=True) as conn:
        job = conn.execute(
            "SELECT id FROM work_orders WHERE kind = 'meter_install' AND NOT EXISTS"
            " (SELECT 1 FROM assignments a WHERE a.work_order_id = work_orders.id)"
            " ORDER BY id LIMIT 1"
        ).fetchone()["id"]
    with (
        plan_stream(api, api.login("crew-03")) as three,
        plan_stream(api, api.login("crew-09")) as nine,
    ):
        assert job not in next_plan(three) and job not in next_plan(nine)
        assign(api.database_url, job, "CREW-03")
        assert job in next_plan(three)
        assign(api.database_url, job, "CREW-09")  # reassigned: both hear of it
        assert job not in next_plan(three)
        assert job in next_plan(nine)
        # a change to a job neither crew ever held wakes neither
        with db.connect(api.database_url, autocommit=True) as conn:
            db.notify(conn, "work_orders", {"id": 2**40, "change": "status"})
        time.sleep(2)
        assert nine.empty() and three.empty()


def test_crew_app_stream_takes_the_token_from_the_header_only(api: ApiServer) -> None:
    token = api.login("crew-03")
    with httpx.Client(base_url=api.base_url, timeout=10) as c:
        assert c.get("/v1/crew/plan/stream").status_code == 401
        assert c.get("/v1/crew/plan/stream", params={"access_token": token}).status_code == 401
        dispatcher = {"Authorization": f"Bearer {api.login('dispatcher')}"}
        r = c.get("/v1/crew/plan/stream", headers=dispatcher)
        assert (r.status_code, r.json()["code"]) == (403, "crew_only")


def test_crew_app_rules_and_shell_come_from_the_server(api: ApiServer) -> None:
    with httpx.Client(base_url=api.base_url, timeout=10) as c:
        rules = c.get("/crew/config.json").json()
        assert rules["moves"] == {s: list(machine.allowed_moves(s)) for s in machine.STATUSES}
        assert rules["needs_reason"] == list(machine.NEEDS_REASON)
        sw = c.get("/crew/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript")
        assert crew_router.shell_version() in sw.text and "__SHELL_VERSION__" not in sw.text
        page = c.get("/crew/").text
        # every file the shell lists is served
        for path in re.findall(r'"(/(?:crew|i18n)/[^"]*)"', sw.text):
            assert c.get(path).status_code == 200, path
        assert c.get("/crew/static/../router.py").status_code == 404
        manifest = c.get("/crew/manifest.webmanifest").json()
        assert manifest["start_url"] == "/crew/" and manifest["scope"] == "/crew/"
    # works under a CSP without inline scripts: no inline script, handler or style
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"\son[a-z]+=", page) and " style=" not in page


def test_crew_app_catalogue_names_every_status_move_stage_skill_and_refusal() -> None:
    from gridcrew.i18n import LANGUAGES, catalogue
    from mobile_api.photos.service import STAGES
    from simulators.demo.territory import build

    needed = {f"crew.status.{s}" for s in machine.STATUSES}
    needed |= {f"crew.do.{m}" for s in machine.STATUSES for m in machine.allowed_moves(s)}
    needed |= {f"crew.stage.{s}" for s in STAGES}
    # work_orders.kind's CHECK (migration 0001)
    needed |= {f"crew.kind.{k}" for k in ("fault_repair", "meter_install", "inspection")}
    needed |= {f"crew.skill.{k}" for c in build(1).crews for k in c.skills}
    codes = ("job_reassigned", "not_your_job", "illegal_transition", "already_signed_off")
    needed |= {f"crew.refusal.{c}" for c in codes}
    for lang in LANGUAGES:
        assert needed <= catalogue(lang).keys(), lang
