"""A simulated SMS gateway: the webhook receiver of the demo stack (``gridcrew simulate
sms-gateway``).

It checks each POST's HMAC signature (401 otherwise), keeps one delivery per idempotency
key (a repeat is answered 200 and counted, never shown twice), and shows what it received
at ``GET /`` (a page) and ``GET /deliveries.json``. Nothing leaves the machine.
"""

from __future__ import annotations

import hmac
import html
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gridcrew.notices import delivery

MAX_BODY = 64 * 1024
KEEP = 1000


class Inbox:
    """What the gateway accepted, one entry per idempotency key, newest last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: dict[str, dict[str, Any]] = {}
        self.repeats = 0

    def accept(self, key: str, message: dict[str, Any]) -> bool:
        """Keep *message* under *key*; False when the key was seen already."""
        with self.lock:
            if key in self.by_key:
                self.repeats += 1
                return False
            self.by_key[key] = {"received_at": datetime.now(UTC).isoformat(), **message}
            while len(self.by_key) > KEEP:
                self.by_key.pop(next(iter(self.by_key)))
            return True

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"deliveries": list(self.by_key.values()), "repeats": self.repeats}


def make_handler(secret: bytes, inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, b'{"error": "too large"}', "application/json")
                return
            body = self.rfile.read(length)
            stamp = self.headers.get(delivery.TIMESTAMP_HEADER, "")
            given = self.headers.get(delivery.SIGNATURE_HEADER, "")
            if not hmac.compare_digest(delivery.signature(secret, stamp, body), given):
                self._answer(401, b'{"error": "bad signature"}', "application/json")
                return
            key = self.headers.get(delivery.IDEMPOTENCY_HEADER) or ""
            try:
                message = json.loads(body)
            except ValueError:
                self._answer(400, b'{"error": "not JSON"}', "application/json")
                return
            fresh = inbox.accept(key, message)
            self._answer(
                200,
                json.dumps({"accepted": True, "repeat": not fresh}).encode(),
                "application/json",
            )

        def do_GET(self) -> None:  # noqa: N802
            snap = inbox.snapshot()
            if self.path.startswith("/deliveries.json"):
                self._answer(
                    200,
                    json.dumps(snap, ensure_ascii=False).encode(),
                    "application/json; charset=utf-8",
                )
                return
            rows = "".join(
                f"<tr><td>{html.escape(d['received_at'][11:19])}</td>"
                f"<td>{html.escape(str(d.get('recipient')))}</td>"
                f"<td>{html.escape(str(d.get('kind')))}</td>"
                f"<td>{html.escape(str(d.get('text')))}</td></tr>"
                for d in reversed(snap["deliveries"])
            )
            page = (
                "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
                "<title>模拟短信网关 / Simulated SMS gateway</title>"
                "<style>body{font:16px sans-serif;margin:1em}td{border-top:1px solid #ccc;"
                "padding:4px}</style><h1>模拟短信网关 / Simulated SMS gateway</h1>"
                f"<p>{len(snap['deliveries'])} 条已收到 received, {snap['repeats']} 条重复已丢弃"
                " repeats dropped</p><table><tr><th>UTC</th><th>收件人 To</th><th>类型 Kind</th>"
                f"<th>内容 Text</th></tr>{rows}</table>"
            )
            self._answer(200, page.encode(), "text/html; charset=utf-8")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


def serve(host: str, port: int, secret: bytes) -> ThreadingHTTPServer:
    """A started server (in a daemon thread); ``shutdown()`` stops it."""
    server = ThreadingHTTPServer((host, port), make_handler(secret, Inbox()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
