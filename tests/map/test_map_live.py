"""The whole chain in a real browser: meters' last gasps over MQTT -> the real gateway opens
an incident and its job -> the real dispatcher assigns it -> the map draws all of it live;
a pin from the panel -> the dispatcher's next plan moves the job to that crew.

Runs the real API, ``gridcrew gateway`` and ``gridcrew dispatch`` as subprocesses on one
database clone and the session's broker; publishes with each meter's own broker login.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridcrew import db
from gridcrew.mqtt import make_client
from schemas.telemetry import EventName, event, topic
from tests.conftest import ApiServer, Broker, device_password, service_env, start_api, stop_process
from tests.dispatch.test_service import start_dispatcher
from tests.gateway.conftest import Gateway, purge_sessions, wait_for
from tests.map.browser import chromium, count, open_map

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT_MS = 60_000


@pytest.fixture
def stack(db_url: str, broker: Broker, tmp_path: Path) -> Iterator[ApiServer]:
    """API, gateway and dispatcher on one clone; each stopped (and the gateway's session purged)."""
    group = f"gwm{uuid.uuid4().hex[:8]}"
    api = start_api(db_url)
    try:
        gateway = Gateway(group, ["--group", group], service_env(db_url), 1)
        try:
            dispatcher = start_dispatcher(db_url, tmp_path / "dispatch.log")
            try:
                yield api
            finally:
                stop_process(dispatcher)
                print((tmp_path / "dispatch.log").read_text()[-2000:])
        finally:
            stop_process(gateway.proc, 30)
            purge_sessions(broker, [f"{group}-0"])
    finally:
        stop_process(api.process)


def last_gasp_burst(broker: Broker, meters: list[str]) -> float:
    """Each meter connects with its own login, then all publish a last gasp; returns the
    epoch milliseconds just before the first publish."""
    at = datetime.now(UTC) - timedelta(seconds=2)
    clients = []
    for meter in meters:
        c = make_client(meter, meter, device_password(meter))
        c.connect(broker.host, broker.port)
        c.loop_start()
        clients.append(c)
    try:
        for c in clients:
            wait_for(c.is_connected, 30, "a meter to connect")
        sent_at = time.time() * 1000
        infos = [
            c.publish(
                topic(m, "events"),
                event(m, f"lg-{uuid.uuid4().hex[:8]}", at, EventName.last_gasp).model_dump_json(),
                qos=1,
            )
            for c, m in zip(clients, meters, strict=True)
        ]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()
    return sent_at


FIND = """([layer, where]) => {
  const match = (p) => p.layer === layer && Object.entries(where)
    .every(([k, v]) => (v === true ? !!p[k] : p[k] === v));
  const f = [...window.gridcrewMap.features.values()].find((f) => match(f.properties));
  return f ? {feature: f, at: window.gridcrewMap.stats.lastChangeAt} : null;
}"""


def seen(page, layer: str, **where: object) -> tuple[dict, float]:
    """Wait for a feature of *layer* whose properties match *where* (``True``: any non-empty
    value); return it and the epoch ms of the stream change that drew it."""
    got = page.wait_for_function(FIND, arg=[layer, where], timeout=WAIT_MS).json_value()
    return got["feature"], got["at"]


def test_alarm_burst_over_mqtt_becomes_a_drawn_incident_an_assigned_job_and_a_pin(
    stack: ApiServer, broker: Broker
) -> None:
    with db.connect(stack.database_url, autocommit=True) as conn:
        tx = conn.execute(
            "SELECT t.id, t.section_id FROM transformers t WHERE EXISTS (SELECT 1 FROM devices"
            " d WHERE d.transformer_id = t.id AND d.kind = 'meter' AND d.active)"
            " ORDER BY t.id LIMIT 1"
        ).fetchone()
        meters = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM devices WHERE kind = 'meter' AND active AND transformer_id = %s"
                " ORDER BY id",
                (tx["id"],),
            )
        ]
    with chromium() as browser:
        page = open_map(browser, stack.base_url)
        try:
            page.wait_for_function(
                "[...window.gridcrewMap.features.values()]"
                ".filter(f => f.properties.layer === 'crew').length === 12"
            )
            # The dispatcher's first plan reaches the board: seeded jobs get their crews.
            page.wait_for_function(
                "[...window.gridcrewMap.features.values()]"
                ".some(f => f.properties.layer === 'job' && f.properties.crew_id)",
                timeout=WAIT_MS,
            )
            page.wait_for_selector("#queue li[data-job-id]")
            jobs_before = count(page, "job")
            page.evaluate("window.__sameDocument = true")

            sent_at = last_gasp_burst(broker, meters)
            incident, drawn_at = seen(page, "incident", transformer_id=tx["id"])
            assert incident["properties"]["section_id"] == tx["section_id"]
            section = page.evaluate(
                "(s) => window.gridcrewMap.features.get(`section:${s}`)", tx["section_id"]
            )
            assert incident["geometry"] == section["geometry"]  # the suspected section, drawn
            incident_id = int(incident["id"].split(":")[1])
            page.wait_for_function(
                "(n) => [...window.gridcrewMap.features.values()]"
                ".filter(f => f.properties.layer === 'meter_off').length >= n",
                arg=len(meters),
                timeout=WAIT_MS,
            )
            job, _ = seen(page, "job", incident_id=incident_id)
            assert job["properties"]["required_skills"] == ["transformer"]
            assert count(page, "job") == jobs_before + 1
            job, assigned_at = seen(page, "job", incident_id=incident_id, crew_id=True)
            job = job["properties"]
            first_crew = job["crew_id"]
            row = page.locator(f"#queue li[data-job-id='{job['id']}']")
            row.wait_for()
            assert f"{first_crew} · ETA" in row.inner_text()

            # Pin it from the panel to another crew that has the skill.
            row.click()
            page.wait_for_selector("#timeline li.order")
            options = page.eval_on_selector_all("#pin-crew option", "os => os.map(o => o.value)")
            other = next(c for c in options if c != first_crew)
            page.select_option("#pin-crew", other)
            pinned_at = page.evaluate("Date.now()")
            page.click("#pin-button")
            page.wait_for_selector(f"#queue li[data-job-id='{job['id']}'] .pin-badge")
            _, replanned_at = seen(page, "job", id=job["id"], crew_id=other)
            page.wait_for_selector(
                f"#queue li[data-job-id='{job['id']}']:has-text('{other} · ETA')"
            )
            page.wait_for_selector(f"#detail-body:has-text('crew {other} · ETA')")
            with db.connect(stack.database_url, autocommit=True) as conn:
                active = conn.execute(
                    "SELECT crew_id, pinned FROM assignments WHERE active AND work_order_id = %s",
                    (job["id"],),
                ).fetchone()
            assert (active["crew_id"], active["pinned"]) == (other, True)

            page.wait_for_timeout(800)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "map_live_chain.png"))
            assert page.evaluate("window.__sameDocument") is True  # no reload happened
        finally:
            page.close()
    figures = {
        "meters": len(meters),
        "publish_to_incident_drawn_ms": round(drawn_at - sent_at),
        "publish_to_job_assigned_drawn_ms": round(assigned_at - sent_at),
        "pin_to_new_plan_drawn_ms": round(replanned_at - pinned_at),
        "first_crew": first_crew,
        "pinned_crew": other,
    }
    print("map live chain:", json.dumps(figures))
