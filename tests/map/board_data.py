"""Test data the way the gateway writes it: incidents, alarms, meters off supply, work orders.

Writes rows and NOTIFYs straight into a test database clone (never the demo database).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from gridcrew import db


def open_fault(
    conn: psycopg.Connection, section_id: str = "F1-S3", *, deadline_min: int = 45, meters: int = 5
) -> tuple[int, int]:
    """An open section incident with its last gasps and a fault-repair work order; NOTIFY both."""
    with conn.transaction():
        section = conn.execute(
            "SELECT s.id, s.feeder_id, s.mid_lon, s.mid_lat FROM feeder_sections s WHERE s.id = %s",
            (section_id,),
        ).fetchone()
        devices = conn.execute(
            "SELECT id FROM devices WHERE kind = 'meter' AND section_id = %s ORDER BY id LIMIT %s",
            (section_id, meters),
        ).fetchall()
        for i, d in enumerate(devices):
            conn.execute(
                "INSERT INTO device_events (time, device_id, event_id, event_code, event_name,"
                " severity) VALUES (now() - interval '1 minute', %s, %s, '3.26.1.185',"
                " 'last_gasp', 'critical')",
                (d["id"], f"t{time.monotonic_ns()}-{i}"),
            )
        incident = conn.execute(
            "INSERT INTO incidents (scope, feeder_id, section_id, meters_affected,"
            " customers_affected, first_alarm_at) VALUES ('section', %s, %s, %s, %s,"
            " now() - interval '1 minute') RETURNING id",
            (section["feeder_id"], section["id"], len(devices), len(devices)),
        ).fetchone()["id"]
        area = conn.execute(
            "SELECT id FROM service_areas ORDER BY priority_order DESC LIMIT 1"
        ).fetchone()["id"]
        work_order = conn.execute(
            "INSERT INTO work_orders (kind, priority, lon, lat, address, required_skills,"
            " service_area_id, incident_id, arrival_deadline, description)"
            " VALUES ('fault_repair', 1, %s, %s, %s, ARRAY['overhead_line'], %s, %s,"
            " now() + make_interval(mins => %s), 'Section fault') RETURNING id",
            (
                section["mid_lon"],
                section["mid_lat"],
                f"Section {section_id}",
                area,
                incident,
                deadline_min,
            ),
        ).fetchone()["id"]
        db.notify(conn, "incidents", {"id": incident, "change": "opened"})
        db.notify_work_order(conn, work_order, "created")
    return incident, work_order


@dataclass
class SseClient:
    """Reads a board stream in a thread; events land on a queue as (event, data, received_at)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: queue.Queue = field(default_factory=queue.Queue)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _socket: socket.socket | None = None
    status: int | None = None

    def start(self) -> SseClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._read()
        except (httpx.HTTPError, RuntimeError, OSError):
            if not self._stop.is_set():
                raise

    def _read(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client:
            with client.stream("GET", self.url, headers=self.headers) as r:
                self._socket = r.extensions["network_stream"].get_extra_info("socket")
                self.status = r.status_code
                event, data = "message", []
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line == "" and data:
                        self.events.put((event, json.loads("\n".join(data)), time.monotonic()))
                        event, data = "message", []

    def wait_for(self, predicate, timeout: float = 30) -> tuple[str, Any, float]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the stream sent no matching event in time")
            try:
                item = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(item[0], item[1]):
                return item

    def stop(self) -> None:
        """Close the connection so the server ends the stream (uvicorn waits for open ones)."""
        self._stop.set()
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(10)
