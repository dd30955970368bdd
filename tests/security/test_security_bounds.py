"""Bounded cost for every input: decompression bombs (photos, signatures) refused or
never decoded, with the API process's peak memory read from /proc; signature strokes
bounded; a request body over its route's limit refused while it is read."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mobile_api.signoffs.schemas import MAX_POINTS, MAX_STROKE_POINTS, MAX_STROKES
from tests.api.conftest import make_job, query
from tests.api.test_photos import jpeg, upload
from tests.api.test_signoffs import body as signoff_body
from tests.api.test_signoffs import done_job

GROWTH_BOUND_MB = 50


def bomb_png(width: int, height: int) -> bytes:
    """An 8-bit grey PNG of *width* x *height* zeros: a small file, a huge canvas (written
    row by row, so the test never holds the bitmap either)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    deflate = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the pixels
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def peak_growth_mb(pid: int, action: Callable[[], object]) -> tuple[float, object]:
    """How far the process's resident memory peaked above where it was, during *action*
    (its high-water mark reset first through /proc/PID/clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _status_kb(pid, "VmRSS")
    result = action()
    return (_status_kb(pid, "VmHWM") - before) / 1024, result


@pytest.fixture(scope="module")
def crew(api) -> Iterator:
    with api.client(api.login("crew-01")) as c:
        yield c


def test_security_photo_bomb_is_refused_before_decoding(api, crew):
    bomb = bomb_png(13000, 13000)  # 169 million pixels in a few hundred KB
    assert len(bomb) < 1024 * 1024
    job = make_job(api.database_url, "CREW-01", status="on_site")
    growth, r = peak_growth_mb(api.process.pid, lambda: upload(crew, job, bomb, "bomb.png"))
    assert r.status_code == 422 and r.json()["code"] == "photo_too_many_pixels", r.text
    assert growth < GROWTH_BOUND_MB, f"the API grew by {growth:.0f} MB"
    assert query(api.database_url, "SELECT id FROM photos WHERE work_order_id = %s", job) == []


def test_security_png_photo_too_big_to_decode_is_kept_without_a_thumbnail(api, crew):
    """36 million pixels: under the photo bound (50 M), over what a PNG may decode (1/4)."""
    job = make_job(api.database_url, "CREW-01", status="on_site")
    growth, r = peak_growth_mb(
        api.process.pid, lambda: upload(crew, job, bomb_png(6000, 6000), "big.png")
    )
    assert r.status_code == 201, r.text
    assert r.json()["has_thumbnail"] is False
    assert growth < GROWTH_BOUND_MB, f"the API grew by {growth:.0f} MB"


def test_security_ordinary_photo_still_gets_its_thumbnail(api, crew):
    job = make_job(api.database_url, "CREW-01", status="on_site")
    r = upload(crew, job, jpeg(size=(4000, 3000)))
    assert r.status_code == 201 and r.json()["has_thumbnail"] is True


def test_security_signature_bomb_is_refused(api, crew):
    job = done_job(api, crew)
    png = base64.b64encode(bomb_png(13000, 13000)).decode()
    growth, r = peak_growth_mb(
        api.process.pid,
        lambda: crew.post(
            f"/v1/jobs/{job}/signoff", json=signoff_body(strokes=None, signature_png=png)
        ),
    )
    assert r.status_code == 422 and r.json()["code"] == "bad_signature", r.text
    assert "pixels" in r.json()["detail"]
    assert growth < GROWTH_BOUND_MB, f"the API grew by {growth:.0f} MB"


@pytest.mark.parametrize(
    "strokes",
    [
        pytest.param([[[0, 0], [1, 1]]] * (MAX_STROKES + 1), id="too-many-strokes"),
        pytest.param([[[i, i % 7] for i in range(MAX_STROKE_POINTS + 1)]], id="long-stroke"),
        pytest.param(
            [[[i, i % 7] for i in range(MAX_STROKE_POINTS)]]
            * (MAX_POINTS // MAX_STROKE_POINTS + 1),
            id="too-many-points",
        ),
    ],
)
def test_security_signature_strokes_are_bounded(api, crew, strokes):
    job = done_job(api, crew)
    r = crew.post(f"/v1/jobs/{job}/signoff", json=signoff_body(strokes=strokes))
    assert r.status_code == 422, r.text


def test_security_the_largest_allowed_signature_is_accepted(api, crew):
    job = done_job(api, crew)
    strokes = [
        [[i * 0.37 + s, (i * 13 + s * 7) % 200] for i in range(MAX_STROKE_POINTS)]
        for s in range(MAX_POINTS // MAX_STROKE_POINTS)
    ]
    r = crew.post(f"/v1/jobs/{job}/signoff", json=signoff_body(strokes=strokes))
    assert r.status_code == 201, r.text


def _chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    yield b'{"actions": ["'
    for _ in range(total // size):
        yield b"x" * size


def test_security_body_over_the_limit_is_refused_while_reading(api, crew):
    """A 40 MB sync batch, sent chunked (no Content-Length): refused at 8 MB read."""
    growth, r = peak_growth_mb(
        api.process.pid,
        lambda: crew.post(
            "/v1/sync",
            content=_chunks(40 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        ),
    )
    assert r.status_code == 413 and r.json()["code"] == "body_too_large", r.text
    assert r.json()["limit_bytes"] == 8 * 1024 * 1024
    assert growth < 20, f"the API grew by {growth:.0f} MB"


def test_security_declared_length_over_the_json_limit_is_refused(api, crew):
    r = crew.post(
        "/v1/positions",
        content=b'{"lon": 120.7, "lat": 30.7, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["limit_bytes"] == 1024 * 1024
    # the route still answers what fits
    assert crew.get("/v1/auth/me").status_code == 200
