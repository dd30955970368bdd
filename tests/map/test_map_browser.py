"""The live map in a real browser on rows written the way the services write them: urgency
and queue order, the timeline, a crew driving to its job (icon, trail, KPI), pin and unpin;
and the map at scale. The whole chain through the real gateway and dispatcher is in
test_map_live.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridcrew import db
from tests.conftest import ApiServer, start_api, stop_process
from tests.map.board_data import open_fault
from tests.map.browser import chromium, count, open_map

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def map_api(module_db_url: str, broker) -> Iterator[ApiServer]:
    """One API and one database for the module (the scale test runs last, on top)."""
    server = start_api(module_db_url)
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_live_map_follows_urgency_check_in_trail_pin_and_unpin_without_reload(
    map_api, browser
) -> None:
    page = open_map(browser, map_api.base_url)
    try:
        page.wait_for_function(
            "[...window.gridcrewMap.features.values()]"
            ".filter(f => f.properties.layer === 'crew').length === 12"
        )
        assert count(page, "job") == 6 and count(page, "section") == 24
        page.wait_for_selector("#queue li[data-job-id]")
        page.evaluate("window.__sameDocument = true")

        sent_at = page.evaluate("Date.now()")
        with db.connect(map_api.database_url, autocommit=True) as conn:
            incident, work_order = open_fault(conn, "F1-S5", deadline_min=12)
        page.wait_for_function(
            "([i, w]) => window.gridcrewMap.features.has(`incident:${i}`)"
            " && window.gridcrewMap.features.has(`job:${w}`)",
            arg=[incident, work_order],
        )
        shown_ms = page.evaluate("window.gridcrewMap.stats.lastChangeAt") - sent_at
        print(f"map: new incident and job drawn {shown_ms} ms after COMMIT")
        row = page.locator(f"#queue li[data-job-id='{work_order}']")
        row.wait_for()
        assert "red" in row.get_attribute("class")  # 12 min to its deadline
        assert page.locator("#queue li").first.get_attribute("data-job-id") == str(work_order)
        assert count(page, "meter_off") == 5 and count(page, "alarm") == 5

        row.click()
        page.wait_for_selector("#timeline li.order")
        page.select_option("#pin-crew", "CREW-01")
        page.click("#pin-button")
        page.wait_for_selector(f"#queue li[data-job-id='{work_order}'] .pin-badge")
        assert "CREW-01" in row.locator(".pin-badge").inner_text()
        page.wait_for_selector("#timeline li.audit:has-text('pinned by dispatcher')")

        # The crew drives there (crew API writes) and checks in: marker, trail, timeline follow.
        with db.connect(map_api.database_url, autocommit=True) as conn, conn.transaction():
            lon, lat = (
                conn.execute("SELECT lon, lat FROM work_orders WHERE id = %s", (work_order,))
                .fetchone()
                .values()
            )
            depot = conn.execute(
                "SELECT d.lon, d.lat FROM crews c JOIN depots d ON d.id = c.depot_id"
                " WHERE c.id = 'CREW-01'"
            ).fetchone()
            for k in range(5):
                f = k / 4
                conn.execute(
                    "INSERT INTO crew_positions (time, crew_id, lon, lat, accuracy_m)"
                    " VALUES (now() - make_interval(mins => %s), 'CREW-01', %s, %s, 8)",
                    (
                        8 - 2 * k,
                        depot["lon"] + f * (lon - depot["lon"]),
                        depot["lat"] + f * (lat - depot["lat"]),
                    ),
                )
            conn.execute(
                "UPDATE crews SET state = 'busy', last_lon = %s, last_lat = %s,"
                " last_fix_at = now() WHERE id = 'CREW-01'",
                (lon, lat),
            )
            conn.execute(
                "INSERT INTO check_ins (work_order_id, crew_id, lon, lat, accuracy_m,"
                " client_time, distance_m, accepted) VALUES (%s, 'CREW-01', %s, %s, 8, now(),"
                " 12, true)",
                (work_order, lon, lat),
            )
            conn.execute(
                "UPDATE work_orders SET status = 'on_site', arrived_at = now() WHERE id = %s",
                (work_order,),
            )
            db.notify(conn, "crews", {"id": "CREW-01", "change": "position"})
            db.notify_work_order(conn, work_order, "status")
        page.wait_for_selector(".crew-icon.busy")
        page.wait_for_function("window.gridcrewMap.features.get('trail:CREW-01').geometry !== null")
        page.wait_for_selector("#timeline li.check_in")
        assert page.inner_text("#kpi-busy") == "1"

        page.evaluate("window.gridcrewMap.fitTerritory()")
        page.wait_for_timeout(800)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map_live.png"))

        page.click("#unpin-button")
        page.wait_for_selector(
            f"#queue li[data-job-id='{work_order}'] .pin-badge", state="detached"
        )
        page.wait_for_selector("#timeline li.audit:has-text('unpinned by dispatcher')")
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
    finally:
        page.close()


def _storm(conn, jobs: int) -> None:
    """*jobs* open fault jobs over the territory and every meter off supply."""
    with conn.transaction():
        conn.execute("SELECT setseed(0.42)")
        conn.execute(
            "INSERT INTO work_orders (kind, priority, lon, lat, address, required_skills,"
            " service_area_id, arrival_deadline, description)"
            " SELECT 'fault_repair', 2, 120.755 + (random() - 0.5) * 0.3,"
            " 30.746 + (random() - 0.5) * 0.25, 'Storm job ' || g, ARRAY['overhead_line'],"
            " (SELECT id FROM service_areas ORDER BY priority_order LIMIT 1),"
            " now() + make_interval(mins => (g %% 120) - 20), 'storm'"
            " FROM generate_series(1, %s) g",
            (jobs,),
        )
        conn.execute(
            "INSERT INTO device_events (time, device_id, event_id, event_code, event_name,"
            " severity) SELECT now() - interval '5 minutes', id, 'storm-' || id, '3.26.1.185',"
            " 'last_gasp', 'critical' FROM devices WHERE kind = 'meter'"
        )


FRAME_SAMPLER = """
async () => {
  const frames = [];
  let last = performance.now();
  let running = true;
  const tick = (t) => {
    frames.push(t - last); last = t;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const map = window.gridcrewMap.map;
  for (const z of [13, 14, 12, 13]) {
    map.setZoom(z, {animate: true});
    await new Promise(r => setTimeout(r, 700));
  }
  map.panBy([300, 200], {animate: true});
  await new Promise(r => setTimeout(r, 700));
  running = false;
  frames.sort((a, b) => a - b);
  const p = (q) => Math.round(frames[Math.floor(q * (frames.length - 1))]);
  return {frames: frames.length, p50: p(0.5), p95: p(0.95), max: Math.round(frames.at(-1))};
}
"""


def test_map_holds_a_thousand_jobs_and_ten_thousand_meters_off(map_api, browser) -> None:
    with db.connect(map_api.database_url, autocommit=True) as conn:
        _storm(conn, 1000)
        meters = conn.execute("SELECT count(*) AS n FROM devices WHERE kind = 'meter'").fetchone()
        jobs = conn.execute(
            "SELECT count(*) AS n FROM work_orders WHERE status NOT IN ('signed_off', 'cancelled')"
        ).fetchone()
    started = time.monotonic()
    page = open_map(browser, map_api.base_url)
    try:
        ready_s = time.monotonic() - started
        assert count(page, "job") == jobs["n"] > 1000
        assert count(page, "meter_off") == meters["n"] == 10_000
        stats = page.evaluate("window.gridcrewMap.stats")
        frames = page.evaluate(FRAME_SAMPLER)
        with db.connect(map_api.database_url, autocommit=True) as conn:
            incident, work_order = open_fault(conn, "F2-S2")
        page.wait_for_function("(w) => window.gridcrewMap.features.has(`job:${w}`)", arg=work_order)
        apply_ms = page.evaluate("window.gridcrewMap.stats.renders.at(-1)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map_scale.png"))
    finally:
        page.close()
    figures = {
        "login_to_live_s": round(ready_s, 2),
        "board_fetch_ms": stats["boardFetchMs"],
        "board_render_ms": stats["boardRenderMs"],
        "features": stats["features"],
        "frame_ms": frames,
        "change_apply_ms_with_10k_replaced": apply_ms,
    }
    print("map scale:", json.dumps(figures))
    (ARTIFACTS / "map_scale.json").write_text(json.dumps(figures, indent=2))
    assert frames["frames"] > 0
