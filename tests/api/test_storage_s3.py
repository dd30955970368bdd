"""Photos and signatures in an S3 bucket: moto's S3 as a real HTTP server, the API over HTTP.

The bucket is checked with boto3 directly, never through the API under test.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import httpx
import pytest
from PIL import Image

from gridcrew.config import get_settings
from gridcrew.net import free_port
from mobile_api import storage as storage_module
from mobile_api.storage import S3Storage, StorageUnavailable
from tests.api.conftest import (
    SITE,
    make_job,
    now_iso,
    query,
    reassign,
    start_api_with_data_dir,
    tracking_pair,
)
from tests.api.test_photos import jpeg, png, upload
from tests.api.test_signoffs import body, done_job
from tests.conftest import ROOT, service_env, stop_process

BUCKET = "gridcrew-photos"
PREFIX = "site-a"
PHOTO_LIMIT = 12 * 1024 * 1024
KEYS = {"GRIDCREW_S3_ACCESS_KEY_ID": "testing", "GRIDCREW_S3_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                pytest.fail("moto's S3 server did not start")
            time.sleep(0.1)
    yield url
    stop_process(proc)


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    return client


def s3_env(endpoint: str, storage_url: str = f"s3://{BUCKET}/{PREFIX}") -> dict[str, str]:
    return {
        "GRIDCREW_STORAGE_URL": storage_url,
        "GRIDCREW_S3_ENDPOINT_URL": endpoint,
        "GRIDCREW_S3_REGION": "us-east-1",
        **KEYS,
    }


@pytest.fixture(scope="module")
def api(module_db_url, broker, s3, s3_endpoint, tmp_path_factory):
    """The real API keeping its photos in the bucket (overrides tests/api's ``api``)."""
    server = start_api_with_data_dir(
        module_db_url, tmp_path_factory, photo_limit=PHOTO_LIMIT, **s3_env(s3_endpoint)
    )
    yield server
    stop_process(server.process)


def objects(s3, under: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=under).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def spool_files(api) -> list:
    incoming = api.data_dir / "photos" / ".incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


def test_photo_goes_to_the_bucket_with_its_thumbnail_and_comes_back(api, clients, s3):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    data = jpeg(*SITE)
    r = upload(c, job, data)
    assert r.status_code == 201, r.text
    photo = r.json()
    # EXIF read from the spooled file right after the upload
    assert photo["flags"] == ["no_exif_time"] and photo["distance_m"] == 0
    assert photo["has_thumbnail"] is True
    key = f"{PREFIX}/jobs/{job}/{photo['sha256']}.jpg"
    stored = objects(s3, f"{PREFIX}/jobs/{job}/")
    assert set(stored) == {key, f"{key}.thumb.jpg"}
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(stored[key]).hexdigest() == photo["sha256"]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(data)
    assert c.get(f"/v1/jobs/{job}/photos/{photo['id']}").content == data
    thumb = c.get(f"/v1/jobs/{job}/photos/{photo['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.content == stored[f"{key}.thumb.jpg"]
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    assert not (api.data_dir / "photos" / "jobs").exists()  # nothing kept locally
    assert spool_files(api) == []


def test_same_bytes_twice_are_one_object_and_one_photo(api, clients, s3):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    first = upload(c, job, png(), name="a.png", content_type="image/png")
    second = upload(c, job, png(), name="b.png", content_type="image/png")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    stored = objects(s3, f"{PREFIX}/jobs/{job}/")
    assert sorted(stored) == [
        f"{PREFIX}/jobs/{job}/{first.json()['sha256']}.png",
        f"{PREFIX}/jobs/{job}/{first.json()['sha256']}.png.thumb.jpg",
    ]
    n = query(api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job)
    assert n[0]["n"] == 1
    assert spool_files(api) == []


def test_a_large_photo_is_one_put_streamed_from_the_spool(api, clients, s3):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    data = jpeg(*SITE) + os.urandom(9 * 1024 * 1024)  # bytes after the JPEG's end
    r = upload(c, job, data)
    assert r.status_code == 201, r.text
    key = f"{PREFIX}/jobs/{job}/{r.json()['sha256']}.jpg"
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'  # one PutObject, not multipart
    assert c.get(f"/v1/jobs/{job}/photos/{r.json()['id']}").content == data
    assert spool_files(api) == []


def test_refused_uploads_leave_no_object_and_no_spool(api, clients, s3):
    job = make_job(api.database_url, "CREW-01")
    c = clients["crew-01"].http
    spoof = upload(c, job, b"MZ\x90\x00" + os.urandom(5000), name="photo.jpg")
    assert spoof.status_code == 415 and spoof.json()["code"] == "unsupported_photo_type"
    big = upload(c, job, b"\xff\xd8\xff\xe0" + os.urandom(PHOTO_LIMIT + 10))
    assert big.status_code == 413 and big.json()["code"] == "photo_too_large"
    assert objects(s3, f"{PREFIX}/jobs/{job}/") == {}
    assert not query(api.database_url, "SELECT 1 FROM photos WHERE work_order_id = %s", job)
    assert spool_files(api) == []


def test_customer_photo_signature_and_sheet_come_from_the_bucket(api, clients, s3):
    c = clients["crew-01"].http
    job = done_job(api, c)
    photo = upload(c, job, jpeg(*SITE, colour=(20, 160, 20)), stage="construction").json()
    assert c.post(f"/v1/jobs/{job}/signoff", json=body()).status_code == 201
    [signature] = objects(s3, f"{PREFIX}/signatures/{job}/").values()
    assert signature.startswith(b"\x89PNG")
    wo = tracking_pair(api.database_url, job)
    pair = {"X-Phone-Last4": wo["last4"]}
    with api.client() as customer:
        seen = customer.get(f"/v1/track/{wo['number']}/photos/{photo['id']}", headers=pair)
        assert seen.status_code == 200, seen.text
        assert hashlib.sha256(seen.content).hexdigest() == photo["sha256"]
        sheet = customer.get(f"/v1/track/{wo['number']}/sheet.pdf", headers=pair)
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF-")
    assert b"/Image" in sheet.content  # the thumbnail and the signature, read from S3


def test_customer_is_told_when_the_object_is_missing(api, clients, s3):
    c = clients["crew-01"].http
    job = make_job(api.database_url, "CREW-01")
    photo = upload(c, job, jpeg(colour=(5, 5, 200)), stage="construction").json()
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/jobs/{job}/{photo['sha256']}.jpg")
    wo = tracking_pair(api.database_url, job)
    with api.client() as customer:
        r = customer.get(
            f"/v1/track/{wo['number']}/photos/{photo['id']}", headers={"X-Phone-Last4": wo["last4"]}
        )
    assert r.status_code == 404 and r.json()["code"] == "photo_file_missing"


# ------------------------------------------------------------ a slow store


class GatedS3:
    """A proxy in front of moto's S3 that holds every photo's PutObject (not the
    thumbnail's) until the test releases it: a store as slow as the test needs, with no
    timing guesses. ``arrived`` counts the PutObjects being held."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.reset()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's Expect: 100-continue

            def log_message(self, *args) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                if self.command == "PUT" and "/jobs/" in path and not path.endswith(".thumb.jpg"):
                    gate.arrived.release()
                    gate.released.wait(60)
                skip = {"expect", "connection", "content-length"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                r = httpx.request(
                    self.command, gate.upstream + self.path, headers=headers, content=body
                )
                self.send_response(r.status_code)
                skip = {"connection", "transfer-encoding", "content-encoding", "content-length"}
                for k, v in r.headers.items():
                    if k.lower() not in skip:
                        self.send_header(k, v)
                length = r.headers.get("content-length", "0")
                self.send_header(
                    "Content-Length", length if self.command == "HEAD" else str(len(r.content))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(r.content)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.arrived = threading.Semaphore(0)
        self.released = threading.Event()

    def wait_for_puts(self, n: int) -> None:
        for _ in range(n):
            assert self.arrived.acquire(timeout=30), "the photo's PutObject never arrived"


@pytest.fixture(scope="module")
def gate(s3_endpoint) -> Iterator[GatedS3]:
    g = GatedS3(s3_endpoint)
    yield g
    g.released.set()
    g.server.shutdown()


@pytest.fixture
def slow_api(module_db_url, broker, s3, gate, tmp_path_factory):
    """The real API with its bucket behind the gate; released after each test."""
    gate.reset()
    server = start_api_with_data_dir(
        module_db_url, tmp_path_factory, photo_limit=PHOTO_LIMIT, **s3_env(gate.url)
    )
    try:
        yield server
    finally:
        gate.released.set()
        stop_process(server.process)


def in_background(api, username: str, job: int, data: bytes):
    """Upload *data* to *job* from a client of its own; the future's result is the answer."""
    client = api.client(api.login(username))
    pool = ThreadPoolExecutor(1)
    future = pool.submit(upload, client, job, data)
    future.add_done_callback(lambda _: client.close())
    pool.shutdown(wait=False)
    return future


def test_check_in_and_status_change_do_not_wait_for_a_photo_being_stored(slow_api, gate):
    job = make_job(slow_api.database_url, "CREW-01")
    uploading = in_background(slow_api, "crew-01", job, jpeg(*SITE, colour=(7, 7, 7)))
    gate.wait_for_puts(1)  # the photo's PutObject is in progress, and stays so
    with slow_api.client(slow_api.login("crew-01")) as c:
        # the old code held the job FOR UPDATE through the PutObject: both waited for it
        checked = c.post(
            f"/v1/jobs/{job}/check-ins",
            json={"lon": SITE[0], "lat": SITE[1], "accuracy_m": 8, "client_time": now_iso()},
            timeout=10,
        )
        assert checked.status_code == 201 and checked.json()["accepted"], checked.text
        moved = c.post(
            f"/v1/jobs/{job}/status",
            json={"status": "accepted", "client_time": now_iso()},
            timeout=10,
        )
        assert moved.status_code == 200, moved.text
    assert not uploading.done()
    gate.released.set()
    r = uploading.result(timeout=30)
    assert r.status_code == 201, r.text
    n = query(
        slow_api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job
    )
    assert n[0]["n"] == 1


def test_identical_photos_stored_at_once_are_one_photo(slow_api, gate, s3):
    job = make_job(slow_api.database_url, "CREW-01")
    data = jpeg(*SITE, colour=(8, 8, 8))
    first = in_background(slow_api, "crew-01", job, data)
    second = in_background(slow_api, "crew-01", job, data)
    gate.wait_for_puts(2)  # both found no photo of these bytes and are storing them
    gate.released.set()
    answers = sorted((f.result(timeout=30) for f in (first, second)), key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [200, 201], [r.text for r in answers]
    assert answers[0].json() == answers[1].json()
    n = query(
        slow_api.database_url, "SELECT count(*) AS n FROM photos WHERE work_order_id = %s", job
    )
    assert n[0]["n"] == 1
    key = f"{PREFIX}/jobs/{job}/{answers[1].json()['sha256']}.jpg"
    assert objects(s3, key)[key] == data


def test_photo_of_a_job_reassigned_while_it_is_stored_is_refused(slow_api, gate):
    job = make_job(slow_api.database_url, "CREW-01")
    uploading = in_background(slow_api, "crew-01", job, jpeg(*SITE, colour=(9, 9, 9)))
    gate.wait_for_puts(1)
    reassign(slow_api.database_url, job, "CREW-02")  # the old code's lock made this wait
    gate.released.set()
    r = uploading.result(timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "job_reassigned", r.text
    assert not query(slow_api.database_url, "SELECT 1 FROM photos WHERE work_order_id = %s", job)
    assert spool_files(slow_api) == []


# ------------------------------------------------------------ the class itself


@pytest.fixture
def api_s3_client(s3_endpoint, monkeypatch):
    """The client the API makes from its settings: botocore, one per process."""
    for name, value in s3_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    storage_module._new_s3_client.cache_clear()
    yield storage_module._s3_client()
    get_settings.cache_clear()
    storage_module._new_s3_client.cache_clear()


def test_the_api_client_is_path_style_on_the_configured_endpoint(api_s3_client):
    assert api_s3_client.meta.endpoint_url == get_settings().s3_endpoint_url
    assert api_s3_client.meta.config.s3["addressing_style"] == "path"


@pytest.mark.parametrize("client", ["boto3", "api"])
def test_storage_keys_go_below_the_prefix_and_plain_keys_only(client, request, s3, tmp_path):
    """The class, with the tests' own boto3 client and with the API's own one."""
    made = s3 if client == "boto3" else request.getfixturevalue("api_s3_client")
    storage = S3Storage(made, BUCKET, "/unit/prefix/", tmp_path / ".incoming")
    storage.put("a/b.png", b"\x89PNG tiny")
    assert s3.get_object(Bucket=BUCKET, Key="unit/prefix/a/b.png")["Body"].read() == b"\x89PNG tiny"
    assert storage.exists("a/b.png") and not storage.exists("a/missing.png")
    assert storage.read("a/b.png") == b"\x89PNG tiny"
    for bad in ("../escape.jpg", "/abs.jpg", "a//b.jpg", "a/./b.jpg", "a\\b.jpg", ""):
        with pytest.raises(ValueError):
            storage.exists(bad)

    content = b"\xff\xd8" + b"x" * 200_000 + b"\xff\xd9"
    spooled = storage.begin()
    for chunk in (content[:2], content[2:-2], content[-2:]):
        spooled.write(chunk)
    spooled.commit("jobs/1/photo.jpg")
    with spooled.open() as f:  # the local copy: seekable, no download
        f.seek(-2, os.SEEK_END)
        assert f.read() == b"\xff\xd9"
    spooled.close()
    assert list((tmp_path / ".incoming").iterdir()) == []
    assert b"".join(storage.stream("jobs/1/photo.jpg")) == content

    dropped = storage.begin()
    dropped.write(b"never stored")
    dropped.close()
    assert not storage.exists("jobs/1/dropped.jpg")
    assert list((tmp_path / ".incoming").iterdir()) == []
    assert storage.check() == f"s3://{BUCKET} at {s3.meta.endpoint_url}/unit/prefix"


@pytest.mark.parametrize("client", ["boto3", "api"])
def test_missing_bucket_is_reported_with_a_fix(client, request, s3, tmp_path):
    made = s3 if client == "boto3" else request.getfixturevalue("api_s3_client")
    with pytest.raises(StorageUnavailable) as e:
        S3Storage(made, "no-such-bucket", "", tmp_path).check()
    assert "does not exist" in str(e.value) and "GRIDCREW_STORAGE_URL" in e.value.fix


def test_doctor_checks_the_bucket(module_db_url, broker, s3, s3_endpoint):
    def doctor(storage_url: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gridcrew", "doctor"],
            env=service_env(module_db_url, **s3_env(s3_endpoint, storage_url)),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    ok = doctor(f"s3://{BUCKET}/{PREFIX}")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"[ok  ] storage: s3://{BUCKET} at {s3_endpoint}/{PREFIX}" in ok.stdout
    missing = doctor("s3://no-such-bucket")
    assert missing.returncode == 1
    assert "[FAIL] storage" in missing.stdout and "fix: create the bucket" in missing.stdout


def test_healthz_reports_the_bucket(api, s3_endpoint):
    with api.client() as c:
        body = c.get("/healthz").json()
    assert body["storage"] == {"ok": True, "detail": f"s3://{BUCKET} at {s3_endpoint}/{PREFIX}"}
