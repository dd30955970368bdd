"""Modbus register maps of the field devices (shared by the bridge and the simulators).

Holding registers, big-endian 16-bit words; 32-bit values take two words, high
word first. ``scale`` divides the raw integer into the engineering unit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    unit: str
    scale: float = 1.0
    words: int = 1
    signed: bool = False


@dataclass(frozen=True)
class RegisterMap:
    model: str
    registers: tuple[Register, ...]
    # bit number -> event name, read from the "status" and "alarms" registers
    status_bits: dict[int, str]
    alarm_bits: dict[int, str]

    @property
    def span(self) -> int:
        return max(r.address + r.words for r in self.registers)

    def register(self, name: str) -> Register:
        return next(r for r in self.registers if r.name == name)


FEEDER_RTU = RegisterMap(
    model="feeder_rtu",
    registers=(
        Register("voltage_l1_v", 0, "V", 10),
        Register("voltage_l2_v", 1, "V", 10),
        Register("voltage_l3_v", 2, "V", 10),
        Register("current_l1_a", 3, "A", 10),
        Register("current_l2_a", 4, "A", 10),
        Register("current_l3_a", 5, "A", 10),
        Register("active_power_kw", 6, "kW", 1, words=2, signed=True),
        Register("status", 8, "bits"),
        Register("alarms", 9, "bits"),
    ),
    status_bits={0: "breaker_closed", 1: "recloser_lockout", 2: "remote_control"},
    alarm_bits={0: "overcurrent", 1: "earth_fault", 2: "undervoltage", 3: "fault_current"},
)

THREE_PHASE_METER = RegisterMap(
    model="three_phase_meter",
    registers=(
        Register("voltage_l1_v", 0, "V", 10),
        Register("voltage_l2_v", 1, "V", 10),
        Register("voltage_l3_v", 2, "V", 10),
        Register("current_l1_a", 3, "A", 100),
        Register("current_l2_a", 4, "A", 100),
        Register("current_l3_a", 5, "A", 100),
        Register("active_power_kw", 6, "kW", 100, words=2, signed=True),
        Register("energy_import_kwh", 8, "kWh", 10, words=2),
        Register("power_factor", 10, "", 1000, signed=True),
        Register("status", 11, "bits"),
        Register("alarms", 12, "bits"),
    ),
    status_bits={0: "supply_on"},
    alarm_bits={0: "overload", 1: "voltage_sag", 2: "voltage_swell", 3: "tamper"},
)

MAPS = {m.model: m for m in (FEEDER_RTU, THREE_PHASE_METER)}


def decode(regmap: RegisterMap, words: list[int]) -> dict[str, float]:
    """Raw holding-register words (from address 0) to engineering values."""
    out: dict[str, float] = {}
    for r in regmap.registers:
        raw = 0
        for w in words[r.address : r.address + r.words]:
            raw = (raw << 16) | (w & 0xFFFF)
        if r.signed and raw >= 1 << (16 * r.words - 1):
            raw -= 1 << (16 * r.words)
        out[r.name] = raw / r.scale if r.scale != 1 else float(raw)
    return out


def encode(regmap: RegisterMap, values: dict[str, float]) -> list[int]:
    """Engineering values to holding-register words (the simulators' side)."""
    words = [0] * regmap.span
    for r in regmap.registers:
        raw = int(round(values.get(r.name, 0) * r.scale))
        if raw < 0:
            raw += 1 << (16 * r.words)
        for i in range(r.words):
            words[r.address + i] = (raw >> (16 * (r.words - 1 - i))) & 0xFFFF
    return words
