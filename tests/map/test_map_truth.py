"""What the map shows is true (issue 16), in a real browser: a job whose ETA is past its
deadline is projected late with deadline, slack and next-best crew; a crew with an old
fix is flagged; crews carry their state; every text is the catalogue's (zh-CN by
default) and every time the utility's zone's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridcrew import db
from gridcrew.i18n import catalogue
from tests.conftest import ApiServer, start_api, stop_process
from tests.map.board_data import open_fault
from tests.map.browser import chromium, open_map

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ZH = catalogue("zh-CN")


@pytest.fixture(scope="module")
def map_api(module_db_url: str, broker) -> Iterator[ApiServer]:
    server = start_api(module_db_url)
    try:
        yield server
    finally:
        stop_process(server.process)


def test_consistency_the_map_shows_projected_lateness_and_stale_fixes(map_api) -> None:
    with db.connect(map_api.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE crews SET last_fix_at = now() - interval '25 minutes' WHERE id = 'CREW-02'"
        )
        conn.execute("UPDATE crews SET last_fix_at = now() WHERE id <> 'CREW-02'")
    with chromium() as browser:
        page = open_map(browser, map_api.base_url, language="zh-CN")
        try:
            assert ZH["map.kpi_on_time_urban"] in page.inner_text("#kpi")
            assert page.inner_text("#live-status") == ZH["map.status_live"]
            with db.connect(map_api.database_url, autocommit=True) as conn:
                _, job = open_fault(conn, "F1-S5", deadline_min=72)
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO assignments (work_order_id, crew_id, sequence,"
                        " planned_arrival, explanation) SELECT id, 'CREW-01', 1,"
                        " arrival_deadline + interval '132 minutes', %s FROM work_orders"
                        " WHERE id = %s",
                        (json.dumps({"next_best_crew": "CREW-07"}), job),
                    )
                    conn.execute("UPDATE work_orders SET status = 'assigned' WHERE id = %s", (job,))
                    db.notify_work_order(conn, job, "assigned")
                deadline = conn.execute(
                    "SELECT arrival_deadline FROM work_orders WHERE id = %s", (job,)
                ).fetchone()["arrival_deadline"]
            row = page.locator(f"#queue li[data-job-id='{job}'].projected_late")
            row.wait_for()
            assert ZH["map.projected_late"].replace("{n}", "132") in row.inner_text()
            row.click()
            shown = page.evaluate("(iso) => GC.i18n.time(iso)", deadline.isoformat())
            detail = page.locator("#detail-deadline")
            detail.wait_for()
            assert shown in detail.inner_text() and "-132" in detail.inner_text()
            assert "CREW-07" in page.inner_text("#detail-next-best")
            page.wait_for_selector(".crew-icon.stale")
            stale = page.evaluate(
                "[...document.querySelectorAll('.crew-icon.stale')].map(e => e.textContent)"
            )
            assert stale == ["02"]
            assert ZH["map.state_available"] in page.inner_text("#pin-crew")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "map_truth.png"))
        finally:
            page.close()
