"""Benchmarks of the gateway (``gridcrew bench ingest`` / ``gridcrew bench alarms``).

Each run builds its own scratch stack: a database migrated and seeded with the
demo territory, and a private Mosquitto on a free port, both removed at the end;
the configured stack and its data are never touched. Baselines are measured in
the same run on the same rows (the simulators' meter model, generated before any
clock starts): binary COPY straight into the table, a naive
bridge that INSERTs and commits per message, and a bare paho subscriber that
only decodes and acknowledges.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench import procstat
from gateway import store
from gridcrew import broker, db, progress
from gridcrew.config import get_settings
from gridcrew.mqtt import service_client
from gridcrew.net import free_port
from schemas.telemetry import EVENT_CODES, EventName, MeterReading, ReadingBatch
from simulators import readings
from simulators.demo.territory import Device
from simulators.seeding import rng_for

T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
SESSION_EXPIRY_S = 3600


@dataclass(frozen=True)
class Stack:
    database_url: str
    broker: broker.BrokerAddress

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GRIDCREW_DATABASE_URL"] = self.database_url
        env["GRIDCREW_MQTT_URL"] = f"mqtt://{self.broker.host}:{self.broker.port}"
        return env


@contextmanager
def scratch_stack() -> Iterator[Stack]:
    """A seeded scratch database and a private broker, both removed afterwards."""
    from simulators.demo.seed import seed

    server = get_settings().database_url
    name = f"gridcrew_bench_{os.getpid()}"
    url = db.with_database(server, name)
    db.drop_database(server, name)
    with redirect_stdout(sys.stderr):  # yoyo echoes the migrations' SELECT results
        db.migrate(url)
    with db.transaction(url) as conn:
        seed(conn, 1)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gridcrew-bench-") as tmp:
        conf = broker.render(Path(tmp), [], host="127.0.0.1", port=port)
        proc = broker.start(conf, "127.0.0.1", port)
        try:
            yield Stack(url, broker.BrokerAddress("127.0.0.1", port))
        finally:
            proc.terminate()
            proc.wait(10)
            db.drop_database(server, name)


def _connect(client: mqtt.Client, stack: Stack, *, persistent: bool) -> None:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    props.ReceiveMaximum = 10_000
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(
        stack.broker.host, stack.broker.port, clean_start=not persistent, properties=props
    )
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("the scratch broker did not accept the benchmark's client")


def register_session(stack: Stack, client_id: str, account: str, topic: str) -> None:
    """Create a persistent session subscribed to *topic*, then leave it offline: the
    broker queues the stream for it until its consumer connects."""
    c = service_client(client_id, account)
    _connect(c, stack, persistent=True)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic, qos=1)
    if not done.wait(10):
        raise RuntimeError(f"subscription {topic} was not granted")
    c.disconnect()
    c.loop_stop()


# ---------------------------------------------------------------- the stream
class MeterModel:
    """The simulators' meter model (traits per meter, one sample per reading) over the
    seeded meters; payloads are serialised as the simulators do."""

    def __init__(self, conn: psycopg.Connection, seed: int = 1) -> None:
        rows = conn.execute(
            "SELECT id, kind, lon, lat, feeder_id, section_id, concentrator_id, config"
            " FROM devices WHERE kind = 'meter' ORDER BY id"
        ).fetchall()
        self.meters = [Device(**r) for r in rows]
        self.traits = {m.id: readings.traits(seed, m) for m in self.meters}
        self.energy = {m: t.energy0_kwh for m, t in self.traits.items()}
        self.rng = rng_for(seed, "bench", "ingest")

    def reading(self, device_id: str, at: datetime) -> MeterReading:
        s = readings.sample(self.traits[device_id], at, self.energy[device_id], 15 / 3600, self.rng)
        self.energy[device_id] = s.energy_kwh
        return MeterReading(device_id=device_id, time=at, values=s.values)


def _dumps(model: MeterReading | ReadingBatch) -> bytes:
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


def stream(
    conn: psycopg.Connection, messages: int, batch_size: int
) -> tuple[list[tuple[str, bytes]], int]:
    """*messages* payloads of *batch_size* distinct readings each (single meters for 1,
    data-concentrator batches otherwise), and the number of readings in them."""
    model = MeterModel(conn)
    meters = model.meters
    out: list[tuple[str, bytes]] = []
    if batch_size == 1:
        for i in range(messages):
            m = meters[i % len(meters)].id
            at = T0 + timedelta(seconds=15 * (i // len(meters)))
            out.append((f"devices/{m}/readings", _dumps(model.reading(m, at))))
        return out, messages
    behind: dict[str, list[str]] = {}
    for d in meters:
        behind.setdefault(d.concentrator_id or "", []).append(d.id)
    dcs = sorted(behind)
    for i in range(messages):
        dc = dcs[i % len(dcs)]
        ms = behind[dc]
        rounds = math.ceil(batch_size / len(ms))
        batch = [
            model.reading(
                ms[j % len(ms)],
                T0 + timedelta(seconds=15 * ((i // len(dcs)) * rounds + j // len(ms))),
            )
            for j in range(batch_size)
        ]
        body = ReadingBatch(concentrator_id=dc, readings=batch)
        out.append((f"devices/{dc}/readings", _dumps(body)))
    return out, messages * batch_size


def publish(stack: Stack, messages: list[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 as svc-bench; messages per second until the last PUBACK."""
    c = service_client(f"bench-pub-{uuid.uuid4().hex[:6]}", "svc-bench")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    _connect(c, stack, persistent=False)
    started = time.perf_counter()
    infos = [c.publish(t, p, qos=1) for t, p in messages]
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - started
    c.disconnect()
    c.loop_stop()
    return len(messages) / elapsed


def _rows(payload: dict) -> list[tuple]:
    readings = payload["readings"] if "readings" in payload else [payload]
    out = []
    for r in readings:
        v = r["values"]
        out.append(
            (
                datetime.fromisoformat(r["time"]),
                r["device_id"],
                v.get("1-0:32.7.0"),
                v.get("1-0:31.7.0"),
                v.get("1-0:1.7.0"),
                v.get("1-0:1.8.0"),
                v.get("1-0:13.7.0"),
            )
        )
    return out


def _count(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT (device_id, time)) AS d FROM meter_readings"
    ).fetchone()
    return row["n"], row["d"]


# ---------------------------------------------------------------- baselines
def copy_limit(stack: Stack, messages: list[tuple[str, bytes]]) -> float:
    """The same rows straight into the table with binary COPY, no MQTT."""
    rows = [r for _, p in messages for r in _rows(json.loads(p))]
    chunk = get_settings().gateway_batch_rows
    with db.connect(stack.database_url) as conn:
        started = time.perf_counter()
        for i in range(0, len(rows), chunk):
            with conn.transaction():
                store.copy_rows(
                    conn,
                    "meter_readings",
                    store.READING_COLUMNS,
                    store.READING_TYPES,
                    rows[i : i + chunk],
                )
        elapsed = time.perf_counter() - started
        conn.execute("TRUNCATE meter_readings")
        conn.commit()
    return len(rows) / elapsed


class Drain:
    """Consume a queued session until *expected* messages arrived; time first to last."""

    def __init__(self, stack: Stack, client_id: str, account: str, expected: int, handle) -> None:
        self.expected = expected
        self.handle = handle
        self.count = 0
        self.first = self.last = 0.0
        self.done = threading.Event()
        self.client = service_client(client_id, account)
        self.client.on_message = self._on_message
        self.stack = stack

    def _on_message(self, client, userdata, msg) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.handle(msg)
        self.count += 1
        self.last = time.perf_counter()
        if self.count >= self.expected:
            self.done.set()

    def run(self, timeout: float) -> float:
        _connect(self.client, self.stack, persistent=True)
        self.done.wait(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        span = self.last - self.first
        return (self.count - 1) / span if span > 0 else 0.0


def mqtt_limit(stack: Stack, expected: int) -> float:
    return Drain(stack, "bench-bare", "svc-bench", expected, lambda m: json.loads(m.payload)).run(
        300
    )


def naive(stack: Stack, expected: int) -> float:
    """A hobby bridge: one INSERT (per reading) and one commit per message as it arrives."""
    with db.connect(stack.database_url) as conn:

        def handle(msg) -> None:
            conn.cursor().executemany(
                "INSERT INTO meter_readings (time, device_id, voltage_v, current_a,"
                " active_power_kw, energy_import_kwh, power_factor)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                _rows(json.loads(msg.payload)),
            )
            conn.commit()

        rate = Drain(stack, "bench-naive", "svc-bench", expected, handle).run(600)
        stored = _count(conn)[0]
        conn.execute("TRUNCATE meter_readings")
        conn.commit()
    return rate * (stored / max(1, expected)) if stored else 0.0


def commit_rate(conn: psycopg.Connection) -> float:
    """Rows per second committed by the gateway, from the rows themselves.

    Every row's ``received_at`` is its transaction's start (``now()``), and the
    gateway's transactions follow one another: the rows of every transaction but the
    last, over the time from the first transaction's start to the last one's. Polling
    ``count(*)`` every few milliseconds instead scans the growing table on the same two
    cores as the gateway it measures."""
    txns = conn.execute(
        "SELECT received_at AS t, count(*) AS n FROM meter_readings"
        " GROUP BY received_at ORDER BY received_at"
    ).fetchall()
    if len(txns) < 2:
        return 0.0
    span = (txns[-1]["t"] - txns[0]["t"]).total_seconds()
    return sum(t["n"] for t in txns[:-1]) / span if span > 0 else 0.0


def gateway_run(
    stack: Stack, group: str, workers: int, expected_rows: int, *, metrics: bool = True
) -> dict[str, Any]:
    """Start ``gridcrew gateway`` on its queued sessions until every row is stored; the
    committed-rows rate is :func:`commit_rate`. With *metrics* the workers count and serve
    /metrics (scraped once at the end: ``metrics_rows_committed`` should be ``stored``)."""
    cmd = [sys.executable, "-m", "gridcrew", "gateway", "--group", group]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    env = dict(stack.env)
    env.pop("GRIDCREW_GATEWAY_METRICS_PORT", None)
    if metrics:
        env["GRIDCREW_GATEWAY_METRICS_PORT"] = str(metrics_port := free_port())
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    # CPU of the gateway's processes (worker(s) and MQTT link(s)) from the first rows
    # seen stored to the last: start-up and imports are not charged to the rows
    first: tuple[int, float, float] | None = None
    last: tuple[int, float, float] | None = None
    with db.connect(stack.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.25)  # a count(*) now and then: the rate comes from the rows
            stored = conn.execute("SELECT count(*) AS n FROM meter_readings").fetchone()["n"]
            if stored:
                pids = procstat.tree(proc.pid)
                links = [p for p in pids if "gateway.link" in procstat.cmdline(p)]
                last = (stored, procstat.cpu_seconds(pids), procstat.cpu_seconds(links))
                first = first or last
            if stored >= expected_rows:
                break
        counted = _scraped_rows(metrics_port, workers) if metrics else None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        total, distinct = _count(conn)
        rate = commit_rate(conn)
        conn.execute("TRUNCATE meter_readings")
    return {
        "workers": workers,
        "stored": total,
        "lost": max(0, expected_rows - distinct),
        "duplicates": total - distinct,
        "rows_per_s": round(rate),
        "exit_code": code,
        "metrics": metrics,
        "metrics_rows_committed": counted,
        **_cpu_per_row(first, last),
    }


def _scraped_rows(port: int, workers: int) -> int:
    """Readings committed according to the workers' /metrics (worker i on port + i)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for i in range(workers):
        text = httpx.get(f"http://127.0.0.1:{port + i}/metrics", timeout=10).text
        for fam in text_string_to_metric_families(text):
            if fam.name == "gridcrew_gateway_rows_committed":
                total += sum(s.value for s in fam.samples if s.labels.get("kind") == "reading")
    return round(total)


def _cpu_per_row(
    first: tuple[int, float, float] | None, last: tuple[int, float, float] | None
) -> dict[str, float | None]:
    """CPU microseconds per stored row of the gateway's processes in all and of the MQTT
    link(s) alone, between two polls (None when the rows came within one poll)."""
    if first is None or last is None or last[0] <= first[0]:
        return {"cpu_us_per_row": None, "link_cpu_us_per_row": None}
    rows = last[0] - first[0]
    return {
        "cpu_us_per_row": round((last[1] - first[1]) / rows * 1e6, 2),
        "link_cpu_us_per_row": round((last[2] - first[2]) / rows * 1e6, 2),
    }


def ingest(
    messages: int, batch_size: int, worker_counts: list[int], *, metrics: bool = True
) -> dict[str, Any]:
    with scratch_stack() as stack:
        with db.connect(stack.database_url) as conn:
            payloads, rows = stream(conn, messages, batch_size)
        for w in worker_counts:
            for i in range(w):
                register_session(
                    stack, f"bench{w}-{i}", "svc-gateway", f"$share/bench{w}/devices/+/+"
                )
        register_session(stack, "bench-bare", "svc-bench", "devices/+/+")
        register_session(stack, "bench-naive", "svc-bench", "devices/+/+")
        steps = progress.current()
        steps.step(f"bench ingest: publishing {messages} messages")
        publish_rate = publish(stack, payloads)
        steps.step("bench ingest: COPY limit")
        copy_rate = copy_limit(stack, payloads)
        steps.step("bench ingest: bare subscriber")
        bare_rate = mqtt_limit(stack, messages)
        steps.step("bench ingest: naive INSERT per message")
        naive_rate = naive(stack, messages)
        steps.step("bench ingest: the gateway")
        runs = [gateway_run(stack, f"bench{w}", w, rows, metrics=metrics) for w in worker_counts]
    first = runs[0]
    msgs_per_s = first["rows_per_s"] / batch_size
    return {
        "messages": messages,
        "batch_size": batch_size,
        "metrics": metrics,
        "published": messages,
        "published_rows": rows,
        "stored": first["stored"],
        "lost": first["lost"],
        "duplicates": first["duplicates"],
        "rows_per_s": first["rows_per_s"],
        "msgs_per_s": round(msgs_per_s),
        "copy_limit_rows_per_s": round(copy_rate),
        "naive_rows_per_s": round(naive_rate),
        "mqtt_limit_msgs_per_s": round(bare_rate),
        "publish_msgs_per_s": round(publish_rate),
        "ratio_vs_copy_limit": round(first["rows_per_s"] / copy_rate, 3),
        "ratio_vs_mqtt_limit": round(msgs_per_s / bare_rate, 3) if bare_rate else None,
        "ratio_vs_naive": round(first["rows_per_s"] / naive_rate, 2) if naive_rate else None,
        "cpu_us_per_row": first["cpu_us_per_row"],
        "link_cpu_us_per_row": first["link_cpu_us_per_row"],
        "runs": runs,
    }


# ---------------------------------------------------------------- alarm burst
def alarm_burst(alarms: int, transformers: int) -> dict[str, Any]:
    """Publish *alarms* last gasps behind *transformers* (one per section) into a running
    gateway; latency from each alarm's publish to the later of its own commit and its
    transformer's work-order commit (NOTIFY delivery time)."""
    with scratch_stack() as stack:
        with db.connect(stack.database_url) as conn:
            txs = [
                r["id"]
                for r in conn.execute(
                    "SELECT DISTINCT ON (section_id) id FROM transformers"
                    " ORDER BY section_id, id LIMIT %s",
                    (transformers,),
                )
            ]
            meters = conn.execute(
                "SELECT id, transformer_id FROM devices WHERE kind = 'meter'"
                " AND transformer_id = ANY(%s) ORDER BY id",
                (txs,),
            ).fetchall()
        notified: dict[int, float] = {}
        listening = threading.Event()
        stop = threading.Event()

        def listen() -> None:
            with db.connect(stack.database_url, autocommit=True) as c:
                c.execute("LISTEN work_orders")
                listening.set()
                while not stop.is_set():
                    for n in c.notifies(timeout=0.2):
                        payload = json.loads(n.payload)
                        if payload["change"] == "created":
                            notified.setdefault(payload["id"], time.time())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        listening.wait(10)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridcrew", "gateway", "--group", "alarmbench"],
            env=stack.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if "subscribed" in line:
                break
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        at = datetime.now(UTC).replace(microsecond=0)
        code = EVENT_CODES[EventName.last_gasp]
        payloads = []
        for i in range(alarms):
            m = meters[i % len(meters)]["id"]
            seq = str(i // len(meters) + 1)
            body = {
                "device_id": m,
                "event_id": seq,
                "time": at.isoformat(),
                "code": code,
                "name": "last_gasp",
            }
            payloads.append((m, seq, f"devices/{m}/events", json.dumps(body).encode()))
        c = service_client(f"bench-alarms-{uuid.uuid4().hex[:6]}", "svc-bench")
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        _connect(c, stack, persistent=False)
        published: dict[tuple[str, str], float] = {}
        infos = []
        for m, seq, topic, body in payloads:
            published[(m, seq)] = time.time()
            infos.append(c.publish(topic, body, qos=1))
        for info in infos:
            info.wait_for_publish(60)
        c.disconnect()
        c.loop_stop()
        deadline = time.monotonic() + 120
        with db.connect(stack.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                n_events = conn.execute("SELECT count(*) AS n FROM device_events").fetchone()["n"]
                if n_events >= alarms and len(notified) >= transformers:
                    break
                time.sleep(0.05)
            time.sleep(1.0)  # let a late duplicate incident show itself if there were one
            stored = {
                (r["device_id"], r["event_id"]): r["received_at"].timestamp()
                for r in conn.execute("SELECT device_id, event_id, received_at FROM device_events")
            }
            orders = conn.execute(
                "SELECT w.id, i.transformer_id FROM work_orders w"
                " JOIN incidents i ON i.id = w.incident_id WHERE w.kind = 'fault_repair'"
            ).fetchall()
            incidents = conn.execute("SELECT count(*) AS n FROM incidents").fetchone()["n"]
        stop.set()
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(60)
        wo_at = {o["transformer_id"]: notified.get(o["id"]) for o in orders}
        tx_of = {m["id"]: m["transformer_id"] for m in meters}
        latencies = []
        for (m, seq), sent in published.items():
            done = [stored.get((m, seq)), wo_at.get(tx_of[m])]
            if all(d is not None for d in done):
                latencies.append(max(done) - sent)
        latencies.sort()

        def pct(p: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3)

        return {
            "alarms": alarms,
            "transformers": transformers,
            "stored": len(stored),
            "incidents_opened": incidents,
            "work_orders": len(orders),
            "p50_s": pct(0.50),
            "p99_s": pct(0.99),
            "max_s": round(latencies[-1], 3) if latencies else None,
            "measured": len(latencies),
            "exit_code": exit_code,
        }
