"""The smaller edges: text that is not Unicode, far-future client and device times,
spent refresh tokens, security headers, what /healthz tells a stranger."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from gateway.decode import DeviceInfo, Limits, decode
from tests.api.conftest import make_job, now_iso
from tests.api.test_photos import jpeg, upload

FAR_FUTURE = "9999-12-31T23:59:59Z"


@pytest.fixture(scope="module")
def crew(api):
    with api.client(api.login("crew-01")) as c:
        yield c


def test_security_a_lone_surrogate_is_a_422_not_a_500(api, crew):
    job = make_job(api.database_url, "CREW-01")
    reason = b'"reason": "\\ud800x"'
    raw = b'{"status": "accepted", "client_time": "' + now_iso().encode() + b'", ' + reason + b"}"
    r = crew.post(
        f"/v1/jobs/{job}/status", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_text", r.text
    # a pair of surrogate escapes is one character (an emoji): fine
    paired = raw.replace(b"\\ud800x", b"\\ud83d\\ude00")
    ok = crew.post(
        f"/v1/jobs/{job}/status", content=paired, headers={"Content-Type": "application/json"}
    )
    assert ok.status_code == 200, ok.text
    # a customer's field as well (no account)
    complaint = httpx.post(
        f"{api.base_url}/v1/complaints",
        content=b'{"phone": "13800000000", "category": "repair_delay",'
        b' "description": "x\\udc00yyyy"}',
        headers={"Content-Type": "application/json"},
    )
    assert complaint.status_code == 422 and complaint.json()["code"] == "invalid_text"


def test_security_far_future_client_times_are_refused(api, crew):
    job = make_job(api.database_url, "CREW-01")
    status = crew.post(
        f"/v1/jobs/{job}/status", json={"status": "accepted", "client_time": FAR_FUTURE}
    )
    assert status.status_code == 422, status.text
    check_in = crew.post(
        f"/v1/jobs/{job}/check-ins",
        json={"lon": 120.755, "lat": 30.746, "accuracy_m": 5, "client_time": FAR_FUTURE},
    )
    assert check_in.status_code == 422, check_in.text
    batch = crew.post(
        "/v1/sync",
        json={
            "actions": [
                {
                    "idempotency_key": "far-future-1",
                    "type": "status",
                    "job_id": job,
                    "body": {"status": "accepted", "client_time": FAR_FUTURE},
                }
            ]
        },
    )
    assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 422
    assert crew.get(f"/v1/jobs/{job}").json()["status"] == "assigned"


def test_security_a_far_future_device_status_is_dead_lettered():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    out = decode(
        "devices/FCI-F1-S1/status",
        b'{"status": "online", "time": "9999-01-01T00:00:00Z"}',
        {"FCI-F1-S1": DeviceInfo("FCI-F1-S1", "fci")},
        now,
        Limits(),
    )
    assert out.statuses == []
    assert [d.reason.split(":")[0] for d in out.dead_letters] == ["future_timestamp"]


def test_security_reusing_a_spent_refresh_token_revokes_its_family(api):
    def refresh(token: str) -> httpx.Response:
        return httpx.post(f"{api.base_url}/v1/auth/refresh", json={"refresh_token": token})

    first = httpx.post(
        f"{api.base_url}/v1/auth/token", data={"username": "crew-02", "password": "gridcrew"}
    ).json()
    second = refresh(first["refresh_token"])
    assert second.status_code == 200
    assert refresh(first["refresh_token"]).status_code == 401  # a copy of the spent one
    assert refresh(second.json()["refresh_token"]).status_code == 401  # its family is dead
    # another login is another family
    other = httpx.post(
        f"{api.base_url}/v1/auth/token", data={"username": "crew-02", "password": "gridcrew"}
    ).json()
    assert refresh(other["refresh_token"]).status_code == 200


def test_security_headers_on_pages_downloads_and_json(api, crew):
    page = httpx.get(f"{api.base_url}/map")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "default-src 'self'" in page.headers["content-security-policy"]

    job = make_job(api.database_url, "CREW-01", status="on_site")
    polyglot = jpeg() + b"<html><script>alert(document.cookie)</script></html>"
    photo = upload(crew, job, polyglot).json()
    download = crew.get(f"/v1/jobs/{job}/photos/{photo['id']}")
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]

    me = crew.get("/v1/auth/me")
    assert me.headers["x-content-type-options"] == "nosniff"
    assert me.headers["content-security-policy"].startswith("default-src 'none'")


def test_security_healthz_tells_a_stranger_only_whether_it_is_up(api):
    """127.0.0.2 is this host too, but not the address the API counts as local."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as stranger:
        anonymous = stranger.get(f"{api.base_url}/healthz").json()
        assert set(anonymous) == {"ok"}
        token = api.login("crew-01")
        known = stranger.get(
            f"{api.base_url}/healthz", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert "storage" in known and "database" in known
    assert "storage" in httpx.get(f"{api.base_url}/healthz").json()  # local caller


def test_security_the_map_works_under_its_content_policy(api):
    """Real Chromium, the policy enforced: the dispatcher logs in, the board is drawn and
    the stream goes live, and the browser reports no violation."""
    from tests.map.browser import TIMEOUT_MS, chromium

    violations: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "console",
            lambda msg: (
                violations.append(msg.text) if "Content Security Policy" in msg.text else None
            ),
        )
        page.goto(f"{api.base_url}/map")
        page.fill("#password", "gridcrew")
        page.click("#login-button")
        page.wait_for_selector("body[data-board-ready='1']", state="attached")
        page.locator("#live-status.live").wait_for()
        page.close()
    assert violations == []


def test_security_the_crew_app_and_the_customer_page_work_under_their_content_policy(api):
    """Real Chromium, the policy enforced: the crew app signs a crew in and shows its list
    (its service worker registered), the customer page draws its form, and the browser
    reports no violation; photo thumbnails (object URLs) are allowed images."""
    from tests.map.browser import TIMEOUT_MS, chromium

    violations: list[str] = []

    def watch(page) -> None:
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "console",
            lambda msg: (
                violations.append(msg.text) if "Content Security Policy" in msg.text else None
            ),
        )

    with chromium() as browser:
        crew = browser.new_page(viewport={"width": 390, "height": 844})
        watch(crew)
        crew.goto(f"{api.base_url}/crew/")
        crew.locator("body[data-ready='1']").wait_for(state="attached")
        crew.fill("#username", "crew-01")
        crew.fill("#password", "gridcrew")
        crew.click("#login-button")
        crew.locator("#list-view:not([hidden])").wait_for()
        # the service worker installs under its own policy and takes the page (offline)
        deadline = time.monotonic() + 30
        while not crew.evaluate("() => navigator.serviceWorker.controller !== null"):
            assert time.monotonic() < deadline, "the crew app's service worker never took over"
            crew.wait_for_timeout(200)
        crew.close()
        customer = browser.new_page(viewport={"width": 390, "height": 844})
        watch(customer)
        customer.goto(f"{api.base_url}/c/")
        customer.locator("body[data-ready='1']").wait_for(state="attached")
        customer.locator("#report-button").wait_for()
        customer.close()
    assert violations == []
    page_policy = httpx.get(f"{api.base_url}/crew/").headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in page_policy
    worker_policy = httpx.get(f"{api.base_url}/crew/sw.js").headers["content-security-policy"]
    assert "default-src 'self'" in worker_policy and "connect-src 'self'" in worker_policy
