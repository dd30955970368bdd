"""The crew app in a real Chromium with a phone viewport and emulated GPS, on the real API,
broker, gateway and dispatcher: one job from assigned to signed off online, the same offline
(page closed and reopened while offline, then synced), a job reassigned while offline, a
fault published over MQTT reaching the crew's list live, and screenshots in both languages.

Which crew gets which job is fixed by dispatcher pins (through the board API), and only the
crews these tests use are on shift, so the dispatcher's re-plans cannot move them.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from gridcrew import db
from gridcrew.config import get_settings
from mobile_api.signoffs.signature import from_strokes
from simulators.fieldwork import survey_photo
from tests.conftest import ApiServer, Broker
from tests.map.browser import chromium
from tests.map.test_map_live import last_gasp_burst
from tests.stack import api, dispatcher, gateway, wait_for

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ON_SHIFT = ("CREW-01", "CREW-03", "CREW-04", "CREW-05", "CREW-12")
PHONE = {"width": 390, "height": 844}
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def stack(module_db_url: str, broker: Broker) -> Iterator[ApiServer]:
    """API, gateway and dispatcher on the module's clone; only ON_SHIFT crews on shift."""
    with db.connect(module_db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE crews SET state = 'off_shift' WHERE NOT id = ANY (%s)", (list(ON_SHIFT),)
        )
    with (
        api(module_db_url, broker.url) as server,
        gateway(module_db_url, broker.url),
        dispatcher(module_db_url, broker.url),
    ):
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def phone(browser: Browser, at: tuple[float, float], lang: str = "zh-CN") -> BrowserContext:
    """A phone-sized context with GPS at *at* (lon, lat), in *lang*."""
    # the harness evaluates strings in the page (wait_for_function), which the page's
    # content policy forbids; tests/security opens the app under that policy
    context = browser.new_context(
        bypass_csp=True,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": at[0], "latitude": at[1], "accuracy": 6},
        permissions=["geolocation"],
        locale=lang,
    )
    context.set_default_timeout(30_000)
    if lang != "zh-CN":
        context.add_init_script(f"localStorage.setItem('gridcrew.lang', '{lang}')")
    return context


def open_app(context: BrowserContext, base_url: str) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda exc: print(f"crew page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and print(f"crew console: {m.text}"))
    page.goto(f"{base_url}/crew/")
    page.wait_for_function("document.body.dataset.ready === '1'")
    return page


def sign_in(page: Page, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", get_settings().demo_password)
    page.click("#login-button")
    page.wait_for_selector("#list-view:not([hidden])")
    # the shell is cached and the service worker controls the page (needed offline)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT_MS)


def pin(server: ApiServer, job_id: int, crew_id: str) -> None:
    """The dispatcher pins *job_id* to *crew_id* (board API) and the plan follows."""
    token = server.login("dispatcher")
    with server.client(token) as c:
        r = c.post("/v1/board/pins", json={"work_order_id": job_id, "crew_id": crew_id})
        assert r.status_code == 201, r.text

    def held() -> bool:
        with db.connect(server.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT a.crew_id FROM assignments a JOIN work_orders w ON w.id = a.work_order_id"
                " WHERE a.active AND a.work_order_id = %s AND w.status = 'assigned'",
                (job_id,),
            ).fetchone()
        return row is not None and row["crew_id"] == crew_id

    wait_for(held, 60, f"the dispatcher to give job {job_id} to {crew_id}")


def install_job(server: ApiServer, index: int) -> dict:
    """The *index*-th seeded meter installation (skill: meter) with its site."""
    with db.connect(server.database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT id, number, lon, lat FROM work_orders WHERE kind = 'meter_install'"
            " ORDER BY id OFFSET %s LIMIT 1",
            (index,),
        ).fetchone()


def photo_file(tmp_path: Path, job: dict, label: str) -> tuple[Path, str]:
    data = survey_photo(job["lon"], job["lat"], label, random.Random(label))
    path = tmp_path / f"{label}.jpg"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def open_job(page: Page, job_id: int) -> None:
    page.click(f"#jobs li[data-job-id='{job_id}']")
    page.wait_for_selector(f"#job-view:not([hidden]) #job-card li[data-job-id='{job_id}']")


def tap_status(page: Page, status: str) -> None:
    page.click(f"#status-buttons button[data-status='{status}']")
    page.wait_for_selector(f"#job-status[data-status='{status}']")


def add_photo(page: Page, stage: str, path: Path) -> None:
    page.click(f"#stages button[data-stage='{stage}']")
    page.set_input_files("#photo-input", str(path))


def sign(page: Page, ratings: dict[str, int], name: str = "王建国") -> None:
    page.click("#signoff-button")
    page.wait_for_selector("#signoff-view:not([hidden])")
    box = page.locator("#pad").bounding_box()
    assert box is not None
    for stroke in range(2):
        y = box["y"] + box["height"] * (0.35 + 0.3 * stroke)
        page.mouse.move(box["x"] + 30, y)
        page.mouse.down()
        for k in range(1, 12):
            page.mouse.move(box["x"] + 30 + k * 25, y + (12 if k % 2 else -12))
        page.mouse.up()
    page.fill("#customer-name", name)
    page.fill("#work-summary", "更换电能表并接电，已试送电")
    for dim, score in ratings.items():
        page.click(f".rating[data-dimension='{dim}'] button[data-score='{score}']")


def record_sync(page: Page) -> list[dict]:
    """Every action the page sends through /v1/sync, as sent."""
    sent: list[dict] = []

    def seen(request) -> None:
        if request.url.endswith("/v1/sync") and request.method == "POST":
            sent.extend(json.loads(request.post_data or "{}").get("actions", []))

    page.on("request", seen)
    return sent


def screenshot(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"crew_app_{name}.png"), full_page=True)


def outbox_count(page: Page) -> int:
    return int(page.get_attribute("#outbox-button", "data-count") or "0")


def wait_sent(page: Page) -> None:
    wait_or_explain(page, "#outbox-button[data-count='0']")


EXPLAIN = """() => Promise.all([
  window.gridcrewCrew.outbox.pending(window.gridcrewCrew.state.session.username),
  window.gridcrewCrew.outbox.outcomes(window.gridcrewCrew.state.session.username),
]).then(([queue, outcomes]) => JSON.stringify({
  checkin: (document.getElementById('checkin-result') || {}).textContent,
  notice: document.getElementById('notice').textContent,
  queue: queue.map(r => [r.type, r.job_id, r.body]),
  outcomes: outcomes.slice(0, 10).map(o => [o.type, o.status, o.body]),
}))"""


def wait_or_explain(page: Page, selector: str) -> None:
    """Wait for *selector*; on a timeout fail with what the outbox holds and last heard."""
    try:
        page.wait_for_selector(selector, timeout=WAIT_MS, state="attached")
    except Exception as e:
        raise AssertionError(f"{selector} not shown; app state: {page.evaluate(EXPLAIN)}") from e


def test_crew_app_online_job_from_assigned_to_signed_off(
    stack: ApiServer, browser: Browser, tmp_path: Path
) -> None:
    job = install_job(stack, 0)
    pin(stack, job["id"], "CREW-03")
    photo, sha = photo_file(tmp_path, job, "online-survey")
    context = phone(browser, (job["lon"], job["lat"]))
    try:
        page = open_app(context, stack.base_url)
        synced = record_sync(page)
        sign_in(page, "crew-03")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}']")
        card = page.inner_text(f"#jobs li[data-job-id='{job['id']}']")
        assert "装表接电" in card and "预约时段" in card and "派给本班组的原因" in card
        open_job(page, job["id"])
        assert page.eval_on_selector_all(
            "#status-buttons button", "bs => bs.map(b => b.dataset.status)"
        ) == ["accepted", "declined", "cannot_complete"]
        assert page.get_attribute("#navigate", "href").startswith("geo:")
        for status in ("accepted", "en_route", "on_site"):
            tap_status(page, status)
        page.click("#checkin-button")
        wait_or_explain(page, "#checkin-result[data-state='accepted']")
        assert "签到成功" in page.inner_text("#checkin-result")
        add_photo(page, "survey", photo)
        page.wait_for_selector(f"#photos li[data-sha256='{sha}']", timeout=WAIT_MS)
        tap_status(page, "work_done")
        ratings = {
            "attitude": 5,
            "professional_skill": 4,
            "response_speed": 5,
            "process_standard": 3,
        }
        sign(page, ratings)
        page.click("#signoff-submit")
        page.wait_for_selector("#sheet-button:not([hidden])", timeout=WAIT_MS)
        page.click("#sheet-button")
        page.wait_for_selector("#sheet-link[data-ready='1']", state="attached")
        pdf_head = page.evaluate(
            "fetch(document.getElementById('sheet-link').href).then(r => r.text())"
            ".then(t => t.slice(0, 5))"
        )
        assert pdf_head == "%PDF-"
        wait_sent(page)
    finally:
        context.close()

    with db.connect(stack.database_url, autocommit=True) as conn:
        wo = conn.execute(
            "SELECT status, arrived_at FROM work_orders WHERE id = %s", (job["id"],)
        ).fetchone()
        check_ins = conn.execute(
            "SELECT accepted FROM check_ins WHERE work_order_id = %s", (job["id"],)
        ).fetchall()
        photos = conn.execute(
            "SELECT sha256, stage FROM photos WHERE work_order_id = %s", (job["id"],)
        ).fetchall()
        signoff_row = conn.execute(
            "SELECT s.customer_name, s.signature_sha256, r.attitude, r.professional_skill,"
            " r.response_speed, r.process_standard FROM signoffs s JOIN ratings r"
            " ON r.work_order_id = s.work_order_id AND r.stage = 'completion'"
            " WHERE s.work_order_id = %s",
            (job["id"],),
        ).fetchone()
        transitions = [
            r["to_status"]
            for r in conn.execute(
                "SELECT to_status FROM work_order_transitions WHERE work_order_id = %s"
                " AND actor = 'crew-03' ORDER BY id",
                (job["id"],),
            )
        ]
    assert wo["status"] == "signed_off" and wo["arrived_at"] is not None
    assert [c["accepted"] for c in check_ins] == [True]
    assert photos == [{"sha256": sha, "stage": "survey"}]
    signoff = {k: v for k, v in signoff_row.items() if k != "signature_sha256"}
    assert signoff == {"customer_name": "王建国", **ratings}
    assert transitions == ["accepted", "en_route", "on_site", "work_done", "signed_off"]
    (sent,) = [a["body"] for a in synced if a["type"] == "signoff"]
    assert len(sent["strokes"]) == 2 and all(len(s) >= 10 for s in sent["strokes"])
    # the signature stored is the one drawn from the strokes the customer made
    assert (
        signoff_row["signature_sha256"] == hashlib.sha256(from_strokes(sent["strokes"])).hexdigest()
    )


PENDING = """(user) => window.gridcrewCrew.outbox.pending(user).then(rs => rs.map(r => ({
  seq: r.seq, key: r.key, type: r.type, job_id: r.job_id, body: r.body || null,
  stage: r.stage || null, created_at: r.created_at})))"""


def test_crew_app_offline_actions_survive_a_closed_page_and_are_stored_once(
    stack: ApiServer, browser: Browser, tmp_path: Path
) -> None:
    job = install_job(stack, 1)
    pin(stack, job["id"], "CREW-04")
    photos = [photo_file(tmp_path, job, f"offline-{stage}") for stage in ("survey", "completion")]
    context = phone(browser, (job["lon"], job["lat"]))
    try:
        page = open_app(context, stack.base_url)
        sign_in(page, "crew-04")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}']")
        wait_sent(page)

        context.set_offline(True)
        page.wait_for_selector("#net.offline")
        open_job(page, job["id"])
        for status in ("accepted", "en_route", "on_site"):
            tap_status(page, status)
        page.click("#checkin-button")
        page.wait_for_selector("#checkin-result[data-state='queued']")
        add_photo(page, "survey", photos[0][0])
        add_photo(page, "completion", photos[1][0])
        page.wait_for_function(
            "document.querySelectorAll('#photos li[data-state=queued]').length == 2"
        )
        tap_status(page, "work_done")
        sign(
            page,
            {"attitude": 4, "professional_skill": 5, "response_speed": 4, "process_standard": 5},
        )
        page.click("#signoff-submit")
        page.wait_for_selector("#signoff-state.wait")
        queued = page.evaluate(PENDING, "crew-04")
        kinds = [r["type"] for r in queued if r["type"] != "position"]
        assert kinds == ["status"] * 3 + ["check_in", "photo", "photo", "status", "signoff"]
        assert outbox_count(page) == len(queued)
        (check_in,) = [r for r in queued if r["type"] == "check_in"]

        # Closed while offline; opened again still offline: the service worker serves the
        # app, IndexedDB still holds every action, the job shows as the crew left it.
        page.close()
        page = open_app(context, stack.base_url)
        assert page.evaluate("performance.getEntriesByType('navigation')[0].workerStart") > 0
        page.wait_for_selector("#list-view:not([hidden])")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}'][data-status='signed_off']")
        assert page.evaluate(PENDING, "crew-04") == queued
        assert outbox_count(page) == len(queued)

        context.set_offline(False)
        wait_sent(page)
        page.click("#outbox-button")
        page.wait_for_selector("#outbox-view:not([hidden])")
        assert page.locator("#outcomes li.refused").count() == 0
    finally:
        context.close()

    positions = [r for r in queued if r["type"] == "position"]
    with db.connect(stack.database_url, autocommit=True) as conn:
        wo = conn.execute(
            "SELECT status, arrived_at FROM work_orders WHERE id = %s", (job["id"],)
        ).fetchone()
        transitions = [
            r["to_status"]
            for r in conn.execute(
                "SELECT to_status FROM work_order_transitions WHERE work_order_id = %s"
                " AND actor = 'crew-04' ORDER BY id",
                (job["id"],),
            )
        ]
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM check_ins WHERE work_order_id = %(id)s) AS check_ins,"
            " (SELECT count(*) FROM signoffs WHERE work_order_id = %(id)s) AS signoffs,"
            " (SELECT count(*) FROM crew_positions WHERE crew_id = 'CREW-04'"
            "  AND time = ANY (%(times)s::timestamptz[])) AS positions",
            {"id": job["id"], "times": [p["body"]["time"] for p in positions]},
        ).fetchone()
        stored = sorted(
            r["sha256"]
            for r in conn.execute(
                "SELECT sha256 FROM photos WHERE work_order_id = %s", (job["id"],)
            )
        )
    assert wo["status"] == "signed_off"
    assert transitions == ["accepted", "en_route", "on_site", "work_done", "signed_off"]
    assert counts == {"check_ins": 1, "signoffs": 1, "positions": len(positions)}
    assert stored == sorted(sha for _, sha in photos)
    assert wo["arrived_at"] == datetime.fromisoformat(check_in["body"]["client_time"])

    # A lost answer: the terminal sends the same actions again; the server replays them.
    token = stack.login("crew-04")
    actions = [
        {"idempotency_key": r["key"], "type": r["type"], "job_id": r["job_id"], "body": r["body"]}
        for r in queued
        if r["type"] != "photo"
    ]
    with stack.client(token) as c:
        results = c.post("/v1/sync", json={"actions": actions}).json()["results"]
    assert all(r["replayed"] for r in results)
    with db.connect(stack.database_url, autocommit=True) as conn:
        again = conn.execute(
            "SELECT (SELECT count(*) FROM check_ins WHERE work_order_id = %(id)s) AS check_ins,"
            " (SELECT count(*) FROM work_order_transitions WHERE work_order_id = %(id)s"
            "  AND actor = 'crew-04') AS transitions",
            {"id": job["id"]},
        ).fetchone()
    assert again == {"check_ins": 1, "transitions": 5}


def test_crew_app_reassigned_while_offline_shows_why_and_drops_the_job(
    stack: ApiServer, browser: Browser
) -> None:
    job = install_job(stack, 2)
    pin(stack, job["id"], "CREW-05")
    context = phone(browser, (job["lon"], job["lat"]))
    try:
        page = open_app(context, stack.base_url)
        sign_in(page, "crew-05")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}']")
        context.set_offline(True)
        page.wait_for_selector("#net.offline")
        open_job(page, job["id"])
        tap_status(page, "accepted")
        assert outbox_count(page) == 1

        pin(stack, job["id"], "CREW-12")  # the dispatcher moves it meanwhile

        context.set_offline(False)
        wait_or_explain(page, "#notice:not([hidden]):has-text('已改派给其他班组')")
        page.wait_for_selector("#list-view:not([hidden])")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}']", state="detached")
        wait_sent(page)
        page.click("#outbox-button")
        refused = page.locator("#outcomes li.refused")
        refused.first.wait_for()
        assert refused.count() == 1 and "已改派给其他班组" in refused.inner_text()
    finally:
        context.close()
    with db.connect(stack.database_url, autocommit=True) as conn:
        mine = conn.execute(
            "SELECT count(*) AS n FROM work_order_transitions WHERE work_order_id = %s"
            " AND actor = 'crew-05'",
            (job["id"],),
        ).fetchone()
    assert mine["n"] == 0


def test_crew_app_screenshots_in_chinese_and_english(stack: ApiServer, browser: Browser) -> None:
    job = install_job(stack, 3)
    pin(stack, job["id"], "CREW-12")
    ARTIFACTS.mkdir(exist_ok=True)
    context = phone(browser, (job["lon"], job["lat"]))
    try:
        page = open_app(context, stack.base_url)
        sign_in(page, "crew-12")
        page.wait_for_selector(f"#jobs li[data-job-id='{job['id']}']")
        wait_sent(page)
        screenshot(page, "list_zh-CN")
        open_job(page, job["id"])
        for status in ("accepted", "en_route", "on_site"):
            tap_status(page, status)
        page.click("#checkin-button")
        wait_or_explain(page, "#checkin-result[data-state='accepted']")
        screenshot(page, "job_zh-CN")
        tap_status(page, "work_done")
        sign(
            page,
            {"attitude": 5, "professional_skill": 5, "response_speed": 4, "process_standard": 5},
        )
        screenshot(page, "signoff_zh-CN")

        page.click("#lang-button")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert "Service confirmation" in page.inner_text("#signoff-view h1")
        screenshot(page, "signoff_en")
        page.click("#signoff-view button.back")
        page.wait_for_selector("#job-view:not([hidden])")
        assert "Work done" in page.inner_text("#job-status")
        screenshot(page, "job_en")
        page.click("#job-view button.back")
        page.wait_for_selector("#list-view:not([hidden])")
        assert "Meter installation" in page.inner_text("#jobs")
        screenshot(page, "list_en")
    finally:
        context.close()


def test_crew_app_list_follows_a_fault_published_over_mqtt_without_reload(
    stack: ApiServer, browser: Browser, broker: Broker
) -> None:
    """CREW-01 is the only crew on shift with the transformer skill: the fault is its."""
    with db.connect(stack.database_url, autocommit=True) as conn:
        tx = conn.execute(
            "SELECT t.id FROM transformers t WHERE EXISTS (SELECT 1 FROM devices d"
            " WHERE d.transformer_id = t.id AND d.kind = 'meter' AND d.active)"
            " ORDER BY t.id LIMIT 1"
        ).fetchone()
        meters = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM devices WHERE kind = 'meter' AND active AND transformer_id = %s",
                (tx["id"],),
            )
        ]
    context = phone(browser, (120.75, 30.75))
    try:
        page = open_app(context, stack.base_url)
        sign_in(page, "crew-01")
        page.wait_for_function("document.getElementById('net').dataset.live === 'live'")
        before = page.eval_on_selector_all("#jobs li", "ls => ls.map(l => l.dataset.jobId)")
        page.evaluate("window.__sameDocument = true")
        sent_at = last_gasp_burst(broker, meters)

        def assigned() -> int | None:
            with db.connect(stack.database_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT w.id FROM work_orders w JOIN incidents i ON i.id = w.incident_id"
                    " JOIN assignments a ON a.work_order_id = w.id AND a.active"
                    " WHERE i.transformer_id = %s AND a.crew_id = 'CREW-01'",
                    (tx["id"],),
                ).fetchone()
            return row and row["id"]

        job_id = wait_for(assigned, 90, "the fault's job to be given to CREW-01")
        page.wait_for_selector(f"#jobs li[data-job-id='{job_id}']", timeout=WAIT_MS)
        shown_at = page.evaluate("Date.now()")
        with db.connect(stack.database_url, autocommit=True) as conn:
            planned_at = conn.execute(
                "SELECT extract(epoch FROM created_at) * 1000 AS ms FROM assignments"
                " WHERE work_order_id = %s AND active",
                (job_id,),
            ).fetchone()["ms"]
        print(
            f"crew app: fault published -> in CREW-01's list {shown_at - sent_at:.0f} ms;"
            f" dispatcher's assignment -> list {shown_at - float(planned_at):.0f} ms"
        )
        assert str(job_id) not in before
        page.wait_for_selector(f"#urgent[data-job-id='{job_id}']:not([hidden])")
        assert "故障抢修" in page.inner_text("#urgent")
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
    finally:
        context.close()
