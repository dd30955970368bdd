"""Decode one OsmAnd-protocol position (pure): query/form fields or Traccar Client's JSON.

Fields as Traccar documents them: ``id`` (or ``deviceid``), ``lat``, ``lon``,
``timestamp`` (Unix seconds, milliseconds or ISO 8601; default: now),
``speed`` in knots, ``bearing`` (or ``heading``) in degrees, ``accuracy`` in
metres, ``batt`` in percent. Never touches the database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

KNOT_MPS = 0.514444


class FixError(ValueError):
    """The request is not a position we can use; the message says which field."""


@dataclass(frozen=True)
class Fix:
    tracker_id: str
    time: datetime
    lat: float
    lon: float
    speed_mps: float | None
    heading_deg: float | None
    accuracy_m: float | None
    battery_pct: float | None


def _number(fields: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = fields.get(name)
        if value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FixError(f"{name}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise FixError(f"{name} must be finite")
        return number
    return None


def parse_time(value: Any, now: datetime) -> datetime:
    if value is None or value == "":
        return now
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise FixError(f"timestamp={text!r} is neither Unix time nor ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if number > 1e11:  # milliseconds
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def decode(fields: Mapping[str, Any], now: datetime) -> Fix:
    """A fix from flat OsmAnd fields (query string or form)."""
    tracker_id = str(fields.get("id") or fields.get("deviceid") or "").strip()
    if not tracker_id:
        raise FixError("id is missing: set the device identifier in the tracker app")
    lat, lon = _number(fields, "lat"), _number(fields, "lon")
    if (lat is None or lon is None) and "," in str(fields.get("location") or ""):
        first, second = str(fields["location"]).split(",", 1)
        lat, lon = _number({"lat": first}, "lat"), _number({"lon": second}, "lon")
    if lat is None or lon is None:
        raise FixError("lat and lon are missing")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise FixError(f"lat={lat}, lon={lon} is not on Earth")
    speed = _number(fields, "speed")
    return Fix(
        tracker_id=tracker_id,
        time=parse_time(fields.get("timestamp"), now),
        lat=lat,
        lon=lon,
        speed_mps=None if speed is None else speed * KNOT_MPS,
        heading_deg=_number(fields, "bearing", "heading"),
        accuracy_m=_number(fields, "accuracy"),
        battery_pct=_number(fields, "batt"),
    )


def decode_json(body: Mapping[str, Any], now: datetime) -> Fix:
    """A fix from Traccar Client's JSON body (``device_id`` and ``location.coords``)."""
    location = body.get("location")
    if not isinstance(location, Mapping):
        raise FixError("location is missing from the JSON body")
    coords = location.get("coords") or {}
    battery = location.get("battery") or {}
    level = battery.get("level") if isinstance(battery, Mapping) else None
    speed = coords.get("speed")
    fields = {
        "id": body.get("device_id"),
        "lat": coords.get("latitude"),
        "lon": coords.get("longitude"),
        "timestamp": location.get("timestamp"),
        "bearing": coords.get("heading"),
        "accuracy": coords.get("accuracy"),
        "batt": None if level is None else float(level) * 100,
    }
    fix = decode(fields, now)
    # the JSON client reports speed in m/s, not knots
    speed_mps = _number({"speed": speed}, "speed")
    return replace(fix, speed_mps=speed_mps)
