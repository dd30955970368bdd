"""Supply-reliability indices (SAIDI, SAIFI, CAIDI, ... and the regulator's 供电可靠率) from
the meters' own power events.

The counting is set-based SQL in the database (``reliability_sums`` of migration 0420);
this module checks the period, asks for the sums and turns them into indices with the
pure :func:`indices`. Used by ``GET /v1/kpi/reliability``, ``gridcrew report`` and the
bench. Reads only; it never writes. docs/reliability.md defines every figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

Grouping = Literal["feeder", "area", "total"]
Bucket = Literal["day", "week", "month"]
BUCKETS: dict[str, str] = {"day": "1 day", "week": "1 week", "month": "1 month"}
MAX_PERIOD = timedelta(days=400)
CEMI_N = 3
"""CEMIn's default n: the share of customers interrupted at least this many times."""


class BadPeriod(ValueError):
    pass


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise BadPeriod("give from and to with a time zone, e.g. 2026-06-01T00:00:00+08:00")
    if end <= start:
        raise BadPeriod(f"the period is empty: to ({end.isoformat()}) must be after from")
    if end - start > MAX_PERIOD:
        raise BadPeriod(f"the period is longer than {MAX_PERIOD.days} days; ask for less")


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def indices(row: dict[str, Any]) -> dict[str, Any]:
    """Every index of one group and span from its sums (a row of ``reliability_sums``)."""
    n = row["customers_served"]
    minutes = row["period_minutes"]
    saifi = _ratio(row["interruptions"], n)
    saidi = _ratio(row["customer_minutes"], n)
    saidi_unplanned = _ratio(row["customer_minutes_unplanned"], n)
    return {
        "customers_served": n,
        "interruptions": row["interruptions"],
        "customer_minutes": row["customer_minutes"],
        "customers_interrupted": row["customers_interrupted"],
        "momentary_events": row["momentary_events"],
        "saifi": saifi,
        "saidi_min": saidi,
        "caidi_min": None if not saifi else saidi / saifi,
        "caifi": _ratio(row["interruptions"], row["customers_interrupted"]),
        "asai": None if saidi is None else 1 - saidi / minutes,
        "maifi_e": _ratio(row["momentary_events"], n),
        "cemi_n": _ratio(row["cemi_customers"], n),
        "saifi_unplanned": _ratio(row["interruptions_unplanned"], n),
        "saidi_unplanned_min": saidi_unplanned,
        "saifi_without_med": _ratio(row["interruptions_no_med"], n),
        "saidi_without_med_min": _ratio(row["customer_minutes_no_med"], n),
        # the regulator's names (DL/T 836): 供电可靠率 RS-1 / RS-3, AIHC-1 (hours), AITC-1
        "rs1": None if saidi is None else 1 - saidi / minutes,
        "rs3": None if saidi_unplanned is None else 1 - saidi_unplanned / minutes,
        "aihc1_h": None if saidi is None else saidi / 60,
        "aitc1": saifi,
    }


def compute(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    *,
    by: Grouping = "total",
    bucket: Bucket = "day",
    zone: str,
    momentary_min: float,
    cemi_n: int = CEMI_N,
) -> dict[str, Any]:
    """The indices of [start, end) per group (feeder, area kind or total) and per bucket of
    local days in *zone*, with the major event days of the period."""
    check_period(start, end)
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute(
        "SELECT * FROM reliability_sums(%s, %s, %s, %s::interval, %s,"
        " make_interval(secs => %s), %s)",
        (start, end, by, BUCKETS[bucket], zone, momentary_min * 60, cemi_n),
    ).fetchall()
    groups = {r["group_key"]: indices(r) for r in rows if r["bucket"] is None}
    trend = [
        {"bucket": r["bucket"].isoformat(), "group": r["group_key"], **indices(r)}
        for r in rows
        if r["bucket"] is not None
    ]
    first = rows[0] if rows else {"t_med": None, "med_days": []}
    return {
        "from": start,
        "to": end,
        "by": by,
        "bucket": bucket,
        "time_zone": zone,
        "momentary_min": momentary_min,
        "cemi_n": cemi_n,
        "groups": groups,
        "trend": trend,
        "major_event_days": {
            "t_med_min": first["t_med"],
            "days": [d.isoformat() for d in first["med_days"] or []],
        },
    }


def worst_customers(
    conn: psycopg.Connection, start: datetime, end: datetime, *, momentary_min: float, limit: int
) -> list[dict[str, Any]]:
    """The *limit* customers with the most sustained interruptions in [start, end)."""
    check_period(start, end)
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "SELECT * FROM reliability_worst_customers(%s, %s, make_interval(secs => %s), %s)",
        (start, end, momentary_min * 60, limit),
    ).fetchall()
