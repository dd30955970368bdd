"""What the storm's devices say, built with the simulators' models (pure).

Faults follow ``simulators.grid`` (who goes dark, which indicators trip); readings come
from ``simulators.readings``; every message is published by the device that would send
it: a meter's readings and events through its data concentrator ``DC-nnn``, a fault
indicator ``FCI-<section>`` for itself. No I/O here.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel

from schemas.telemetry import EventBatch, EventName, MeterReading, ReadingBatch, event, topic
from simulators.demo.territory import Device
from simulators.grid import Grid, territory
from simulators.readings import sample, traits
from simulators.seeding import rng_for
from simulators.timeline import pick_meters

GRID = Grid(territory(1))
Message = tuple[str, str, bytes]  # login, topic, payload


def dumps(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


class Fleet:
    """Event ids unique per device and run (like the simulators: start epoch × 10⁶ + n)."""

    def __init__(self, start: datetime, seed: int = 1) -> None:
        self.seed = seed
        self.epoch = int(start.timestamp())
        self.numbers: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))
        self.energy: dict[str, float] = {}

    def event_id(self, device_id: str) -> str:
        return str(self.epoch * 1_000_000 + next(self.numbers[device_id]))

    def readings(self, meters: list[Device], when: datetime, tick: int) -> list[Message]:
        """One reading per meter, batched per concentrator."""
        rng = rng_for(self.seed, "e2e-readings", tick)
        by_dc: dict[str, list[MeterReading]] = defaultdict(list)
        for m in meters:
            t = traits(self.seed, m)
            s = sample(t, when, self.energy.get(m.id, t.energy0_kwh), 0.25, rng)
            self.energy[m.id] = s.energy_kwh
            by_dc[t.concentrator_id].append(
                MeterReading(device_id=m.id, time=when, values=s.values)
            )
        return [
            (dc, topic(dc, "readings"), dumps(ReadingBatch(concentrator_id=dc, readings=rs)))
            for dc, rs in sorted(by_dc.items())
        ]

    def meter_events(self, meters: list[Device], name: EventName, when: datetime) -> list[Message]:
        by_dc: dict[str, list] = defaultdict(list)
        for m in meters:
            assert m.concentrator_id is not None
            by_dc[m.concentrator_id].append(event(m.id, self.event_id(m.id), when, name))
        return [
            (dc, topic(dc, "events"), dumps(EventBatch(concentrator_id=dc, events=evs)))
            for dc, evs in sorted(by_dc.items())
        ]

    def indicator_events(
        self, section_id: str, name: EventName, when: datetime, **details: float
    ) -> list[Message]:
        return [
            (
                fci,
                topic(fci, "events"),
                dumps(event(fci, self.event_id(fci), when, name, **details)),
            )
            for fci in GRID.indicators_tripped(section_id)
        ]

    def fault(self, section_id: str, when: datetime) -> list[Message]:
        """Fault current seen by the indicators up to the fault, last gasps of every meter
        fed through the section."""
        return self.indicator_events(
            section_id, EventName.fault_current, when, peak_current_a=2400.0
        ) + self.meter_events(GRID.meters_losing_power(section_id), EventName.last_gasp, when)

    def restore(self, section_id: str, when: datetime) -> list[Message]:
        """Supply back: every dark meter says power_up, the indicators reset."""
        return self.meter_events(
            GRID.meters_losing_power(section_id), EventName.power_up, when
        ) + self.indicator_events(section_id, EventName.fci_reset, when)


def sample_meters(faulted: list[str], count: int) -> list[Device]:
    """*count* meters spread over the territory plus a few on each faulted section."""
    chosen = {m.id: m for m in pick_meters(GRID, count)}
    for section in faulted:
        for m in GRID.meters_by_section[section][:10]:
            chosen[m.id] = m
    return sorted(chosen.values(), key=lambda m: m.id)


def logins_for(meters: list[Device], faulted: list[str]) -> list[str]:
    """The concentrators and indicators the storm publishes as."""
    dcs = {m.concentrator_id for m in meters}
    for section in faulted:
        dcs.update(m.concentrator_id for m in GRID.meters_losing_power(section))
    fcis = {f for section in faulted for f in GRID.indicators_tripped(section)}
    return sorted(d for d in dcs if d) + sorted(fcis)
