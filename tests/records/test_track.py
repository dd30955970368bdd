"""Customer lookup over real HTTP: the pair check, what the customer sees, own photos only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gridcrew import db
from tests.records import seeding

FAULT_NUMBER = "WO-TRACK-1"


@pytest.fixture(scope="module")
def seeded(records_api, data_dir):
    """Two applications with photos, and a fault repair with a customer."""
    photo_dir = data_dir / "photos"
    with db.connect(records_api.database_url, autocommit=True) as conn:
        mine, other = seeding.customer_ids(conn, 2)
        seeding.insert_application(conn, "AP-T-000001", mine)
        seeding.insert_application(conn, "AP-T-000002", other)
        mine_wo = seeding.insert_work_order(
            conn, kind="meter_install", customer_id=mine, application_number="AP-T-000001"
        )
        other_wo = seeding.insert_work_order(
            conn, kind="meter_install", customer_id=other, application_number="AP-T-000002"
        )
        fault = seeding.insert_work_order(
            conn,
            number=FAULT_NUMBER,
            kind="fault_repair",
            status="on_site",
            customer_id=mine,
        )
        conn.execute(
            "UPDATE work_orders SET arrived_at = reported_at + interval '20 minutes',"
            " arrival_deadline = reported_at + interval '45 minutes' WHERE id = %s",
            (fault["id"],),
        )
        return {
            "mine": seeding.phone_last4(conn, mine),
            "other": seeding.phone_last4(conn, other),
            "construction": seeding.insert_photo(
                conn, photo_dir, mine_wo["id"], "construction", b"\xff\xd8 my meter box"
            ),
            "survey": seeding.insert_photo(
                conn, photo_dir, mine_wo["id"], "survey", b"\xff\xd8 survey sketch"
            ),
            "others": seeding.insert_photo(
                conn, photo_dir, other_wo["id"], "construction", b"\xff\xd8 not yours"
            ),
        }


def _get(api, path, last4):
    headers = {} if last4 is None else {"X-Phone-Last4": last4}
    with api.client() as c:
        return c.get(path, headers=headers)


def test_right_pair_shows_stages_owners_next_and_own_photos(records_api, seeded):
    r = _get(records_api, "/v1/track/AP-T-000001", seeded["mine"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    body = r.json()
    assert body["kind"] == "application" and body["stage"] == "accepted"
    assert [s["stage"] for s in body["stages"]] == [
        "accepted",
        "survey",
        "plan",
        "construction",
        "energized",
    ]
    assert all(s["owner"] and s["deadline"] for s in body["stages"])
    assert body["stages"][0]["reached_at"] == body["submitted_at"]
    assert body["stages"][0]["state"] == "current"
    assert body["next"]["stage"] == "survey" and body["next"]["owner"] == "survey engineer"
    assert [p["id"] for p in body["photos"]] == [seeded["construction"]]
    assert [w["status"] for w in body["work_orders"]] == ["open"]
    photo = _get(records_api, body["photos"][0]["url"], seeded["mine"])
    assert photo.status_code == 200
    assert photo.content == b"\xff\xd8 my meter box"
    assert photo.headers["content-type"] == "image/jpeg"


def test_lower_case_number_is_accepted(records_api, seeded):
    assert _get(records_api, "/v1/track/ap-t-000001", seeded["mine"]).status_code == 200


def test_wrong_pair_and_unknown_number_are_indistinguishable(records_api, seeded):
    wrong = _get(records_api, "/v1/track/AP-T-000001", seeding.wrong_last4(seeded["mine"]))
    other_customers = _get(records_api, "/v1/track/AP-T-000001", seeded["other"])
    unknown = _get(records_api, "/v1/track/AP-T-999999", seeded["mine"])
    unknown_wo = _get(records_api, "/v1/track/WO-999999", seeded["mine"])
    no_header = _get(records_api, "/v1/track/AP-T-000001", None)
    garbage = _get(records_api, "/v1/track/AP-T-000001", "12345678")
    answers = [wrong, other_customers, unknown, unknown_wo, no_header, garbage]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1
    assert len({(r.headers["content-type"], r.headers["content-length"]) for r in answers}) == 1
    assert wrong.json()["code"] == "not_found"
    assert "AP-T" not in wrong.text


def test_photos_only_of_the_own_application(records_api, seeded):
    base = "/v1/track/AP-T-000001/photos"
    others = _get(records_api, f"{base}/{seeded['others']}", seeded["mine"])
    assert others.status_code == 404 and others.json()["code"] == "photo_not_found"
    survey = _get(records_api, f"{base}/{seeded['survey']}", seeded["mine"])
    assert survey.status_code == 404 and survey.json()["code"] == "photo_not_found"
    through_other_number = _get(
        records_api, f"/v1/track/AP-T-000002/photos/{seeded['construction']}", seeded["other"]
    )
    assert through_other_number.status_code == 404
    wrong_pair = _get(
        records_api, f"{base}/{seeded['construction']}", seeding.wrong_last4(seeded["mine"])
    )
    unknown = _get(records_api, "/v1/track/AP-T-999999", seeded["mine"])
    assert wrong_pair.status_code == 404 and wrong_pair.content == unknown.content
    own = _get(records_api, f"/v1/track/AP-T-000002/photos/{seeded['others']}", seeded["other"])
    assert own.status_code == 200 and own.content == b"\xff\xd8 not yours"


def test_photo_is_streamed_from_the_photo_store(records_api, data_dir):
    """Served through the storage interface in chunks, not as a file read from a path."""
    photo_dir = data_dir / "photos"
    big = b"\xff\xd8" + bytes(range(256)) * 1200  # several storage chunks
    with db.connect(records_api.database_url, autocommit=True) as conn:
        (who,) = seeding.customer_ids(conn, 3)[2:]
        seeding.insert_application(conn, "AP-T-000003", who)
        wo = seeding.insert_work_order(
            conn, kind="meter_install", customer_id=who, application_number="AP-T-000003"
        )
        kept = seeding.insert_photo(conn, photo_dir, wo["id"], "construction", big)
        lost = seeding.insert_photo(conn, photo_dir, wo["id"], "construction", b"\xff\xd8 gone")
        key = conn.execute("SELECT storage_key FROM photos WHERE id = %s", (lost,)).fetchone()
        last4 = seeding.phone_last4(conn, who)
    (photo_dir / key["storage_key"]).unlink()
    r = _get(records_api, f"/v1/track/AP-T-000003/photos/{kept}", last4)
    assert r.status_code == 200 and r.content == big
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
    missing = _get(records_api, f"/v1/track/AP-T-000003/photos/{lost}", last4)
    assert missing.status_code == 404 and missing.json()["code"] == "photo_file_missing"


def test_repair_lookup_by_work_order_number(records_api, seeded):
    r = _get(records_api, f"/v1/track/{FAULT_NUMBER}", seeded["mine"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "work_order" and body["status"] == "on_site"
    done = [s["step"] for s in body["steps"] if s["done"]]
    assert done == ["reported", "assigned", "en_route", "on_site"]
    on_site = next(s for s in body["steps"] if s["step"] == "on_site")
    assert on_site["at"] is not None
    assert body["next"]["step"] == "work_done"
    assert body["photos"] == []


def test_seeded_application_is_found_by_its_customer(records_api):
    with db.connect(records_api.database_url) as conn:
        app = conn.execute(
            "SELECT number, customer_id, submitted_at FROM applications WHERE number = %s",
            ("AP-2026-000001",),
        ).fetchone()
        last4 = seeding.phone_last4(conn, app["customer_id"])
    body = _get(records_api, "/v1/track/AP-2026-000001", last4).json()
    assert body["number"] == "AP-2026-000001"
    energized = body["stages"][-1]
    assert energized["stage"] == "energized"
    assert energized["deadline"] is not None
    deadline = datetime.fromisoformat(energized["deadline"])
    assert deadline - app["submitted_at"] == timedelta(hours=48)
