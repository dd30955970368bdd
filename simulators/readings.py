"""What a smart meter measures (pure): voltage, daily load, power factor, the energy register.

Each meter has fixed traits drawn from the seed and its id (profile, size, power factor,
distance from its transformer, clock skew); one sample per reading interval. Random
power-quality events (sag, swell, overload, tamper) come with the reading that shows them.
No I/O and no wall clock here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from schemas.telemetry import EventName, Values
from simulators.demo.territory import Device
from simulators.seeding import rng_for

NOMINAL_V = 230.0
LOCAL = timezone(timedelta(hours=8))  # Asia/Shanghai, no daylight saving
SAG_V, SWELL_V = 0.9 * NOMINAL_V, 1.1 * NOMINAL_V
# Chance per reading of a power-quality event.
EVENT_RATES = {
    EventName.voltage_sag: 0.002,
    EventName.voltage_swell: 0.001,
    EventName.overload: 0.001,
    EventName.tamper: 0.0002,
}


@dataclass(frozen=True)
class MeterTraits:
    device_id: str
    concentrator_id: str
    section_id: str
    profile: str  # residential or commercial
    scale_kw: float  # mean load
    breaker_kw: float  # overload threshold
    power_factor: float
    voltage_offset_v: float  # drop along the low-voltage line
    energy0_kwh: float
    phase: float  # when in the interval it publishes (0..1)
    skew_s: float  # its clock's error


def traits(seed: int, meter: Device, *, skew: bool = False) -> MeterTraits:
    rng = rng_for(seed, "meter", meter.id)
    profile = meter.config.get("profile", "residential")
    commercial = profile == "commercial"
    scale = rng.lognormvariate(math.log(3.5 if commercial else 0.7), 0.35)
    skew_s = 0.0
    if skew:
        r = rng.random()
        if r < 0.02:
            skew_s = rng.choice((-1, 1)) * rng.uniform(600, 7200)  # a clock off by hours
        elif r < 0.2:
            skew_s = rng.gauss(0, 45)
    return MeterTraits(
        device_id=meter.id,
        concentrator_id=meter.concentrator_id or "",
        section_id=meter.section_id or "",
        profile=profile,
        scale_kw=scale,
        breaker_kw=(25.0 if commercial else 8.0),
        power_factor=min(0.99, rng.gauss(0.88 if commercial else 0.95, 0.02)),
        voltage_offset_v=-abs(rng.gauss(0, 3.0)),
        energy0_kwh=rng.uniform(500, 30_000),
        phase=rng.random(),
        skew_s=skew_s,
    )


def _bump(hour: float, centre: float, width: float) -> float:
    d = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def load_factor(profile: str, when: datetime) -> float:
    """The daily load shape, about 1.0 on average: residential peaks morning and evening,
    commercial follows opening hours."""
    local = when.astimezone(LOCAL)
    hour = local.hour + local.minute / 60 + local.second / 3600
    if profile == "commercial":
        opening = 1 / (1 + math.exp(-(hour - 8.5) * 2)) - 1 / (1 + math.exp(-(hour - 18.5) * 2))
        return 0.3 + 1.45 * opening
    return (
        0.45
        + 0.7 * _bump(hour, 7.5, 1.2)
        + 1.5 * _bump(hour, 19.5, 1.8)
        + 0.2 * _bump(hour, 13, 2.5)
    )


@dataclass(frozen=True)
class Sample:
    values: Values
    energy_kwh: float  # the register after this reading
    events: tuple[tuple[EventName, dict[str, float | str]], ...]


def sample(
    t: MeterTraits, when: datetime, energy_kwh: float, hours_since_last: float, rng: random.Random
) -> Sample:
    """One reading at *when*; the register grows by the energy used since the last one."""
    voltage = NOMINAL_V + t.voltage_offset_v + rng.gauss(0, 1.2)
    power = max(0.02, t.scale_kw * load_factor(t.profile, when) * rng.lognormvariate(0, 0.15))
    events: list[tuple[EventName, dict[str, float | str]]] = []
    for name, rate in EVENT_RATES.items():
        if rng.random() >= rate:
            continue
        if name is EventName.voltage_sag:
            voltage = rng.uniform(185, SAG_V - 2)
            events.append((name, {"voltage_v": round(voltage, 1)}))
        elif name is EventName.voltage_swell:
            voltage = rng.uniform(SWELL_V + 2, 265)
            events.append((name, {"voltage_v": round(voltage, 1)}))
        elif name is EventName.overload:
            power = t.breaker_kw * rng.uniform(1.05, 1.4)
            events.append((name, {"active_power_kw": round(power, 3), "limit_kw": t.breaker_kw}))
        else:
            events.append((name, {"cause": rng.choice(("cover_open", "magnetic_field"))}))
    pf = min(1.0, max(0.5, t.power_factor + rng.gauss(0, 0.01)))
    current = power * 1000 / (voltage * pf)
    energy = energy_kwh + power * max(0.0, hours_since_last)
    values = Values(
        voltage_v=round(voltage, 1),
        current_a=round(current, 2),
        active_power_kw=round(power, 3),
        energy_import_kwh=round(energy, 3),
        power_factor=round(pf, 3),
    )
    return Sample(values, energy, tuple(events))
