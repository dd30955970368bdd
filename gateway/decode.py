"""Topic routing and payload validation: bytes from the broker to rows or dead letters (pure).

Takes a registry of known devices and the current time as arguments; never
touches the network or the database, and never raises on input: whatever
cannot be stored becomes a :class:`DeadLetter` with a reason a person can act on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec
from pydantic import BaseModel, ValidationError

from schemas.telemetry import (
    SEVERITY,
    DeviceEvent,
    DeviceStatus,
    EventBatch,
    MeterReading,
    ReadingBatch,
)
from schemas.telemetry_fast import FastMeterReading, FastReadingBatch

TOPIC_KINDS = ("readings", "events", "status")
RAW_KEEP_BYTES = 4096
"""Dead letters keep at most this many bytes of the offending payload."""
_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_ZERO = timedelta(0)
_tuple_new = tuple.__new__


def _utc(time: datetime) -> datetime:
    """The same instant with the stdlib's UTC when its offset is zero: pydantic's own
    tzinfo makes every later comparison, subtraction and COPY dump call back into it
    (the fast path's times have the stdlib's already)."""
    tz = time.tzinfo
    if tz is UTC:
        return time
    return time.astimezone(UTC) if tz.utcoffset(None) == _ZERO else time  # type: ignore[union-attr]


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    kind: str  # meter, concentrator, fci, modbus
    concentrator_id: str | None = None
    nominal_voltage: float = 230.0


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 256 * 1024
    max_future_s: int = 300


class ReadingRow(NamedTuple):
    time: datetime
    device_id: str
    voltage_v: float | None
    current_a: float | None
    active_power_kw: float | None
    energy_import_kwh: float | None
    power_factor: float | None


class EventRow(NamedTuple):
    time: datetime
    device_id: str
    event_id: str
    event_code: str
    event_name: str
    severity: str
    details: dict


class StatusRow(NamedTuple):
    device_id: str
    status: str
    time: datetime


class DeadLetter(NamedTuple):
    topic: str
    device_id: str | None
    reason: str
    raw: bytes


@dataclass
class Decoded:
    """What one MQTT message turned into."""

    readings: list[ReadingRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.readings) + len(self.events) + len(self.statuses) + len(self.dead_letters)


def parse_topic(topic: str) -> tuple[str, str] | None:
    """``devices/<id>/<kind>`` to (id, kind); None for anything else."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "devices" or not parts[1]:
        return None
    return parts[1], parts[2]


_MODELS: dict[tuple[str, bool], type[BaseModel]] = {
    ("status", False): DeviceStatus,
    ("status", True): DeviceStatus,
    ("readings", False): MeterReading,
    ("readings", True): ReadingBatch,
    ("events", False): DeviceEvent,
    ("events", True): EventBatch,
}
"""The payload model of a topic kind, for a single device (False) or a concentrator (True)."""


_FAST: dict[tuple[str, bool], msgspec.json.Decoder] = {
    ("readings", False): msgspec.json.Decoder(FastMeterReading),
    ("readings", True): msgspec.json.Decoder(FastReadingBatch),
}
"""Readings first go through the msgspec mirror of their model (schemas.telemetry_fast):
it accepts a subset of what the model does, in half the time."""


_SUB_MICROSECOND = re.compile(rb":\d\d[.,]\d{7}")
"""A time with more than six fractional digits: msgspec rounds it to the microsecond,
pydantic truncates; the contract's reading (the stored key) must win."""


def decode_fast(kind: str, batch: bool, payload: bytes) -> Any:
    """The payload decoded by the fast mirror, or None (the pydantic model decides)."""
    decoder = _FAST.get((kind, batch))
    if decoder is None or _SUB_MICROSECOND.search(payload):
        return None
    try:
        return decoder.decode(payload)
    except msgspec.MsgspecError:
        return None


@lru_cache(maxsize=8)
def _ahead(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def decode(
    topic: str,
    payload: bytes,
    registry: Mapping[str, DeviceInfo],
    now: datetime,
    limits: Limits = Limits(),
) -> Decoded:
    """Validate one message against the payload contract and the device registry.

    This runs once per message at line rate: the per-entry loops below are written for
    speed (checks that pass cost a comparison; the reason is worked out only on failure).
    """
    out = Decoded()
    parsed = parse_topic(topic)
    if parsed is None:
        out.dead_letters.append(
            _dead(topic, None, "unknown_topic: not devices/<id>/<kind>", payload)
        )
        return out
    device_id, kind = parsed
    if kind not in TOPIC_KINDS:
        reason = f"unknown_topic_kind: '{kind}' (expected one of {', '.join(TOPIC_KINDS)})"
        out.dead_letters.append(_dead(topic, device_id, reason, payload))
        return out
    if len(payload) > limits.max_payload_bytes:
        reason = f"oversize: {len(payload)} bytes > limit {limits.max_payload_bytes}"
        out.dead_letters.append(_dead(topic, device_id, reason, payload))
        return out
    device = registry.get(device_id)
    if device is None:
        reason = f"unknown_device: {device_id} is not registered in the devices table"
        out.dead_letters.append(_dead(topic, device_id, reason, payload))
        return out
    batch = device.kind == "concentrator"
    model = _MODELS[kind, batch]
    msg: Any = decode_fast(kind, batch, payload)
    if msg is None:  # not for the fast path, or refused by it: the contract decides
        try:
            msg = model.model_validate_json(payload)
        except ValidationError as exc:
            out.dead_letters.append(_dead(topic, device_id, _reason(exc, model), payload))
            return out
    latest = now + _ahead(limits.max_future_s)
    if kind == "status":
        # bounded like readings: a far-future time would hold devices.last_seen for ever
        if msg.time is not None and _utc(msg.time) > latest:
            reason = f"future_timestamp: {msg.time.isoformat()} is after {latest.isoformat()}"
            out.dead_letters.append(_dead(topic, device_id, reason, payload))
            return out
        out.statuses.append(StatusRow(device_id, msg.status, msg.time or now))
        return out
    relay: str | None = None
    if batch:
        if msg.concentrator_id != device_id:
            reason = f"device_mismatch: batch names {msg.concentrator_id} but came from {device_id}"
            out.dead_letters.append(_dead(topic, device_id, reason, payload))
            return out
        entries = msg.readings if kind == "readings" else msg.events
        relay = device_id
    else:
        entries = (msg,)
    if kind == "readings":
        _accept_readings(out, topic, entries, device_id, latest, registry, relay)
    else:
        _accept_events(out, topic, entries, device_id, latest, registry, relay)
    return out


def _accept_readings(
    out: Decoded,
    topic: str,
    entries: Iterable[MeterReading | FastMeterReading],
    sender: str,
    latest: datetime,
    registry: Mapping[str, DeviceInfo],
    relay: str | None,
) -> None:
    append = out.readings.append
    get = registry.get
    for msg in entries:
        time = _utc(msg.time)
        device_id = msg.device_id
        if relay is None:
            ok = device_id == sender
        else:
            info = get(device_id)
            ok = info is not None and info.concentrator_id == relay
        if not ok or time > latest:
            _refuse(out, topic, msg, _check(msg, time, sender, latest, registry, relay))
            continue
        v = msg.values
        append(
            _tuple_new(
                ReadingRow,
                (
                    time,
                    device_id,
                    v.voltage_v,
                    v.current_a,
                    v.active_power_kw,
                    v.energy_import_kwh,
                    v.power_factor,
                ),
            )
        )


def _accept_events(
    out: Decoded,
    topic: str,
    entries: Iterable[DeviceEvent],
    sender: str,
    latest: datetime,
    registry: Mapping[str, DeviceInfo],
    relay: str | None,
) -> None:
    for msg in entries:
        time = _utc(msg.time)
        reason = _check(msg, time, sender, latest, registry, relay)
        if reason is not None:
            _refuse(out, topic, msg, reason)
            continue
        out.events.append(
            EventRow(
                time,
                msg.device_id,
                msg.event_id,
                msg.code,
                msg.name.value,
                SEVERITY.get(msg.name, "info"),
                dict(msg.details),
            )
        )


def _refuse(
    out: Decoded, topic: str, msg: MeterReading | FastMeterReading | DeviceEvent, reason: str | None
) -> None:
    """Dead-letter one entry for *reason* (what :func:`_check` found), as the contract's
    model writes it out, whichever decoder read it."""
    assert reason is not None
    if isinstance(msg, FastMeterReading):
        msg = MeterReading.model_validate(msgspec.to_builtins(msg))
    out.dead_letters.append(_dead(topic, msg.device_id, reason, msg.model_dump_json().encode()))


def _check(
    msg: MeterReading | FastMeterReading | DeviceEvent,
    time: datetime,
    sender: str,
    latest: datetime,
    registry: Mapping[str, DeviceInfo],
    relay: str | None,
) -> str | None:
    if relay is None and msg.device_id != sender:
        return f"device_mismatch: payload names {msg.device_id} but came from {sender}"
    if relay is not None:
        device = registry.get(msg.device_id)
        if device is None:
            return f"unknown_device: {msg.device_id} is not registered in the devices table"
        if device.concentrator_id != relay:
            return (
                f"not_behind_concentrator: {msg.device_id} is not behind {relay}"
                f" (its concentrator is {device.concentrator_id or 'none'})"
            )
    if time > latest:
        return f"future_timestamp: {msg.time.isoformat()} is after {latest.isoformat()}"
    # NaN and infinities never get here: every quantity has bounds, which they fail.
    return None


def _reason(exc: ValidationError, model: type[BaseModel]) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    if first["type"] == "json_invalid":
        return f"malformed_json: {first['msg']}"
    if first["type"] in _RANGE_ERRORS:
        value = first.get("input")
        if isinstance(value, float) and math.isnan(value):
            return f"impossible_value: {where} is NaN"
        return f"impossible_value: {where}={value!r} ({first['msg']})"
    return f"schema: {model.__name__} {where}: {first['msg']}"


def _dead(topic: str, device_id: str | None, reason: str, raw: bytes) -> DeadLetter:
    return DeadLetter(topic, device_id, reason, bytes(raw[:RAW_KEEP_BYTES]))
