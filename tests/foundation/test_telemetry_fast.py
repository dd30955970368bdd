"""The msgspec mirror of the readings' contract (schemas.telemetry_fast) never accepts
what the pydantic contract refuses, reads the same values, and matches it field for field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel, ValidationError

from gateway.decode import DeviceInfo, decode, decode_fast
from schemas.telemetry import MeterReading, ReadingBatch, Values
from schemas.telemetry_fast import FastMeterReading, FastReadingBatch, FastValues

PAIRS = [(Values, FastValues), (MeterReading, FastMeterReading), (ReadingBatch, FastReadingBatch)]


def _contract_fields(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, f in model.model_fields.items():
        limits: dict[str, Any] = {"required": f.is_required()}
        for m in f.metadata:
            for attr in ("ge", "le", "min_length", "max_length", "pattern"):
                if getattr(m, attr, None) is not None:
                    limits[attr] = getattr(m, attr)
        out[f.alias or name] = {"name": name, **limits}
    return out


def _mirror_fields(struct: type[msgspec.Struct]) -> dict[str, dict[str, Any]]:
    out = {}
    for f in msgspec.inspect.type_info(struct).fields:
        t = f.type
        if isinstance(t, msgspec.inspect.UnionType):  # X | None
            [t] = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        limits: dict[str, Any] = {"required": f.required}
        for attr in ("ge", "le", "min_length", "max_length", "pattern"):
            if getattr(t, attr, None) is not None:
                limits[attr] = getattr(t, attr)
        if "pattern" in limits:  # anchored for Python's re as pydantic's regex anchors
            limits["pattern"] = limits["pattern"].replace(r"\A", "^").replace(r"\Z", "$")
        out[f.encode_name] = {"name": f.name, **limits}
    return out


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda x: x.__name__)
def test_the_mirror_has_the_contracts_fields_keys_and_limits(model, struct):
    assert _mirror_fields(struct) == _contract_fields(model)


def _reading(**over: Any) -> dict[str, Any]:
    r = {
        "device_id": "MTR-000001",
        "time": "2026-12-07T08:15:00+00:00",
        "values": {
            "1-0:32.7.0": 231.2,
            "1-0:31.7.0": 4.1,
            "1-0:1.7.0": 0.9,
            "1-0:1.8.0": 1234.5,
            "1-0:13.7.0": 0.97,
        },
    }
    r.update(over)
    return r


def _values(**over: Any) -> dict[str, Any]:
    return _reading(values={**_reading()["values"], **over})


READINGS: list[bytes] = [
    json.dumps(r).encode()
    for r in [
        _reading(),
        _reading(kind="reading"),
        _reading(kind="event"),
        _reading(values={}),
        _reading(values={"1-0:32.7.0": None}),
        _reading(values={"voltage_v": 230.0}),  # a readable name: the contract only
        _reading(values={"1-0:32.7.0": 230.0, "1-0:99.9.9": 1}),
        _reading(extra=1),
        _reading(time="2026-12-07T08:15:00Z"),
        _reading(time="2026-12-07T08:15:00z"),
        _reading(time="2026-12-07t08:15:00Z"),
        _reading(time="2026-12-07 08:15:00+00:00"),
        _reading(time="2026-12-07T16:15:00+08:00"),
        _reading(time="2026-12-07T02:45:00-05:30"),
        _reading(time="2026-12-07T08:15:00.123456+00:00"),
        _reading(time="2026-12-07T08:15:00.1234567+00:00"),
        _reading(time="2026-12-07T08:15:00.5Z"),
        _reading(time="2026-12-07T08:15:00"),  # naive
        _reading(time="2026-12-07"),
        _reading(time="2026-12-07T08:15:60Z"),
        _reading(time="2026-02-30T08:15:00Z"),
        _reading(time=1796631300),
        _reading(time="1796631300"),
        _reading(time=None),
        _values(**{"1-0:32.7.0": 1000}),
        _values(**{"1-0:32.7.0": 1000.0000001}),
        _values(**{"1-0:32.7.0": -0.0}),
        _values(**{"1-0:32.7.0": -0.1}),
        _values(**{"1-0:32.7.0": 230}),
        _values(**{"1-0:32.7.0": True}),
        _values(**{"1-0:32.7.0": "230"}),
        _values(**{"1-0:32.7.0": [230]}),
        _values(**{"1-0:1.8.0": 1e9}),
        _values(**{"1-0:1.8.0": 10**12}),
        _values(**{"1-0:13.7.0": -1}),
        _values(**{"1-0:13.7.0": -1.5}),
        _reading(device_id=""),
        _reading(device_id="M" * 64),
        _reading(device_id="M" * 65),
        _reading(device_id="MTR-1\n"),
        _reading(device_id="MTR 1"),
        _reading(device_id="MTR-é"),
        _reading(device_id=12),
        {k: v for k, v in _reading().items() if k != "values"},
        {k: v for k, v in _reading().items() if k != "device_id"},
    ]
] + [
    b'{"device_id": "MTR-000001", "time": "2026-12-07T08:15:00Z", "values": {"1-0:32.7.0": NaN}}',
    b'{"device_id": "MTR-000001", "time": "2026-12-07T08:15:00Z", "values": '
    b'{"1-0:32.7.0": Infinity}}',
    b'{"device_id": "MTR-000001", "time": "2026-12-07T08:15:00Z", "values": {"1-0:32.7.0": 1e400}}',
    b'{"device_id": "MTR-1", "device_id": "MTR-2", "time": "2026-12-07T08:15:00Z", "values": {}}',
    b'{"device_id": "MTR-1", "time": "2026-12-07T08:15:00Z", "values": '
    b'{"1-0:32.7.0": 1, "1-0:32.7.0": 2}}',
    b'\xef\xbb\xbf{"device_id": "MTR-1", "time": "2026-12-07T08:15:00Z", "values": {}}',
    b'{"device_id": "MTR-1", "time": "2026-12-07T08:15:00Z", "values": {}}  \n',
    b'{"device_id": "MTR-1", "time": "2026-12-07T08:15:00Z", "values": {}} x',
    b'{"device_id": "MTR-1", "time": "2026-12-07T08:15:00Z", "values": {}',
    b"[]",
    b"null",
    b"",
]


def _batch(readings: list[Any], **over: Any) -> bytes:
    return json.dumps({"concentrator_id": "DC-0001", "readings": readings, **over}).encode()


BATCHES: list[bytes] = [
    _batch([_reading(), _reading(device_id="MTR-000002")]),
    _batch([_reading()], kind="reading_batch"),
    _batch([_reading()], kind="reading"),
    _batch([]),
    _batch([_reading()] * 5000),
    _batch([_reading()] * 5001),
    _batch([_reading(), _reading(time="2026-12-07T08:15:00")]),
    _batch([_reading(), _reading(values={"voltage_v": 1})]),
    _batch([_reading()], concentrator_id="DC 1"),
    _batch([_reading()], extra=True),
    json.dumps({"concentrator_id": "DC-0001", "readings": _reading()}).encode(),
]


def _same(fast: Any, contract: Any) -> None:
    """The fields the gateway reads are equal (times as instants, in UTC or not)."""
    if isinstance(contract, ReadingBatch):
        assert fast.concentrator_id == contract.concentrator_id
        assert len(fast.readings) == len(contract.readings)
        for f, c in zip(fast.readings, contract.readings, strict=True):
            _same(f, c)
        return
    assert fast.device_id == contract.device_id
    assert fast.time == contract.time
    assert fast.time.utcoffset() == contract.time.utcoffset()
    for name in Values.model_fields:
        assert getattr(fast.values, name) == getattr(contract.values, name), name


@pytest.mark.parametrize(
    ("model", "struct", "payload"),
    [(MeterReading, FastMeterReading, p) for p in READINGS]
    + [(ReadingBatch, FastReadingBatch, p) for p in BATCHES],
    ids=lambda x: x.__name__ if isinstance(x, type) else x[:60].decode("utf-8", "replace"),
)
def test_what_the_mirror_accepts_the_contract_accepts_with_the_same_values(model, struct, payload):
    fast = decode_fast("readings", struct is FastReadingBatch, payload)
    if fast is None:
        return  # refused: the gateway asks the contract, which decides as before
    assert isinstance(fast, struct)
    try:
        contract = model.model_validate_json(payload)
    except ValidationError as exc:
        pytest.fail(f"the mirror accepted what the contract refuses: {exc}")
    _same(fast, contract)


def test_the_simulators_payloads_take_the_fast_path():
    """Guards the speed: what real meters and concentrators send is not refused by the
    mirror (which would silently send every message through the slower contract)."""
    for payload, struct in [
        (json.dumps(_reading()).encode(), FastMeterReading),
        (_batch([_reading(), _reading(device_id="MTR-000002")]), FastReadingBatch),
        (
            MeterReading.model_validate(_reading()).model_dump_json(by_alias=True).encode(),
            FastMeterReading,
        ),
    ]:
        assert isinstance(decode_fast("readings", struct is FastReadingBatch, payload), struct)


def test_a_refused_entry_is_dead_lettered_the_same_whichever_decoder_read_it():
    registry = {
        "DC-0001": DeviceInfo("DC-0001", "concentrator"),
        "MTR-000001": DeviceInfo("MTR-000001", "meter", "DC-0001"),
        "MTR-000002": DeviceInfo("MTR-000002", "meter", "DC-0009"),
    }
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    stray = _reading(device_id="MTR-000002")
    fast = decode("devices/DC-0001/readings", _batch([_reading(), stray]), registry, now)
    # readable names go through the contract only
    slow_stray = {**stray, "values": {"voltage_v": 231.2}}
    slow = decode("devices/DC-0001/readings", _batch([_reading(), slow_stray]), registry, now)
    assert len(fast.readings) == len(slow.readings) == 1
    assert fast.readings[0].time.tzinfo is UTC
    [dead_fast], [dead_slow] = fast.dead_letters, slow.dead_letters
    assert dead_fast.reason == dead_slow.reason
    assert dead_fast.reason.startswith("not_behind_concentrator: MTR-000002")
    written = MeterReading.model_validate_json(dead_fast.raw)
    assert written == MeterReading.model_validate(stray)
