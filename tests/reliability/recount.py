"""The reliability indices recounted in plain Python from the raw rows (tests only).

A second, independent implementation of docs/reliability.md: it reads the tables with
plain SELECTs and walks every meter's events one by one, so that the set-based SQL of
migration 0420 has something to be checked against.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from gridcrew.topology import downstream

LOOKBACK = timedelta(days=7)
DOWN = {"last_gasp", "power_down"}


@dataclass(frozen=True)
class Interruption:
    device_id: str
    started_at: datetime
    ended_at: datetime | None
    planned: bool


def _load(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    def rows(query: str) -> list[dict[str, Any]]:
        return conn.execute(query).fetchall()

    return {
        "customers": rows("SELECT id, connected_at FROM customers"),
        "meters": rows(
            "SELECT d.id, d.customer_id, d.section_id, d.feeder_id, d.transformer_id,"
            " d.service_area_id, a.kind AS area FROM devices d"
            " LEFT JOIN service_areas a ON a.id = d.service_area_id"
            " WHERE d.kind = 'meter' AND d.active"
        ),
        "sections": rows("SELECT id, parent_section_id FROM feeder_sections"),
        "events": rows(
            "SELECT device_id, time, event_name FROM device_events"
            " WHERE event_name IN ('last_gasp', 'power_down', 'power_up')"
        ),
        "incidents": rows(
            "SELECT id, scope, section_id, transformer_id, first_alarm_at, opened_at,"
            " closed_at, merged_into FROM incidents"
        ),
        "restorations": rows(
            "SELECT incident_id, restored_at FROM work_orders"
            " WHERE incident_id IS NOT NULL AND restored_at IS NOT NULL"
        ),
        "planned": rows("SELECT section_id, starts_at, ends_at, cancelled_at FROM planned_outages"),
    }


def interruptions(
    data: dict[str, list[dict[str, Any]]], start: datetime, end: datetime
) -> list[Interruption]:
    parents = {s["id"]: s["parent_section_id"] for s in data["sections"]}
    meters = {m["id"]: m for m in data["meters"]}
    below = {s: set(downstream(parents, s)) for s in parents}

    restored: dict[int, datetime] = {}
    for r in data["restorations"]:
        i = r["incident_id"]
        restored[i] = min(restored.get(i, r["restored_at"]), r["restored_at"])
    covering: dict[str, list[tuple[datetime, datetime | None, bool]]] = defaultdict(list)
    for i in data["incidents"]:
        if i["merged_into"] is not None:
            continue
        began = i["first_alarm_at"] or i["opened_at"]
        back = restored.get(i["id"], i["closed_at"])
        if began >= end or (i["closed_at"] is not None and i["closed_at"] <= start - LOOKBACK):
            continue
        for m in meters.values():
            if i["scope"] == "section":
                hit = m["section_id"] in below.get(i["section_id"], set())
            else:
                hit = m["transformer_id"] == i["transformer_id"]
            if hit:
                covering[m["id"]].append((began, back, i["scope"] != "meter"))

    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in data["events"]:
        if start - LOOKBACK <= e["time"] < end:
            by_device[e["device_id"]].append(e)
    # the meters' own spans (None: no power_up yet), then the open ones closed by incidents
    raw: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for device, events in by_device.items():
        off: datetime | None = None
        for e in sorted(events, key=lambda e: e["time"]):
            if e["event_name"] in DOWN and off is None:
                off = e["time"]
            elif e["event_name"] == "power_up" and off is not None:
                raw[device].append((off, e["time"]))
                off = None
        if off is not None:
            raw[device].append((off, None))
    metered: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for device, spans in raw.items():
        for a, b in spans:
            backs = [r for _, r, _ in covering[device] if r is not None and r > a]
            metered[device].append((a, b if b is not None else min(backs, default=None)))

    found: list[tuple[str, datetime, datetime | None]] = []
    for device, spans in metered.items():
        found += [(device, a, b) for a, b in spans if b is None or b > start]
    far = datetime.max.replace(tzinfo=start.tzinfo)
    for device, incidents in covering.items():
        for began, back, silent in incidents:
            overlaps = any(a < (back or far) and (b or far) > began for a, b in raw[device])
            if silent and not overlaps and began < end and (back or far) > start:
                found.append((device, began, back))

    windows = [p for p in data["planned"] if p["cancelled_at"] is None]
    out = []
    for device, a, b in found:
        section = meters[device]["section_id"]
        planned = any(
            section in below[p["section_id"]] and p["starts_at"] <= a < p["ends_at"]
            for p in windows
        )
        out.append(Interruption(device, a, b, planned))
    return out


def _days(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    """The local days overlapping [start, end), each cut to the period."""
    out = []
    day = start.astimezone(zone).date()
    while True:
        d0 = datetime.combine(day, time(), zone)
        if d0 >= end:
            return out
        d1 = datetime.combine(day + timedelta(days=1), time(), zone)
        out.append((day, max(d0, start), min(d1, end)))
        day += timedelta(days=1)


def recount(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    *,
    by: str,
    zone: ZoneInfo,
    momentary: timedelta,
    cemi_n: int,
) -> dict[str, Any]:
    """Per group: the whole period's indices; per day: the total's SAIDI; and the major
    event days. Mirrors ``gridcrew.reliability.compute`` in meaning, not in code."""
    now = conn.execute("SELECT now() AS now").fetchone()["now"]
    data = _load(conn)
    connected = {c["id"]: c["connected_at"] for c in data["customers"]}
    meter_of: dict[str, dict[str, Any]] = {}
    for m in sorted(data["meters"], key=lambda m: m["id"]):
        if m["customer_id"] is not None:
            meter_of.setdefault(m["customer_id"], m)
    since: dict[str, datetime] = {}
    group: dict[str, str] = {}
    for customer, m in meter_of.items():
        at = connected[customer]
        if at is not None and at >= end:
            continue
        since[customer] = max(start, at) if at is not None else start
        group[customer] = {
            "feeder": m["feeder_id"] or "unassigned",
            "area": m["area"] or "unassigned",
        }.get(by, "total")
    customer_of = {m["id"]: c for c, m in meter_of.items()}
    span = (end - start).total_seconds()
    served: dict[str, float] = defaultdict(float)
    for customer, s in since.items():
        served[group[customer]] += (end - s).total_seconds() / span
    total_served = sum(served.values())

    days = _days(start, end, zone)
    counted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    daily_unplanned: dict[date, float] = defaultdict(float)
    pieces: list[tuple[str, date, float, bool]] = []  # customer, day, minutes, begins
    momentary_by: list[tuple[str, bool, date]] = []
    for i in interruptions(data, start, end):
        customer = customer_of.get(i.device_id)
        if customer not in since:
            continue
        ended = i.ended_at or now
        if ended <= since[customer]:
            continue
        g = group[customer]
        is_momentary = ended - i.started_at < momentary
        counts = since[customer] <= i.started_at < end
        begin_day = i.started_at.astimezone(zone).date()
        a, b = max(i.started_at, since[customer]), min(ended, end)
        if is_momentary:
            if counts:
                sums[g]["momentary"] += 1
                momentary_by.append((customer, i.planned, begin_day))
            continue
        if counts:
            counted[g][customer] += 1
            sums[g]["interruptions"] += 1
            sums[g]["unplanned"] += 0 if i.planned else 1
        for day, d0, d1 in days:
            minutes = max(0.0, (min(b, d1) - max(a, d0)).total_seconds() / 60)
            if minutes or (counts and day == begin_day):
                sums[g]["minutes"] += minutes
                sums[g]["minutes_unplanned"] += 0 if i.planned else minutes
                if not i.planned:
                    daily_unplanned[day] += minutes
                pieces.append((customer, day, minutes, counts and day == begin_day))

    daily = {d: daily_unplanned[d] / total_served for d, _, _ in days}
    logs = [math.log(v) for v in daily.values() if v > 0]
    t_med = None
    if len(logs) >= 2:
        alpha = sum(logs) / len(logs)
        beta = math.sqrt(sum((x - alpha) ** 2 for x in logs) / (len(logs) - 1))
        t_med = math.exp(alpha + 2.5 * beta)
    med_days = sorted(d for d, v in daily.items() if t_med is not None and v > t_med)
    for customer, day, minutes, begins in pieces:
        if day not in med_days:
            sums[group[customer]]["minutes_no_med"] += minutes
            sums[group[customer]]["interruptions_no_med"] += 1 if begins else 0

    minutes_in_period = span / 60
    groups = {}
    for g, n in served.items():
        s = sums[g]
        interrupted = len(counted[g])
        saifi, saidi = s["interruptions"] / n, s["minutes"] / n
        groups[g] = {
            "customers_served": n,
            "saifi": saifi,
            "saidi_min": saidi,
            "caidi_min": saidi / saifi if saifi else None,
            "caifi": s["interruptions"] / interrupted if interrupted else None,
            "asai": 1 - saidi / minutes_in_period,
            "maifi_e": s["momentary"] / n,
            "cemi_n": sum(1 for k in counted[g].values() if k >= cemi_n) / n,
            "saifi_unplanned": s["unplanned"] / n,
            "saidi_unplanned_min": s["minutes_unplanned"] / n,
            "saifi_without_med": s["interruptions_no_med"] / n,
            "saidi_without_med_min": s["minutes_no_med"] / n,
            "rs1": 1 - saidi / minutes_in_period,
            "rs3": 1 - s["minutes_unplanned"] / n / minutes_in_period,
            "aihc1_h": saidi / 60,
            "aitc1": saifi,
        }
    return {
        "groups": groups,
        "daily_saidi": {d.isoformat(): v for d, v in daily.items()},
        "t_med_min": t_med,
        "med_days": [d.isoformat() for d in med_days],
    }
