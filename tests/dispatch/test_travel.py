"""The OSRM /table provider against a stand-in server speaking OSRM's table format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from dispatch.model import Point
from dispatch.travel import GreatCircle, Osrm, provider_for
from gridcrew.net import free_port


class TableHandler(BaseHTTPRequestHandler):
    """Answers like OSRM: durations (s) and distances (m) from great-circle legs."""

    requests: list[str] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        TableHandler.requests.append(url.path)
        coords = url.path.rsplit("/", 1)[1].split(";")
        pts = [Point(*map(float, c.split(","))) for c in coords]
        q = parse_qs(url.query)
        src = [pts[int(i)] for i in q["sources"][0].split(";")]
        dst = [pts[int(i)] for i in q["destinations"][0].split(";")]
        m = GreatCircle().table(src, dst)
        body = {
            "code": "Ok",
            "durations": [[v * 60 for v in row] for row in m.minutes],
            "distances": [[v * 1000 for v in row] for row in m.km],
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def osrm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TableHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TableHandler.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_osrm_table_is_read_in_minutes_and_km(osrm: str):
    a, b, c = Point(120.75, 30.75), Point(120.76, 30.75), Point(120.75, 30.77)
    got = Osrm(osrm).table([a, b], [b, c])
    want = GreatCircle().table([a, b], [b, c])
    for g, w in zip(got.minutes + got.km, want.minutes + want.km, strict=True):
        assert g == pytest.approx(w)
    assert TableHandler.requests[0].startswith("/table/v1/driving/")


def test_configured_osrm_is_cached(osrm: str):
    cache = provider_for(osrm)
    pts = [Point(120.75 + i / 100, 30.75) for i in range(3)]
    cache.table(pts, pts)
    cache.table(pts, pts)
    assert len(TableHandler.requests) == 1


def test_osrm_failure_names_the_setting():
    with pytest.raises(RuntimeError, match="GRIDCREW_OSRM_URL"):
        Osrm(f"http://127.0.0.1:{free_port()}", timeout_s=2).table([Point(0, 0)], [Point(1, 1)])
