"""Real local receivers for the delivery tests: an HTTP webhook receiver that answers by a
script, and helpers to queue notifications and run the worker in-process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gridcrew import db
from gridcrew.config import Settings
from gridcrew.notices import delivery
from gridcrew.notices import outbox as notifications
from mobile_api.notifications import worker
from tests.conftest import ApiServer, start_api, stop_process

SECRET = "test-webhook-secret"

# (idempotency key, how many times this key was posted so far) -> (HTTP status, delay s)
Script = Callable[[str, int], tuple[int, float]]


@dataclass
class Receiver:
    """A real HTTP server on loopback that records every POST it gets."""

    url: str
    script: Script
    posts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        """Distinct deliveries the receiver accepted (a repeated key counts once)."""
        seen: dict[str, dict[str, Any]] = {}
        with self.lock:
            for p in self.posts:
                if 200 <= p["status"] < 300 and p["key"] not in seen:
                    seen[p["key"]] = p
        return list(seen.values())

    def count(self, key: str) -> int:
        with self.lock:
            return sum(1 for p in self.posts if p["key"] == key)


@pytest.fixture
def receiver() -> Iterator[Callable[[Script], Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> Receiver:
        holder: dict[str, Receiver] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec = holder["r"]
                key = self.headers.get(delivery.IDEMPOTENCY_HEADER, "")
                stamp = self.headers.get(delivery.TIMESTAMP_HEADER, "")
                good = delivery.signature(SECRET.encode(), stamp, body) == self.headers.get(
                    delivery.SIGNATURE_HEADER
                )
                with rec.lock:
                    n = sum(1 for p in rec.posts if p["key"] == key)
                status, delay = rec.script(key, n) if good else (401, 0.0)
                time.sleep(delay)
                with rec.lock:
                    rec.posts.append(
                        {
                            "key": key,
                            "status": status,
                            "signed": good,
                            "body": json.loads(body),
                            "at": time.monotonic(),
                        }
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"status": status}).encode())
                except OSError:
                    pass  # the sender gave up (timeout) or was killed

            def log_message(self, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        holder["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/sms", script)
        return holder["r"]

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def settings_for(url: str, data_dir: Path, **extra: Any) -> Settings:
    """Worker settings pointed at a test database, with quick back-off."""
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": data_dir,
        "notify_webhook_secret": SECRET,
        "notify_backoff_base_s": 0.05,
        "notify_backoff_max_s": 0.2,
        "notify_timeout_s": 1.0,
        "notify_max_attempts": 4,
    }
    values.update(extra)
    return Settings(**values)


def queue(
    conn: psycopg.Connection, customer_id: str, kind: str, body: str, key: str
) -> dict[str, Any]:
    with conn.transaction():
        phone = conn.execute("SELECT phone FROM customers WHERE id = %s", (customer_id,)).fetchone()
        return notifications.enqueue(
            conn,
            actor="test",
            recipient=phone["phone"],
            customer_id=customer_id,
            subject="T-1",
            kind=kind,
            body=body,
            due_at=None,
            dedup_key=key,
        )


def drain(url: str, settings: Settings, *, until: Callable[[], bool], timeout: float = 30) -> None:
    """Run the worker in this process until *until()* holds."""
    deadline = time.monotonic() + timeout
    with db.connect(url, autocommit=True) as conn:
        while not until():
            assert time.monotonic() < deadline, "the outbox did not drain in time"
            if not worker.run_once(conn, settings, "test-worker"):
                time.sleep(0.05)


def customers(conn: psycopg.Connection, n: int) -> list[str]:
    return [
        r["id"]
        for r in conn.execute("SELECT id FROM customers ORDER BY id LIMIT %s", (n,)).fetchall()
    ]


@pytest.fixture
def api_on() -> Iterator[Callable[[str], ApiServer]]:
    """Start the real API on a test's database (stopped after the test)."""
    servers: list[ApiServer] = []

    def start(url: str) -> ApiServer:
        servers.append(start_api(url))
        return servers[-1]

    yield start
    for s in servers:
        stop_process(s.process)
