"""The deterministic message stream of meters, concentrators and fault indicators (pure).

Given a seed, a start time and a fault plan, it yields every MQTT message the devices
send, in delivery order, each with the device login that publishes it. It never reads
the wall clock and never touches a socket: the MQTT shell only paces and publishes.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from schemas.telemetry import (
    DeviceEvent,
    EventBatch,
    EventName,
    MeterReading,
    ReadingBatch,
    event,
    topic,
)
from simulators.grid import Fault, FaultPlan, Grid, dark_at
from simulators.readings import MeterTraits, sample, traits
from simulators.seeding import rng_for

BATCH_WINDOW_S = 1.0  # a concentrator relays the events of one second together


@dataclass(frozen=True, order=True)
class Message:
    """One publish: *at* seconds after the run's start, by the login *client*."""

    at: float
    seq: int
    client: str = field(compare=False)
    topic: str = field(compare=False)
    payload: bytes = field(compare=False)


@dataclass(frozen=True)
class RunSpec:
    seed: int
    start: datetime  # wall time of at = 0 (aware)
    interval_s: float = 60.0  # reading interval, wall seconds
    speed: float = 1.0  # scenario seconds per wall second (energy registers)
    batch: bool = False  # meters relay through their data concentrators
    skew: bool = False
    duration_s: float | None = None  # None: endless


@dataclass(frozen=True, order=True)
class _Item:
    """A device's message before event ids and batching: ordered by time."""

    at: float
    seq: int
    device_id: str = field(compare=False)
    model: object = field(compare=False)  # MeterReading, or an event to build
    concentrator_id: str = field(compare=False, default="")


@dataclass(frozen=True)
class _PendingEvent:
    name: EventName
    when: datetime
    details: dict
    fault: Fault | None = None  # the fault that caused it, if any


def pick_meters(grid: Grid, count: int) -> list:
    """*count* meters spread evenly over the whole territory (every section gets some)."""
    meters = grid.territory.meters
    count = max(0, min(count, len(meters)))
    if count == 0:
        return []
    step = len(meters) / count
    return [meters[int(i * step)] for i in range(count)]


def _dumps(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


class Timeline:
    """Builds the stream for one run. Iterate :meth:`messages` once.

    *faults* makes a fresh iterator of the same sorted faults each call: one walk decides
    who is dark when, another expands each fault into its events.
    """

    def __init__(
        self,
        spec: RunSpec,
        grid: Grid,
        meters: list,
        indicators: list[str],
        faults: Callable[[], Iterator[Fault]],
    ) -> None:
        self.spec = spec
        self.grid = grid
        self.traits = sorted(
            (traits(spec.seed, m, skew=spec.skew) for m in meters), key=lambda t: t.phase
        )
        self.by_id = {t.device_id: t for t in self.traits}
        self.indicators = set(indicators)
        self.sections_of_fci = {i: i.removeprefix("FCI-") for i in indicators}
        self.faults = faults
        self.plan = FaultPlan(faults())
        self._seq = itertools.count()
        self._event_no: dict[str, int] = {}
        self._epoch = int(spec.start.timestamp())

    # -- time -----------------------------------------------------------------
    def wall(self, at: float) -> datetime:
        return self.spec.start + timedelta(seconds=at)

    def device_time(self, device_id: str, at: float) -> datetime:
        t = self.by_id.get(device_id)
        return self.wall(at + (t.skew_s if t else 0.0))

    def _ended(self, at: float) -> bool:
        return self.spec.duration_s is not None and at >= self.spec.duration_s

    # -- sources --------------------------------------------------------------
    def _readings(self) -> Iterator[_Item]:
        spec = self.spec
        energy = {t.device_id: t.energy0_kwh for t in self.traits}
        hours = spec.interval_s * spec.speed / 3600
        dc_phase = {
            t.concentrator_id: rng_for(spec.seed, "dc-phase", t.concentrator_id).random()
            for t in self.traits
        }
        dcs = sorted(dc_phase, key=dc_phase.__getitem__)
        behind: dict[str, list[MeterTraits]] = {d: [] for d in dcs}
        for t in self.traits:
            behind[t.concentrator_id].append(t)
        if not self.traits:
            return
        for tick in itertools.count():
            base = tick * spec.interval_s
            if self._ended(base):
                return
            rng = rng_for(spec.seed, "readings", tick)
            self.plan.forget_before(base - 3600)
            active = [f for f in self.plan.until(base + spec.interval_s) if f.clear > base]
            if spec.batch:
                for dc in dcs:
                    at = base + dc_phase[dc] * spec.interval_s
                    for t in behind[dc]:
                        yield from self._one_reading(t, base, at, energy, hours, rng, active, dc)
            else:
                for t in self.traits:
                    at = base + t.phase * spec.interval_s
                    yield from self._one_reading(t, at, at, energy, hours, rng, active, "")

    def _one_reading(self, t, read_at, at, energy, hours, rng, active, dc) -> Iterator[_Item]:
        if dark_at(self.grid, active, t.section_id, read_at):
            return
        when = self.device_time(t.device_id, read_at)
        s = sample(t, when, energy[t.device_id], hours, rng)
        energy[t.device_id] = s.energy_kwh
        reading = MeterReading(device_id=t.device_id, time=when, values=s.values)
        yield _Item(at, next(self._seq), t.device_id, reading, dc)
        for name, details in s.events:
            yield _Item(at, next(self._seq), t.device_id, _PendingEvent(name, when, details), dc)

    def _fault_events(self) -> Iterator[_Item]:
        heap: list[_Item] = []
        for f in self.faults():
            if self._ended(f.start):
                break
            while heap and heap[0].at <= f.start:
                yield heapq.heappop(heap)
            self.plan.forget_before(f.start - 3600)
            for item in self._expand(f):
                heapq.heappush(heap, item)
        while heap:
            item = heapq.heappop(heap)
            if not self._ended(item.at):
                yield item

    def _expand(self, f: Fault) -> Iterable[_Item]:
        rng = rng_for(self.spec.seed, "fault", f.section_id, round(f.start, 3))
        for m in self.grid.meters_losing_power(f.section_id):
            t = self.by_id.get(m.id)
            if t is None:
                continue
            dc = t.concentrator_id if self.spec.batch else ""
            if not f.silent:
                at = f.start + rng.uniform(0.2, 4.0)
                ev = _PendingEvent(EventName.last_gasp, self.device_time(m.id, at), {}, f)
                yield _Item(at, next(self._seq), m.id, ev, dc)
            at = f.clear + rng.uniform(0.5, 6.0)
            ev = _PendingEvent(EventName.power_up, self.device_time(m.id, at), {}, f)
            yield _Item(at, next(self._seq), m.id, ev, dc)
        if f.silent:
            return
        for fci in self.grid.indicators_tripped(f.section_id):
            if fci not in self.indicators:
                continue
            at = f.start + rng.uniform(0.02, 0.5)
            details = {"peak_current_a": round(rng.uniform(800, 4000), 1)}
            ev = _PendingEvent(EventName.fault_current, self.wall(at), details, f)
            yield _Item(at, next(self._seq), fci, ev)
            at = f.clear + rng.uniform(1.0, 5.0)
            ev = _PendingEvent(EventName.fci_reset, self.wall(at), {}, f)
            yield _Item(at, next(self._seq), fci, ev)

    # -- filters and assembly -------------------------------------------------
    def _still_relevant(self, item: _Item) -> bool:
        """Drop a last gasp of a meter already dark from another fault, a power-up or
        reset while another fault still holds it."""
        ev = item.model
        if not isinstance(ev, _PendingEvent) or ev.fault is None:
            return True
        f = ev.fault
        others = [g for g in self.plan.until(item.at) if g != f]
        when = f.start if ev.name in (EventName.last_gasp, EventName.fault_current) else item.at
        fci_section = self.sections_of_fci.get(item.device_id)
        if fci_section is not None:
            return not any(
                g.active(when)
                and not g.silent
                and self.grid.is_fed_through(g.section_id, fci_section)
                for g in others
            )
        return not dark_at(self.grid, others, self.by_id[item.device_id].section_id, when)

    def _build(self, item: _Item) -> BaseModel:
        ev = item.model
        if not isinstance(ev, _PendingEvent):
            return ev  # a reading
        n = self._event_no.get(item.device_id, 0) + 1
        self._event_no[item.device_id] = n
        return event(
            item.device_id, str(self._epoch * 1_000_000 + n), ev.when, ev.name, **ev.details
        )

    def messages(self) -> Iterator[Message]:
        items = heapq.merge(self._readings(), self._fault_events())
        built = ((i, self._build(i)) for i in items if self._still_relevant(i))
        if not self.spec.batch:
            for item, model in built:
                kind = "readings" if isinstance(model, MeterReading) else "events"
                yield Message(
                    item.at, item.seq, item.device_id, topic(item.device_id, kind), _dumps(model)
                )
            return
        yield from self._batched(built)

    def _batched(self, built: Iterator[tuple[_Item, BaseModel]]) -> Iterator[Message]:
        """Concentrators: a tick's readings in one ReadingBatch, a second's events in one
        EventBatch; indicators publish for themselves."""
        readings: dict[str, tuple[float, list[MeterReading]]] = {}
        events: dict[str, tuple[float, list[DeviceEvent]]] = {}
        out: list[Message] = []

        def flush(now: float | None) -> Iterator[Message]:
            for dc, (at, batch) in list(readings.items()):
                if now is None or now > at:
                    del readings[dc]
                    payload = _dumps(ReadingBatch(concentrator_id=dc, readings=batch))
                    out.append(Message(at, next(self._seq), dc, topic(dc, "readings"), payload))
            for dc, (at, batch) in list(events.items()):
                if now is None or now >= at:
                    del events[dc]
                    payload = _dumps(EventBatch(concentrator_id=dc, events=batch))
                    out.append(Message(at, next(self._seq), dc, topic(dc, "events"), payload))
            out.sort()
            yield from out
            out.clear()

        for item, model in built:
            yield from flush(item.at)
            dc = item.concentrator_id
            if not dc:
                yield Message(
                    item.at,
                    item.seq,
                    item.device_id,
                    topic(item.device_id, "events"),
                    _dumps(model),
                )
            elif isinstance(model, MeterReading):
                at, batch = readings.setdefault(dc, (item.at, []))
                batch.append(model)
            else:
                at, batch = events.setdefault(dc, (item.at + BATCH_WINDOW_S, []))
                batch.append(model)
        yield from flush(None)
