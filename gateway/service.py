"""The gateway worker: MQTT in, batches to PostgreSQL, acknowledgements out.

One worker is one persistent MQTT v5 session (fixed client id, clean start off,
a session expiry) on the shared subscription ``$share/<group>/devices/+/+``,
with manual acknowledgement: a message is acknowledged only after the
transaction storing it has committed, so a worker killed at any instant loses
nothing and a redelivery is stored once.

The MQTT session lives in a process of its own (gateway/link.py: paho's network thread
and this process's work no longer take turns on one interpreter lock), which forwards
each delivery here; a reader thread queues them (a bounded queue: back-pressure instead
of unbounded memory); the main thread decodes, runs the rules over the batch and hands it
to a writer thread, which commits, then has the link acknowledge, and retries while the
database is away without acknowledging anything. For concentrator batches the next batch is decoded
while the last is committed; for single readings the decoder waits (``PIPELINE_ROWS_PER_MESSAGE``).
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from gateway import incidents, metrics, store
from gateway.decode import DeadLetter, Decoded, DeviceInfo, Limits, decode
from gateway.link import Link, LinkConfig, RawMessage, settle_heap
from gateway.rules import OUTAGE_EVENTS, RuleEngine
from gridcrew import db
from gridcrew.broker import BrokerAddress
from gridcrew.config import Settings

log = logging.getLogger("gridcrew.gateway")

ACCOUNT = "svc-gateway"
LAST_SEEN_EVERY_S = 60.0
"""devices.last_seen is written at most this often per device, in wall-clock time (the
readings are the record): a backlog replayed after an outage or a burst of readings costs
one UPDATE per device, not one per reading."""
LAST_SEEN_FLUSH_S = 1.0
"""Pending last-seen times are written in the background this often."""
IDLE_FLUSH_S = 0.003
"""A batch is also flushed when no message came for this long: either nothing is coming
or the broker waits for acknowledgements (it sends only a window of unacknowledged
messages), and waiting longer would only stall it."""
CONTEXT_REFRESH_S = 300.0
"""Topology and service areas are reloaded for correlation this often."""
REGISTRY_REFRESH_S = 10.0
"""An unknown device triggers a reload of the registry at most this often."""
WRITERS = 2
"""Writer threads, each committing whole batches on its own connection. With one, the
writer spent most of its time waiting for the server's COPY while the next batch was ready
(py-spy --idle); with two, the server works on two batches at once. Acknowledgements
still go out in the order the messages arrived (:meth:`Worker._acknowledge`)."""
BATCHES_AHEAD = 2
"""Decoded batches waiting for a writer: the next batch is decoded while the last ones
are committed, and the decoder waits (back-pressure) when the writers fall behind."""
PIPELINE_ROWS_PER_MESSAGE = 4
"""Batches whose messages carry at least this many rows each (concentrator batches) are
committed while the next batch is decoded; below it (a reading per message) the decoder
waits for each commit. Measured with ``gridcrew bench ingest`` (docs/gateway.md): at 50
rows a message the overlap gave +18 % rows/s; at one, the writer's commits and
acknowledgements competing for the GIL with the network thread cost more than it saved."""


@dataclass(frozen=True)
class WorkerConfig:
    index: int
    group: str
    database_url: str
    broker: BrokerAddress
    batch_rows: int
    flush_s: float
    limits: Limits
    shared: bool = True
    session_expiry_s: int = 7 * 24 * 3600
    queue_messages: int = 20_000
    receive_maximum: int = 10_000
    metrics_port: int | None = None
    """Serve /metrics here (None: count nothing, serve nothing)."""

    @property
    def client_id(self) -> str:
        return f"{self.group}-{self.index}"

    @property
    def subscription(self) -> str:
        """The shared subscription of a worker group, or a plain one for a lone gateway.

        Mosquitto (2.0.11) keeps a persistent session's plain subscriptions over a
        broker restart but not its shared ones, so a lone gateway subscribes plainly
        and loses nothing published while it reconnects (docs/scale-out.md)."""
        return f"$share/{self.group}/devices/+/+" if self.shared else "devices/+/+"

    @classmethod
    def from_settings(
        cls, s: Settings, index: int, group: str, *, shared: bool = True
    ) -> WorkerConfig:
        return cls(
            index=index,
            group=group,
            shared=shared,
            database_url=s.database_url,
            broker=BrokerAddress.from_url(s.mqtt_url),
            batch_rows=s.gateway_batch_rows,
            flush_s=s.gateway_flush_ms / 1000,
            limits=Limits(s.gateway_max_payload_bytes, s.gateway_max_future_s),
            metrics_port=None if s.gateway_metrics_port is None else s.gateway_metrics_port + index,
        )


class Message:
    """One delivery from the broker and what it decoded to."""

    __slots__ = ("mid", "qos", "topic", "payload", "decoded")
    decoded: Decoded  # set by the decoder (the network thread only queues)

    def __init__(self, mid: int, qos: int, topic: str, payload: bytes) -> None:
        self.mid, self.qos, self.topic, self.payload = mid, qos, topic, payload


class Worker:
    """One ingest worker (run it in the main thread; :meth:`request_stop` from signals)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.stop = threading.Event()
        self.subscribed = threading.Event()
        self.correlate = threading.Event()
        self.queue: queue.Queue[Message] = queue.Queue(cfg.queue_messages)
        self.batches: queue.Queue[tuple[int, list[Message]] | None] = queue.Queue(BATCHES_AHEAD)
        self.batch_seq = 0
        """Sequence number of the next batch handed to the writers."""
        self.ack_lock = threading.Lock()
        self.next_ack = 0
        self.committed: dict[int, list[Message]] = {}
        """Batches committed ahead of an earlier one still being written, by sequence."""
        self.pool = store.make_pool(cfg.database_url, max_size=4)
        self.rules = RuleEngine()
        self.registry: dict[str, DeviceInfo] = {}
        self.registry_loaded = 0.0
        self.last_seen_due: dict[str, float] = {}
        """Per device, the monotonic time from which its last_seen may be written again."""
        self.seen_pending: dict[str, datetime] = {}
        self.seen_lock = threading.Lock()
        self.messages_stored = 0
        self.messages_received = 0
        self.metrics = cfg.metrics_port is not None
        self.link_lost = False
        self.link = Link(
            LinkConfig(
                client_id=cfg.client_id,
                account=ACCOUNT,
                host=cfg.broker.host,
                port=cfg.broker.port,
                subscription=cfg.subscription,
                session_expiry_s=cfg.session_expiry_s,
                receive_maximum=cfg.receive_maximum,
            ),
            deliver=self._deliver,
            on_subscribed=self._on_subscribed,
            on_exit=self._on_link_exit,
        )

    def request_stop(self, *_: object) -> None:
        self.stop.set()

    # ------------------------------------------------------------------ MQTT side
    def _on_subscribed(self, subscription: str) -> None:
        if not self.subscribed.is_set():
            log.info("worker %s subscribed to %s", self.cfg.client_id, subscription)
        self.subscribed.set()

    def _on_link_exit(self) -> None:
        log.error("the MQTT link of %s exited; stopping", self.cfg.client_id)
        self.link_lost = True
        self.stop.set()

    def _deliver(self, raw: list[RawMessage]) -> None:
        """Queue the link's deliveries (its reader thread): when the queue is full this
        blocks, the pipe fills and the link stops reading from the broker: back-pressure."""
        put = self.queue.put
        self.messages_received += len(raw)
        for mid, qos, topic, payload in raw:
            item = Message(mid, qos, topic, payload)
            while True:
                try:
                    put(item, timeout=0.2)
                    break
                except queue.Full:
                    if self.stop.is_set():
                        return  # unacknowledged: the broker delivers it again

    # ------------------------------------------------------------------ database side
    def _load_registry(self) -> bool:
        def load(conn: psycopg.Connection) -> None:
            with conn.transaction():
                self.registry = store.load_registry(conn)
            self.rules.forget_nominals()

        ok = store.with_retry(self.pool, load, self.stop)
        self.registry_loaded = time.monotonic()
        return ok

    def _decode(self, item: Message, now: datetime) -> None:
        item.decoded = decode(item.topic, item.payload, self.registry, now, self.cfg.limits)
        if (
            item.decoded.dead_letters
            and time.monotonic() - self.registry_loaded > REGISTRY_REFRESH_S
            and any(d.reason.startswith("unknown_device") for d in item.decoded.dead_letters)
        ):
            self._load_registry()
            item.decoded = decode(item.topic, item.payload, self.registry, now, self.cfg.limits)

    def _nominal_voltage(self, device_id: str) -> float:
        info = self.registry.get(device_id)
        return info.nominal_voltage if info else 230.0

    def _apply_rules(self, items: list[Message]) -> None:
        """Run the alarm rules over a batch's readings; the alarms are stored with it."""
        readings = [r for item in items for r in item.decoded.readings]
        if not readings:
            return
        if alarms := self.rules.feed_many(readings, self._nominal_voltage):
            items[-1].decoded.events.extend(alarms)

    def _collect(self) -> list[Message]:
        """Messages until the batch is full, its deadline passed or the stream paused
        (empty when stopping)."""
        items: list[Message] = []
        rows = 0
        deadline: float | None = None
        now = datetime.now(UTC)
        while True:
            if deadline is None:
                if self.stop.is_set():
                    return items
                timeout = 0.2
            else:
                timeout = min(deadline - time.monotonic(), IDLE_FLUSH_S)
                if timeout <= 0 or rows >= self.cfg.batch_rows:
                    return items
            try:
                item = self.queue.get(timeout=timeout)
            except queue.Empty:
                if deadline is not None:
                    return items  # the stream paused: the broker may be waiting for acks
                continue
            if deadline is None:
                deadline = time.monotonic() + self.cfg.flush_s
                now = datetime.now(UTC)  # one clock reading per batch is enough here
            self._decode(item, now)
            items.append(item)
            rows += item.decoded.rows

    def _batch(self, items: list[Message]) -> store.Batch:
        batch = store.Batch()
        for item in items:
            batch.add(item.decoded)
        return batch

    def _note_seen(self, items: list[Message]) -> None:
        """Remember the newest stored row time per device; written later, off the ingest
        path, by :meth:`_last_seen_loop`."""
        with self.seen_lock:
            pending = self.seen_pending
            get = pending.get
            for item in items:
                for rows in (item.decoded.readings, item.decoded.events):
                    for row in rows:
                        newest = get(row.device_id)
                        if newest is None or row.time > newest:
                            pending[row.device_id] = row.time

    def _due_last_seen(self) -> dict[str, datetime]:
        """Take the pending last-seen times of devices not written in the last minute."""
        now = time.monotonic()
        due_at = self.last_seen_due
        with self.seen_lock:
            pending = self.seen_pending
            due = [d for d in pending if due_at.get(d, 0.0) <= now]
            taken = {d: pending.pop(d) for d in due}
        for d in taken:
            due_at[d] = now + LAST_SEEN_EVERY_S
        return taken

    def _last_seen_loop(self) -> None:
        while not self.stop.wait(LAST_SEEN_FLUSH_S):
            pending = self._due_last_seen()
            if pending and not store.with_retry(
                self.pool,
                lambda conn, seen=pending: _in_transaction(conn, store.update_last_seen, seen),
                self.stop,
            ):
                return

    def _store(self, items: list[Message]) -> bool:
        """Commit the rows of *items*; a batch the database rejects is split per message
        and what still fails becomes a dead letter. False when stopped first."""
        batch = self._batch(items)
        written: list[store.Batch] = []  # for the metrics: what the last attempt committed
        began = 0.0

        def write(conn: psycopg.Connection) -> None:
            nonlocal began
            written.clear()
            began = time.perf_counter()
            try:
                store.write_batch(conn, batch)
                written.append(batch)
                return
            except db.UNAVAILABLE:  # retried whole by with_retry, never a dead letter
                raise
            except psycopg.Error:
                pass  # some message's rows are unstorable: find it below
            for item in items:
                try:
                    store.write_batch(conn, one := self._batch([item]))
                    written.append(one)
                except db.UNAVAILABLE:
                    raise
                except psycopg.Error as exc:
                    reason = f"store_error: {exc.__class__.__name__}: {exc}".replace("\x00", "")
                    dead = store.Batch(
                        dead_letters=[
                            DeadLetter(item.topic, None, reason[:500], item.payload[:4096])
                        ]
                    )
                    store.write_batch(conn, dead)
                    written.append(dead)

        if not store.with_retry(self.pool, write, self.stop):
            return False
        if self.metrics:
            metrics.committed(written, time.perf_counter() - began, datetime.now(UTC))
        self._note_seen(items)
        return True

    def _hand_over(self, items: list[Message], writers: list[threading.Thread]) -> None:
        """Queue a decoded batch for the writers; waits while they are busy. A batch still
        unqueued when stopping is dropped: it was not acknowledged, so the broker delivers
        it again."""
        job = (self.batch_seq, items)
        self.batch_seq += 1
        while not self.stop.is_set() and any(w.is_alive() for w in writers):
            try:
                self.batches.put(job, timeout=0.2)
                return
            except queue.Full:
                continue

    def _wait_for_writers(self, writers: list[threading.Thread]) -> None:
        """Until the writers have committed and acknowledged every batch handed to them."""
        done = self.batches.all_tasks_done
        with done:
            while self.batches.unfinished_tasks and any(w.is_alive() for w in writers):
                done.wait(0.2)

    def _acknowledge(self, seq: int, items: list[Message]) -> None:
        """Acknowledge a committed batch, and any later ones committed before it, once
        every earlier batch is acknowledged: acknowledgements keep the order the messages
        came in (MQTT 5, 4.6), whichever writer committed first."""
        with self.ack_lock:
            self.committed[seq] = items
            while (ready := self.committed.pop(self.next_ack, None)) is not None:
                self.link.ack([(item.mid, item.qos) for item in ready])
                self.messages_stored += len(ready)
                self.next_ack += 1

    def _write_loop(self) -> None:
        """Commit decoded batches (each whole, on this thread's connection), then have them
        acknowledged in order. A batch not committed blocks every later acknowledgement."""
        while (job := self.batches.get()) is not None:
            seq, items = job
            try:
                if not self._store(items):
                    self.stop.set()  # stopped while the database was away: nothing acknowledged
                    return
                self._acknowledge(seq, items)
                if any(e.event_name in OUTAGE_EVENTS for i in items for e in i.decoded.events):
                    self.correlate.set()
            finally:
                self.batches.task_done()

    # ------------------------------------------------------------------ correlation
    def _correlation_loop(self) -> None:
        context: incidents.Context | None = None
        loaded = 0.0
        while not self.stop.is_set():
            if not self.correlate.wait(0.5):
                continue
            self.correlate.clear()
            try:
                with self.pool.connection(timeout=5) as conn:
                    if context is None or time.monotonic() - loaded > CONTEXT_REFRESH_S:
                        context, loaded = incidents.load_context(conn), time.monotonic()
                    announcements = incidents.correlation_pass(conn, context)
            except db.UNAVAILABLE as exc:
                log.warning("correlation deferred, database unavailable (%s)", type(exc).__name__)
                self.correlate.set()
                self.stop.wait(0.5)
                continue
            for a in announcements:
                self.link.publish(f"gridcrew/work_orders/{a['id']}", json.dumps(a))

    # ------------------------------------------------------------------ main loop
    def run(self) -> int:
        self.pool.open()
        if not self._load_registry():
            self.pool.close()
            return 0
        self.link.start()
        correlator = threading.Thread(target=self._correlation_loop, daemon=True)
        correlator.start()
        housekeeper = threading.Thread(target=self._last_seen_loop, daemon=True)
        housekeeper.start()
        self.correlate.set()
        writers = [
            threading.Thread(target=self._write_loop, name=f"writer-{i}") for i in range(WRITERS)
        ]
        for w in writers:
            w.start()
        if self.metrics:
            metrics.watch(
                self.queue.qsize,
                lambda: self.messages_received - self.messages_stored,
                lambda: float(self.link.connected),
            )
        settle_heap()  # the registry, topology and code: nothing the collector need revisit
        try:
            while not self.stop.is_set():
                items = self._collect()
                if not items:
                    continue
                if self.metrics:
                    metrics.received(items)
                self._apply_rules(items)
                self._hand_over(items, writers)
                if sum(i.decoded.rows for i in items) < PIPELINE_ROWS_PER_MESSAGE * len(items):
                    self._wait_for_writers(writers)  # a reading per message: no overlap
        finally:
            self.stop.set()
            for w in writers:  # one end mark each (a writer that failed has returned)
                while w.is_alive():
                    try:
                        self.batches.put(None, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            for w in writers:
                w.join()
            correlator.join(10)
            housekeeper.join(10)
            self.link.stop()
            self.pool.close()
        log.info("worker %s stopped (%d messages stored)", self.cfg.client_id, self.messages_stored)
        return 1 if self.link_lost else 0


def _in_transaction(conn: psycopg.Connection, work, *args) -> None:
    with conn.transaction():
        work(conn, *args)


def run_worker(cfg: WorkerConfig) -> int:
    from gridcrew.metrics import serve

    serve(cfg.metrics_port, f"gateway worker {cfg.client_id}")
    worker = Worker(cfg)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    return worker.run()


def run_workers(command: list[str], workers: int) -> int:
    """Run *workers* processes of *command* (each with ``--worker-index i``) until a
    signal stops them; if one fails, stop the rest and fail too."""
    stopping = threading.Event()

    def _stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    procs = [subprocess.Popen([*command, "--worker-index", str(i)]) for i in range(workers)]
    code = 0
    while not stopping.is_set():
        dead = [p for p in procs if p.poll() is not None]
        if dead:  # a worker exits 0 only when signalled (e.g. Ctrl-C reached the group)
            code = next((p.returncode for p in dead if p.returncode), 0)
            if code:
                log.error("a worker exited with %d; stopping the others", code)
            break
        stopping.wait(0.3)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return code
