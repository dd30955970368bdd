"""The map's KPI strip shows SAIDI today and month to date, in real Chromium, equal to
what the reliability endpoint computes for the utility's local day and month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from gridcrew import db, reliability
from gridcrew.config import get_settings
from tests.map.browser import chromium, open_map


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def outage_today(api) -> Iterator[None]:
    """The meters of F2-S3 off for ten minutes, twenty minutes ago."""
    now = datetime.now(UTC)
    with db.transaction(api.database_url) as conn:
        for name, at in (
            ("last_gasp", now - timedelta(minutes=20)),
            ("power_up", now - timedelta(minutes=10)),
        ):
            conn.execute(
                "INSERT INTO device_events (time, device_id, event_id, event_code, event_name)"
                " SELECT %s, id, %s, '3.26.0.85', %s FROM devices"
                " WHERE section_id = 'F2-S3' AND kind = 'meter'",
                (at, f"{name}-strip", name),
            )
    yield


def expected(database_url: str) -> tuple[float, float]:
    settings = get_settings()
    zone = settings.local_zone
    now = datetime.now(zone)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with db.connect(database_url, autocommit=True) as conn:
        result = reliability.compute(
            conn,
            month,
            now,
            zone=settings.local_timezone,
            momentary_min=settings.reliability_momentary_min,
        )
    today = next(r for r in result["trend"] if r["bucket"] == now.date().isoformat())
    return today["saidi_min"], result["groups"]["total"]["saidi_min"]


def test_the_strip_shows_saidi_today_and_month_to_date(api, browser, outage_today) -> None:
    page = open_map(browser, api.base_url, language="zh-CN")
    page.wait_for_function("document.body.dataset.reliabilityReady === '1'")
    today, month = expected(api.database_url)
    assert today > 0
    assert page.text_content("#kpi-saidi-today") == f"{today:.1f} 分钟"
    assert page.text_content("#kpi-saidi-month") == f"{month:.1f} 分钟"
    assert "今日 SAIDI" in page.text_content("#kpi-reliability")
    page.evaluate("GC.i18n.setLanguage('en')")
    page.wait_for_function("document.getElementById('kpi-saidi-today').textContent.endsWith('min')")
    assert "SAIDI today" in page.text_content("#kpi-reliability")
    page.close()
