"""Rows the records tests write straight into their database (the other domains' tables)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql


def phone_last4(conn: psycopg.Connection, customer_id: str) -> str:
    phone = conn.execute("SELECT phone FROM customers WHERE id = %s", (customer_id,)).fetchone()
    digits = "".join(ch for ch in phone["phone"] if ch.isdigit())
    return digits[-4:]


def wrong_last4(right: str) -> str:
    return f"{(int(right) + 1) % 10000:04d}"


def customer_ids(conn: psycopg.Connection, n: int) -> list[str]:
    return [r["id"] for r in conn.execute("SELECT id FROM customers ORDER BY id LIMIT %s", (n,))]


def area_ids(conn: psycopg.Connection) -> dict[str, str]:
    return {r["kind"]: r["id"] for r in conn.execute("SELECT id, kind FROM service_areas")}


def insert_application(
    conn: psycopg.Connection,
    number: str,
    customer_id: str,
    *,
    service_class: str = "lv_residential",
    stage: str = "accepted",
    submitted_at: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO applications (number, customer_id, service_class, stage, submitted_at,"
        " lon, lat, address) VALUES (%s, %s, %s, %s, coalesce(%s, now()), 120.75, 30.74,"
        " '1 Test Road')",
        (number, customer_id, service_class, stage, submitted_at),
    )


def insert_work_order(conn: psycopg.Connection, **columns) -> dict:
    columns.setdefault("lon", 120.75)
    columns.setdefault("lat", 30.74)
    names = list(columns)
    row = conn.execute(
        sql.SQL("INSERT INTO work_orders ({}) VALUES ({}) RETURNING id, number").format(
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
        ),
        [columns[n] for n in names],
    ).fetchone()
    return row


def insert_photo(
    conn: psycopg.Connection, photo_dir: Path, work_order_id: int, stage: str, content: bytes
) -> int:
    digest = hashlib.sha256(content).hexdigest()
    key = f"{work_order_id}/{digest}.jpg"
    (photo_dir / key).parent.mkdir(parents=True, exist_ok=True)
    (photo_dir / key).write_bytes(content)
    row = conn.execute(
        "INSERT INTO photos (work_order_id, stage, content_type, size_bytes, sha256, storage_key)"
        " VALUES (%s, %s, 'image/jpeg', %s, %s, %s) RETURNING id",
        (work_order_id, stage, len(content), digest, key),
    ).fetchone()
    return row["id"]
