"""Headless Debian Chromium under Playwright, and the map page driven through it.

Uses the system browser (``/usr/bin/chromium``, installed by scripts/setup.d/map.sh);
never Playwright's own browser download.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

from gridcrew.config import get_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_map(browser: Browser, base_url: str, language: str = "en") -> Page:
    """A page on /map logged in as the demo dispatcher: board drawn, stream live (in
    *language*; the tests read English, the page's default is zh-CN)."""
    # the harness evaluates strings in the page (wait_for_function), which the page's
    # content policy forbids; tests/security drives the page under that policy
    page = browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: print(f"map page error: {exc}"))
    page.on("console", lambda msg: print(f"map console {msg.type}: {msg.text}"))
    page.add_init_script(f"localStorage.setItem('gridcrew.lang', {language!r})")
    page.goto(f"{base_url}/map")
    page.fill("#password", get_settings().demo_password)
    page.click("#login-button")
    page.wait_for_function("document.body.dataset.boardReady === '1'")
    page.wait_for_function("document.getElementById('live-status').classList.contains('live')")
    return page


def count(page: Page, layer: str) -> int:
    return page.evaluate(
        "(layer) => [...window.gridcrewMap.features.values()]"
        ".filter(f => f.properties.layer === layer).length",
        layer,
    )
