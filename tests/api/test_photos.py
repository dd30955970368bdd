"""Photos over real HTTP: type from the bytes, size limit, SHA-256, EXIF flags, dedup."""

from __future__ import annotations

import hashlib
import io
import os

from PIL import Image
from pillow_heif import register_heif_opener

from gridcrew.grid import offset
from tests.api.conftest import PHOTO_LIMIT, SITE, make_job, query

register_heif_opener()  # the tests write HEIC photos as a phone would


def jpeg(
    lon: float | None = None,
    lat: float | None = None,
    taken: str | None = None,
    size=(640, 480),
    colour=(200, 30, 30),
    fmt: str = "JPEG",
) -> bytes:
    exif = Image.Exif()
    if lon is not None and lat is not None:
        gps = exif.get_ifd(0x8825)

        def dms(v: float) -> tuple[float, float, float]:
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round(((v - d) * 60 - m) * 60, 4))

        gps.update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt, exif=exif)
    return buf.getvalue()


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (50, 40), (0, 90, 200)).save(buf, "PNG")
    return buf.getvalue()


def upload(client, job_id: int, data: bytes, name: str = "site.jpg", stage="survey", **kw):
    return client.post(
        f"/v1/jobs/{job_id}/photos",
        files={"file": (name, data, kw.pop("content_type", "image/jpeg"))},
        data={"stage": stage},
        **kw,
    )


def test_jpeg_on_site_is_stored_with_hash_and_thumbnail(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    data = jpeg(*SITE, taken=None)
    r = upload(c, job, data)
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert photo["content_type"] == "image/jpeg" and photo["size_bytes"] == len(data)
    assert photo["flags"] == ["no_exif_time"] and photo["distance_m"] == 0
    row = query(api.database_url, "SELECT storage_key FROM photos WHERE id = %s", photo["id"])[0]
    stored = api.data_dir / "photos" / row["storage_key"]
    assert stored.read_bytes() == data
    thumb = c.get(f"/v1/jobs/{job}/photos/{photo['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    assert c.get(f"/v1/jobs/{job}/photos/{photo['id']}").content == data
    detail = c.get(f"/v1/jobs/{job}").json()
    assert [p["id"] for p in detail["photos"]] == [photo["id"]]
    audit = query(
        api.database_url,
        "SELECT payload FROM audit_log WHERE entity_id = %s AND action = 'photo'",
        str(job),
    )
    assert audit[0]["payload"]["sha256"] == photo["sha256"]


def test_heic_from_a_phone_gets_its_exif_read_and_a_thumbnail(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    far = offset(*SITE, 3000, 0)  # taken 3 km east of the site
    data = jpeg(*far, taken="2020:01:01 08:00:00", fmt="HEIF")
    assert data[4:12] == b"ftypheic"
    r = upload(c, job, data, name="IMG_0001.HEIC", content_type="image/heic")
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["content_type"] == "image/heic"
    assert set(photo["flags"]) == {"exif_gps_off_site", "exif_time_before_job"}
    assert 2900 < photo["distance_m"] < 3100
    thumb = c.get(f"/v1/jobs/{job}/photos/{photo['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    assert c.get(f"/v1/jobs/{job}/photos/{photo['id']}").content == data


def test_same_bytes_twice_are_one_photo(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    data = png()
    first = upload(c, job, data, name="a.png", content_type="image/png")
    second = upload(c, job, data, name="b.png", content_type="image/png")
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["content_type"] == "image/png"
    n = query(api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job)
    assert n[0]["n"] == 1


def test_type_comes_from_the_bytes_not_the_name(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    fake = b"MZ\x90\x00" + os.urandom(5000)  # an executable called photo.jpg
    r = upload(c, job, fake, name="photo.jpg")
    assert r.status_code == 415 and r.json()["code"] == "unsupported_photo_type"
    tiny = upload(c, job, b"\xff\xd8", name="x.jpg")
    assert tiny.status_code == 415
    # A PNG named .jpg and sent as image/jpeg is a PNG.
    r = upload(c, job, png(), name="really.jpg")
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + os.urandom(2000)
    r = upload(c, job, heic, name="x.bin", content_type="application/octet-stream")
    assert r.status_code == 201 and r.json()["content_type"] == "image/heic"
    assert r.json()["flags"] == ["exif_unreadable"]
    assert (
        query(api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job)[
            0
        ]["n"]
        == 2
    )
    leftovers = list((api.data_dir / "photos" / ".incoming").iterdir())
    assert leftovers == []


def test_oversize_is_413_and_leaves_nothing(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    big = b"\xff\xd8\xff\xe0" + os.urandom(PHOTO_LIMIT + 10)
    r = upload(c, job, big)
    assert r.status_code == 413 and r.json()["code"] == "photo_too_large"
    assert not query(api.database_url, "SELECT 1 FROM photos WHERE work_order_id = %s", job)
    assert list((api.data_dir / "photos" / ".incoming").iterdir()) == []


def test_exif_far_from_site_and_old_time_are_flagged_not_refused(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    elsewhere = offset(*SITE, 3000, 0)
    r = upload(c, job, jpeg(*elsewhere, taken="2020:01:01 10:00:00"), stage="construction")
    assert r.status_code == 201
    photo = r.json()
    assert set(photo["flags"]) == {"exif_gps_off_site", "exif_time_before_job"}
    assert 2900 < photo["distance_m"] < 3100
    assert photo["exif_time"].startswith("2020-01-01T02:00:00")  # camera local time, UTC+8


def test_bad_requests_are_4xx(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    assert upload(c, job, jpeg(), stage="selfie").status_code == 422
    r = c.post(f"/v1/jobs/{job}/photos", data={"stage": "survey"})
    assert r.status_code in (415, 422)
    other = make_job(api.database_url, "CREW-02")
    assert upload(c, other, jpeg()).status_code == 403


def test_photo_with_idempotency_key_replays(api, clients):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    data = jpeg(colour=(1, 2, 3))
    first = upload(c, job, data, headers={"Idempotency-Key": "photo-1"})
    again = upload(c, job, data, headers={"Idempotency-Key": "photo-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = upload(c, job, jpeg(colour=(9, 9, 9)), headers={"Idempotency-Key": "photo-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    n = query(api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job)
    assert n[0]["n"] == 1
