"""Sign-off over real HTTP: immutability, the low-rating call-back, the PDF sheet."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import psycopg
import pytest
from PIL import Image

from gridcrew import db
from mobile_api.sheet import render_sheet
from mobile_api.storage import LocalStorage
from tests.api.conftest import make_job, now_iso, query, tracking_pair
from tests.api.test_photos import jpeg, upload

GOOD = {"attitude": 5, "professional_skill": 4, "response_speed": 5, "process_standard": 4}


def done_job(api, client, crew_id: str = "CREW-01") -> int:
    job = make_job(api.database_url, crew_id, status="on_site")
    r = client.post(
        f"/v1/jobs/{job}/status", json={"status": "work_done", "client_time": now_iso()}
    )
    assert r.status_code == 200, r.text
    return job


def body(**over) -> dict:
    b = {
        "customer_name": "Wang Fang",
        "signed_at": now_iso(),
        "work_summary": "Replaced the blown fuse on transformer T-12; supply restored.",
        "strokes": [[[0, 0], [10, 5], [20, 0]], [[5, 10], [15, 10]]],
        "ratings": GOOD,
        "comment": "quick and tidy",
    }
    b.update(over)
    return b


def test_signoff_with_strokes_is_final(api, clients):
    c = clients["crew-01"].http
    job = done_job(api, c)
    r = c.post(f"/v1/jobs/{job}/signoff", json=body())
    assert r.status_code == 201, r.text
    signed = r.json()
    assert signed["ratings"] == GOOD and signed["call_back"] is None
    assert c.get(f"/v1/jobs/{job}").json()["status"] == "signed_off"
    again = c.post(f"/v1/jobs/{job}/signoff", json=body(customer_name="Someone Else"))
    assert again.status_code == 409 and again.json()["code"] == "already_signed_off"
    assert c.get(f"/v1/jobs/{job}/signoff").json()["customer_name"] == "Wang Fang"
    last = query(
        api.database_url,
        "SELECT from_status, to_status FROM work_order_transitions WHERE work_order_id = %s"
        " ORDER BY id DESC LIMIT 1",
        job,
    )
    assert last == [{"from_status": "work_done", "to_status": "signed_off"}]
    assert query(
        api.database_url,
        "SELECT action FROM audit_log WHERE entity_id = %s ORDER BY id DESC LIMIT 1",
        str(job),
    ) == [{"action": "signoff"}]


def test_the_database_refuses_to_change_a_signoff(api, clients):
    c = clients["crew-01"].http
    job = done_job(api, c)
    assert c.post(f"/v1/jobs/{job}/signoff", json=body()).status_code == 201
    with db.connect(api.database_url, autocommit=True) as conn:
        for sql in (
            "UPDATE signoffs SET customer_name = 'forged' WHERE work_order_id = %s",
            "DELETE FROM signoffs WHERE work_order_id = %s",
            "UPDATE ratings SET attitude = 5 WHERE work_order_id = %s",
            "DELETE FROM ratings WHERE work_order_id = %s",
        ):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="immutable"):
                conn.execute(sql, (job,))


def test_signoff_only_after_work_done(api, clients):
    c = clients["crew-01"].http
    job = make_job(api.database_url, "CREW-01", status="on_site")
    r = c.post(f"/v1/jobs/{job}/signoff", json=body())
    assert r.status_code == 409 and r.json()["code"] == "illegal_transition"
    other = done_job(api, clients["crew-02"].http, "CREW-02")
    assert c.post(f"/v1/jobs/{other}/signoff", json=body()).status_code == 403


def test_low_rating_opens_a_call_back_due_in_two_hours(api, clients):
    c = clients["crew-01"].http
    job = done_job(api, c)
    ratings = {**GOOD, "response_speed": 2, "attitude": 1}
    r = c.post(f"/v1/jobs/{job}/signoff", json=body(ratings=ratings))
    assert r.status_code == 201
    call_back = r.json()["call_back"]
    assert "attitude 1/5" in call_back["reason"] and "response_speed 2/5" in call_back["reason"]
    row = query(
        api.database_url,
        "SELECT due_at - created_at AS due, plan_due_at - created_at AS plan, status"
        " FROM call_backs WHERE work_order_id = %s",
        job,
    )
    assert row == [{"due": timedelta(hours=2), "plan": timedelta(hours=24), "status": "open"}]
    assert (
        query(api.database_url, "SELECT count(*) AS n FROM audit_log WHERE entity = 'call_back'")[
            0
        ]["n"]
        >= 1
    )


def test_png_signature_and_bad_signatures(api, clients):
    c = clients["crew-01"].http
    job = done_job(api, c)
    no_sig = body()
    del no_sig["strokes"]
    assert c.post(f"/v1/jobs/{job}/signoff", json=no_sig).status_code == 422
    both = body(signature_png="aGVsbG8=")
    assert c.post(f"/v1/jobs/{job}/signoff", json=both).status_code == 422
    not_png = body(strokes=None, signature_png=base64.b64encode(b"GIF89a....").decode())
    r = c.post(f"/v1/jobs/{job}/signoff", json=not_png)
    assert r.status_code == 422 and r.json()["code"] == "bad_signature"
    out = io.BytesIO()
    Image.new("L", (300, 100), 255).save(out, "PNG")
    good = body(strokes=None, signature_png=base64.b64encode(out.getvalue()).decode())
    assert c.post(f"/v1/jobs/{job}/signoff", json=good).status_code == 201
    assert (
        c.post(f"/v1/jobs/{job}/signoff", json=body(ratings={**GOOD, "attitude": 6})).status_code
        == 422
    )


def test_sheet_pdf_with_photo_and_signature(api, clients):
    c = clients["crew-01"].http
    job = make_job(api.database_url, "CREW-01", status="on_site")
    assert c.get(f"/v1/jobs/{job}/sheet.pdf").status_code == 404
    assert upload(c, job, jpeg(), stage="completion").status_code == 201
    c.post(f"/v1/jobs/{job}/status", json={"status": "work_done", "client_time": now_iso()})
    assert c.post(f"/v1/jobs/{job}/signoff", json=body(customer_name="王芳")).status_code == 201
    r = c.get(f"/v1/jobs/{job}/sheet.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and b"/Image" in r.content
    assert clients["dispatcher"].http.get(f"/v1/jobs/{job}/sheet.pdf").status_code == 200
    assert clients["crew-02"].http.get(f"/v1/jobs/{job}/sheet.pdf").status_code == 403
    storage = LocalStorage(api.data_dir / "photos")
    with db.connect(api.database_url) as conn:
        assert render_sheet(conn, job, storage=storage).startswith(b"%PDF-")


def test_customer_downloads_the_signed_sheet_with_the_lookup_pair(api, clients):
    c = clients["crew-01"].http
    job = done_job(api, c)
    wo = tracking_pair(api.database_url, job)
    with api.client() as customer:
        before = customer.get(
            f"/v1/track/{wo['number']}/sheet.pdf", headers={"X-Phone-Last4": wo["last4"]}
        )
        assert before.status_code == 404 and before.json()["code"] == "not_signed_off"
        assert c.post(f"/v1/jobs/{job}/signoff", json=body()).status_code == 201
        r = customer.get(
            f"/v1/track/{wo['number']}/sheet.pdf", headers={"X-Phone-Last4": wo["last4"]}
        )
        assert r.status_code == 200 and r.content.startswith(b"%PDF-")
        wrong = "0000" if wo["last4"] != "0000" else "1111"
        other = customer.get(
            f"/v1/track/{wo['number']}/sheet.pdf", headers={"X-Phone-Last4": wrong}
        )
        assert other.status_code == 404 and other.json()["code"] != "not_signed_off"
