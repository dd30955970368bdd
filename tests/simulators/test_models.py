"""The pure core: readings are plausible, runs are deterministic, faults follow the topology,
batches and delivery defects are what they claim."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from gridcrew.config import get_settings
from schemas.telemetry import (
    EVENT_CODES,
    DeviceEvent,
    EventBatch,
    EventName,
    MeterReading,
    ReadingBatch,
)
from simulators.defects import MALFORMED_KINDS, Defects, apply
from simulators.grid import Fault, Grid, territory
from simulators.readings import load_factor
from simulators.timeline import RunSpec, Timeline, pick_meters

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
TOPIC_MODELS = {"readings": (MeterReading, ReadingBatch), "events": (DeviceEvent, EventBatch)}


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid(territory(1))


def run(grid, *, count=300, faults=(), batch=False, skew=False, seed=7, duration=600.0, **kw):
    spec = RunSpec(seed, START, 60.0, batch=batch, skew=skew, duration_s=duration)
    fcis = [d.id for d in grid.territory.indicators]
    tl = Timeline(spec, grid, pick_meters(grid, count), fcis, lambda: iter(list(faults)))
    return list(apply(tl.messages(), Defects(**kw), seed))


def parse(msg):
    """What the gateway must do first: the topic's payload kinds, strictly."""
    kind = msg.topic.rsplit("/", 1)[1]
    errors = []
    for model in TOPIC_MODELS[kind]:
        try:
            return model.model_validate_json(msg.payload)
        except ValidationError as exc:
            errors.append(exc)
    raise errors[0]


def events_of(messages):
    out = []
    for m in messages:
        p = parse(m)
        out += p.events if isinstance(p, EventBatch) else [p] if isinstance(p, DeviceEvent) else []
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(grid):
    faults = [Fault("F2-S3", 100, 300)]
    kw = dict(faults=faults, skew=True, duplicates=0.05, out_of_order=0.05, malformed=0.05)
    a, b = run(grid, **kw), run(grid, **kw)
    assert [(m.at, m.client, m.topic, m.payload) for m in a] == [
        (m.at, m.client, m.topic, m.payload) for m in b
    ]
    c = run(grid, **{**kw}, seed=8)
    assert [m.payload for m in a] != [m.payload for m in c]


def test_readings_are_plausible(grid):
    msgs = run(grid, count=500, duration=3600 * 3)
    readings = [parse(m) for m in msgs if m.topic.endswith("/readings")]
    assert len(readings) == 500 * 180
    volts = [r.values.voltage_v for r in readings]
    assert 225 < sum(volts) / len(volts) < 232
    assert sum(1 for v in volts if 207 <= v <= 253) / len(volts) > 0.99
    by_meter: dict[str, list] = {}
    for r in readings:
        by_meter.setdefault(r.device_id, []).append(r)
        v = r.values
        assert 0.5 <= v.power_factor <= 1
        assert math.isclose(
            v.current_a,
            v.active_power_kw * 1000 / (v.voltage_v * v.power_factor),
            rel_tol=0.02,
            abs_tol=0.02,
        )
    for series in by_meter.values():
        energy = [r.values.energy_import_kwh for r in series]
        assert energy == sorted(energy) and energy[-1] > energy[0]
        times = [r.time for r in series]
        assert times == sorted(times)


def test_daily_profiles():
    def at(hour: int) -> datetime:
        return datetime(2026, 12, 1, hour, tzinfo=UTC) - timedelta(hours=8)  # local hour

    assert load_factor("residential", at(20)) > 2 * load_factor("residential", at(3))
    assert load_factor("commercial", at(12)) > 3 * load_factor("commercial", at(23))
    day = [load_factor("residential", at(h)) for h in range(24)]
    assert 0.6 < sum(day) / 24 < 1.4


def test_fault_darkens_downstream_meters_and_trips_upstream_indicators(grid):
    fault = Fault("F4-S2", 120.0, 400.0)
    msgs = run(grid, count=1000, faults=[fault], duration=900)
    downstream = {"F4-S2", "F4-S3", "F4-S4", "F4-S5", "F4-S6"}
    meters = {m.id: m for m in grid.territory.meters}
    events = events_of(msgs)
    gasps = [e for e in events if e.name == EventName.last_gasp]
    ups = [e for e in events if e.name == EventName.power_up]
    chosen = {m.id for m in pick_meters(grid, 1000)}
    expected = {m.id for m in grid.meters_losing_power("F4-S2")} & chosen
    assert {e.device_id for e in gasps} == expected == {e.device_id for e in ups}
    assert {meters[i].section_id for i in expected} == downstream
    for e in gasps:
        assert timedelta(0) < e.time - (START + timedelta(seconds=120)) < timedelta(seconds=5)
        assert e.code == EVENT_CODES[EventName.last_gasp]
    tripped = {e.device_id for e in events if e.name == EventName.fault_current}
    assert tripped == {"FCI-F4-S1", "FCI-F4-S2"}
    assert {e.device_id for e in events if e.name == EventName.fci_reset} == tripped
    dark_window = (START + timedelta(seconds=125), START + timedelta(seconds=400))
    for m in msgs:
        if m.topic.endswith("/readings"):
            r = parse(m)
            if dark_window[0] <= r.time < dark_window[1]:
                assert r.device_id not in expected, "a dark meter kept reading"


def test_silent_fault_sends_no_alarms_and_overlaps_are_not_repeated(grid):
    silent = run(grid, faults=[Fault("F1-S4", 60, 200, silent=True)])
    names = Counter(
        e.name
        for e in events_of(silent)
        if e.name in (EventName.last_gasp, EventName.fault_current, EventName.power_up)
    )
    assert names[EventName.last_gasp] == names[EventName.fault_current] == 0
    assert names[EventName.power_up] > 0
    nested = run(grid, faults=[Fault("F1-S2", 60, 300), Fault("F1-S3", 100, 200)])
    per_meter = Counter((e.device_id, e.name) for e in events_of(nested))
    assert per_meter and all(
        n == 1
        for (_, name), n in per_meter.items()
        if name in (EventName.last_gasp, EventName.power_up)
    )


def test_concentrator_batches_carry_their_own_meters(grid):
    msgs = run(grid, count=1000, batch=True, faults=[Fault("F3-S5", 30, 90)], duration=300)
    meters = {m.id: m for m in grid.territory.meters}
    batches = 0
    for m in msgs:
        p = parse(m)
        if isinstance(p, ReadingBatch | EventBatch):
            batches += 1
            assert m.client == p.concentrator_id and m.topic.startswith(f"devices/{m.client}/")
            items = p.readings if isinstance(p, ReadingBatch) else p.events
            assert {meters[i.device_id].concentrator_id for i in items} == {m.client}
        else:
            assert m.client.startswith("FCI-")
    assert batches and any(isinstance(parse(m), EventBatch) for m in msgs)


def test_skew_moves_some_clocks(grid):
    msgs = run(grid, count=500, skew=True, duration=60)
    offsets = [
        (parse(m).time - START - timedelta(seconds=m.at)).total_seconds()
        for m in msgs
        if m.topic.endswith("/readings")
    ]
    assert sum(1 for o in offsets if abs(o) > 1) > 25
    assert any(abs(o) > 600 for o in offsets)
    assert sum(1 for o in offsets if abs(o) < 1e-3) > 300


def test_duplicates_and_out_of_order(grid):
    clean = run(grid, duration=600)
    dup = run(grid, duration=600, duplicates=0.1)
    assert 0.07 < (len(dup) - len(clean)) / len(clean) < 0.13
    assert Counter(m.payload for m in dup).most_common(1)[0][1] == 2
    late = run(grid, duration=600, out_of_order=0.1, max_delay_s=150)
    assert Counter(m.payload for m in late) == Counter(m.payload for m in clean)
    assert [m.at for m in late] == sorted(m.at for m in late)  # delivery order
    per_device_inversions = 0
    last: dict[str, datetime] = {}
    for m in late:
        r = parse(m)
        if isinstance(r, MeterReading):
            if r.device_id in last and r.time < last[r.device_id]:
                per_device_inversions += 1
            last[r.device_id] = max(r.time, last.get(r.device_id, r.time))
    assert per_device_inversions > 10


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_breaks_a_gateway_rule(grid, kind):
    s = get_settings()
    faults = [Fault("F2-S2", 30, 200)]
    msgs = run(grid, count=50, faults=faults, duration=300, malformed=1.0, kinds=(kind,))
    assert msgs
    for m in msgs:
        assert m.topic.startswith(f"devices/{m.client}/")
        if kind == "oversize":
            assert len(m.payload) > s.gateway_max_payload_bytes
            continue
        if kind == "bad_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(m.payload)
            continue
        if kind == "future":
            p = parse(m)
            items = getattr(p, "readings", None) or getattr(p, "events", None) or [p]
            for i in items:
                assert i.time > START + timedelta(seconds=m.at + s.gateway_max_future_s)
            continue
        with pytest.raises(ValidationError):
            parse(m)
