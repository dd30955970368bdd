"""Everything the gateway reads from and writes to PostgreSQL for ingest.

One batch is one transaction: readings and events by binary ``COPY`` (straight
into the hypertables; when a replayed row collides, the batch falls back to a
staging table and ``INSERT ... ON CONFLICT DO NOTHING``), dead letters, device
status and last-seen. Callers acknowledge to the broker only after
:func:`write_batch` has returned, i.e. after the commit. Never acknowledges.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from gateway.correlation import Topology
from gateway.decode import DeadLetter, Decoded, DeviceInfo, EventRow, ReadingRow, StatusRow
from gridcrew import db

log = logging.getLogger("gridcrew.gateway")

READING_COLUMNS = [
    "time",
    "device_id",
    "voltage_v",
    "current_a",
    "active_power_kw",
    "energy_import_kwh",
    "power_factor",
]
READING_TYPES = ["timestamptz", "text", "float8", "float8", "float8", "float8", "float8"]
EVENT_COLUMNS = [
    "time",
    "device_id",
    "event_id",
    "event_code",
    "event_name",
    "severity",
    "details",
]
EVENT_TYPES = ["timestamptz", "text", "text", "text", "text", "text", "jsonb"]
DEAD_COLUMNS = ["topic", "device_id", "reason", "raw", "source"]
DEAD_TYPES = ["text", "text", "text", "bytea", "text"]
_STAGING = {"meter_readings": "gateway_stage_readings", "device_events": "gateway_stage_events"}


@dataclass
class Batch:
    """Rows of many messages, written in one transaction."""

    readings: list[ReadingRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    statuses: dict[str, StatusRow] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    seen: dict[str, datetime] = field(default_factory=dict)
    """devices.last_seen updates written with the batch (the MQTT worker defers its own)."""
    source: str = "mqtt"

    def add(self, decoded: Decoded) -> None:
        self.readings.extend(decoded.readings)
        self.events.extend(decoded.events)
        self.dead_letters.extend(decoded.dead_letters)
        for st in decoded.statuses:
            old = self.statuses.get(st.device_id)
            if old is None or old.time <= st.time:
                self.statuses[st.device_id] = st

    @property
    def rows(self) -> int:
        return len(self.readings) + len(self.events) + len(self.statuses) + len(self.dead_letters)

    @property
    def readings_only(self) -> bool:
        return not (self.events or self.statuses or self.dead_letters or self.seen)


def make_pool(url: str, max_size: int) -> ConnectionPool:
    """A pool of autocommit connections (work that needs a transaction opens one) with
    this session's staging tables; broken ones are replaced.

    Connections are not checked when taken (a round trip per batch): a broken one fails
    its batch with an OperationalError, the pool drops it, and :func:`with_retry` tries
    again, with nothing acknowledged in between."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=prepare,
        open=False,
        reconnect_timeout=db.POOL_RECONNECT_TIMEOUT_S,
    )


def with_retry(
    pool: ConnectionPool, work: Callable[[psycopg.Connection], object], stop: threading.Event
) -> bool:
    """Run *work* on a pooled connection, retrying while the database is away.

    False when *stop* was set before it succeeded (nothing may be acknowledged then).
    """
    delay = 0.1
    while True:
        try:
            with pool.connection(timeout=5) as conn:
                work(conn)
            return True
        except db.UNAVAILABLE as exc:  # a failover included: the pool reconnects
            log.warning("database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 2.0)


def prepare(conn: psycopg.Connection) -> None:
    """Create this session's staging tables (pool ``configure`` hook)."""
    for table, stage in _STAGING.items():
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
                " ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(stage), sql.Identifier(table))
        )
    conn.commit()


def copy_rows(
    conn: psycopg.Connection, table: str, columns: list[str], types: list[str], rows: list
) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _copy_staged(
    conn: psycopg.Connection, table: str, columns: list[str], types: list[str], rows: list
) -> None:
    """Through this session's staging table: rows already stored are skipped."""
    if not rows:
        return
    stage = _STAGING[table]
    copy_rows(conn, stage, columns, types, rows)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(table), cols, cols, sql.Identifier(stage)
        )
    )


def write_batch(conn: psycopg.Connection, batch: Batch) -> None:
    """Store one batch atomically (commits; raises on database errors).

    Readings and events go straight into the hypertables by COPY. A batch of readings
    alone is one COPY statement, its own transaction on the pool's autocommit
    connections: two round trips. Anything else is one transaction. Only when a row is
    already stored (a redelivery after a crash, a device sending a reading twice) is the
    attempt rolled back and the whole batch written again through the staging tables."""
    try:
        if conn.autocommit and batch.readings_only:
            copy_rows(conn, "meter_readings", READING_COLUMNS, READING_TYPES, batch.readings)
        else:
            with conn.transaction():
                _write(conn, batch, copy_rows)
        return
    except psycopg.errors.UniqueViolation:
        pass
    with conn.transaction():
        _write(conn, batch, _copy_staged)


def _write(conn: psycopg.Connection, batch: Batch, copy_keyed: Callable[..., None]) -> None:
    if batch.readings:
        copy_keyed(conn, "meter_readings", READING_COLUMNS, READING_TYPES, batch.readings)
    if batch.events:
        events = [(*e[:-1], Jsonb(e.details)) for e in batch.events]
        copy_keyed(conn, "device_events", EVENT_COLUMNS, EVENT_TYPES, events)
    if batch.dead_letters:
        copy_rows(
            conn,
            "dead_letters",
            DEAD_COLUMNS,
            DEAD_TYPES,
            [(*d, batch.source) for d in batch.dead_letters],
        )
    if batch.statuses:
        st = list(batch.statuses.values())
        conn.execute(
            "UPDATE devices d SET status = v.status,"
            " last_seen = greatest(d.last_seen, v.time)"
            " FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS v(id, status, time)"
            " WHERE d.id = v.id",
            ([s.device_id for s in st], [s.status for s in st], [s.time for s in st]),
        )
    if batch.seen:
        update_last_seen(conn, batch.seen)


def update_last_seen(conn: psycopg.Connection, seen: dict[str, datetime]) -> None:
    """Move devices' last_seen forward (never back) in the caller's transaction."""
    conn.execute(
        "UPDATE devices d SET last_seen = v.time"
        " FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, time)"
        " WHERE d.id = v.id AND (d.last_seen IS NULL OR d.last_seen < v.time)",
        (list(seen), list(seen.values())),
    )


def load_registry(conn: psycopg.Connection) -> dict[str, DeviceInfo]:
    rows = conn.execute(
        "SELECT id, kind, concentrator_id, nominal_voltage FROM devices WHERE active"
    ).fetchall()
    return {
        r["id"]: DeviceInfo(r["id"], r["kind"], r["concentrator_id"], r["nominal_voltage"])
        for r in rows
    }


def load_topology(conn: psycopg.Connection) -> Topology:
    sections = conn.execute(
        "SELECT id, feeder_id, parent_section_id, line_type, mid_lon, mid_lat FROM feeder_sections"
    ).fetchall()
    transformers = conn.execute("SELECT id, section_id, lon, lat FROM transformers").fetchall()
    meters = conn.execute(
        "SELECT d.id, d.transformer_id, d.lon, d.lat, c.category FROM devices d"
        " LEFT JOIN customers c ON c.id = d.customer_id"
        " WHERE d.kind = 'meter' AND d.active AND d.transformer_id IS NOT NULL"
    ).fetchall()
    indicators = conn.execute(
        "SELECT id, section_id FROM devices WHERE kind = 'fci' AND section_id IS NOT NULL"
    ).fetchall()
    return Topology(
        section_parent={s["id"]: s["parent_section_id"] for s in sections},
        section_feeder={s["id"]: s["feeder_id"] for s in sections},
        section_line_type={s["id"]: s["line_type"] for s in sections},
        section_midpoint={s["id"]: (s["mid_lon"], s["mid_lat"]) for s in sections},
        transformer_section={t["id"]: t["section_id"] for t in transformers},
        transformer_location={t["id"]: (t["lon"], t["lat"]) for t in transformers},
        meter_transformer={m["id"]: m["transformer_id"] for m in meters},
        meter_location={m["id"]: (m["lon"], m["lat"]) for m in meters},
        critical_meters=frozenset(m["id"] for m in meters if m["category"] == "critical"),
        indicator_section={i["id"]: i["section_id"] for i in indicators},
    )
