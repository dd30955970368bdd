"""The gateway's Prometheus metrics (MQTT worker and Modbus bridge) and how they move.

Counted once per batch, never per row (the ingest path is tuned: docs/gateway.md):
each function here takes a whole batch and makes one ``inc``/``observe`` per label.
Gauges that are a number the worker keeps anyway (queue depth, acknowledgements
pending, broker connection) are read at scrape time. Never touches MQTT or the database.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from gateway.correlation import Plan
    from gateway.decode import Decoded
    from gateway.store import Batch

TOPIC_KINDS = frozenset({"readings", "events", "status"})

MESSAGES = Counter(
    "gridcrew_gateway_messages_received_total",
    "MQTT messages taken into a batch, by topic kind (readings, events, status, other)",
    ["kind"],
)
ROWS_RECEIVED = Counter(
    "gridcrew_gateway_rows_received_total",
    "Rows decoded from messages, before the commit, by kind (reading, event, status)",
    ["kind"],
)
ROWS_COMMITTED = Counter(
    "gridcrew_gateway_rows_committed_total",
    "Rows committed to the database, by kind (reading, event, status, dead_letter)",
    ["kind", "source"],
)
DEAD_LETTERS = Counter(
    "gridcrew_gateway_dead_letters_total",
    "Messages (or concentrator entries) stored as dead letters, by reason code",
    ["reason"],
)
BATCH_ROWS = Histogram(
    "gridcrew_gateway_batch_rows",
    "Rows per committed batch",
    ["source"],
    buckets=(1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
)
WRITE_SECONDS = Histogram(
    "gridcrew_gateway_copy_duration_seconds",
    "Time to write and commit one batch (binary COPY), seconds",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_LAG = Histogram(
    "gridcrew_gateway_ingest_lag_seconds",
    "Commit time minus reading time of the oldest reading of each committed batch",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
CORRELATION_PASSES = Counter(
    "gridcrew_gateway_correlation_passes_total", "Outage correlation passes run"
)
INCIDENTS_OPENED = Counter("gridcrew_gateway_incidents_opened_total", "Outage incidents opened")
INCIDENTS_CLOSED = Counter(
    "gridcrew_gateway_incidents_closed_total", "Outage incidents closed (restored or merged)"
)
WORK_ORDERS_OPENED = Counter(
    "gridcrew_gateway_work_orders_opened_total", "fault_repair work orders opened by the gateway"
)
MODBUS_POLLS = Counter(
    "gridcrew_modbus_polls_total", "Modbus polls, by result (ok, failed)", ["result"]
)
MODBUS_COMM_LOSS = Counter(
    "gridcrew_modbus_comm_loss_total", "comm_loss events raised (three polls unanswered)"
)


WORKER_GAUGES = {
    "queue": ("gridcrew_gateway_queue_messages", "Messages received and waiting to be decoded"),
    "acks": (
        "gridcrew_gateway_acks_pending_messages",
        "Messages received from the broker and not acknowledged yet (not yet committed)",
    ),
    "connected": (
        "gridcrew_gateway_broker_connected",
        "1 while the MQTT session is connected, else 0",
    ),
}
_watched: dict[str, Gauge] = {}


def watch(
    queue_depth: Callable[[], float],
    acks_pending: Callable[[], float],
    connected: Callable[[], float],
) -> None:
    """Read these MQTT worker numbers at each scrape (nothing on the ingest path). The
    gauges exist only in a process that calls this: the Modbus bridge has no broker
    session, and a ``broker_connected`` of 0 there would page as a broker outage."""
    for key, read in (("queue", queue_depth), ("acks", acks_pending), ("connected", connected)):
        if key not in _watched:
            _watched[key] = Gauge(*WORKER_GAUGES[key])
        _watched[key].set_function(read)


class _Received(Protocol):
    topic: str
    decoded: Decoded


def received(items: Iterable[_Received]) -> None:
    """One collected batch: its messages by topic kind and their decoded rows."""
    kinds: Tally[str] = Tally()
    readings = events = statuses = 0
    for item in items:
        topic = item.topic
        kinds[topic[topic.rfind("/") + 1 :]] += 1
        d = item.decoded
        readings += len(d.readings)
        events += len(d.events)
        statuses += len(d.statuses)
    for kind, n in kinds.items():
        MESSAGES.labels(kind if kind in TOPIC_KINDS else "other").inc(n)
    for kind, n in (("reading", readings), ("event", events), ("status", statuses)):
        if n:
            ROWS_RECEIVED.labels(kind).inc(n)


def committed(batches: list[Batch], seconds: float, now: datetime) -> None:
    """Batches just committed (one, or one a message after a refused batch) and how long
    the write took; *now* is the commit's wall-clock time."""
    source = batches[0].source if batches else "mqtt"
    counts = {"reading": 0, "event": 0, "status": 0, "dead_letter": 0}
    oldest: datetime | None = None
    reasons: Tally[str] = Tally()
    for b in batches:
        counts["reading"] += len(b.readings)
        counts["event"] += len(b.events)
        counts["status"] += len(b.statuses)
        counts["dead_letter"] += len(b.dead_letters)
        if b.readings:
            first = min(b.readings, key=itemgetter(0)).time
            oldest = first if oldest is None or first < oldest else oldest
        for d in b.dead_letters:
            reasons[d.reason.split(":", 1)[0]] += 1
    for kind, n in counts.items():
        if n:
            ROWS_COMMITTED.labels(kind, source).inc(n)
    for reason, n in reasons.items():
        DEAD_LETTERS.labels(reason).inc(n)
    BATCH_ROWS.labels(source).observe(sum(counts.values()))
    WRITE_SECONDS.labels(source).observe(seconds)
    if oldest is not None:
        INGEST_LAG.labels(source).observe(max(0.0, (now - oldest).total_seconds()))


def correlated(plan: Plan) -> None:
    """One correlation pass and what it changed."""
    CORRELATION_PASSES.inc()
    if plan.opened:
        INCIDENTS_OPENED.inc(len(plan.opened))
        WORK_ORDERS_OPENED.inc(len(plan.opened))
    if plan.closed or plan.merged:
        INCIDENTS_CLOSED.inc(len(plan.closed) + len(plan.merged))


def polled(ok: bool, comm_lost: bool = False) -> None:
    """One Modbus poll."""
    MODBUS_POLLS.labels("ok" if ok else "failed").inc()
    if comm_lost:
        MODBUS_COMM_LOSS.inc()
