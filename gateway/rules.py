"""Alarm rules declared as data, and their evaluation over a device's readings (pure).

A rule fires once when its condition starts to hold (edge-triggered) and again
only after the condition has cleared. Derived alarms get a deterministic
``event_id`` (rule name and reading time), so a replayed reading can never store
a second copy. No I/O here: the ingest loop feeds readings in, events come out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.decode import EventRow, ReadingRow
from schemas.telemetry import EVENT_CODES, SEVERITY, EventName

CURRENT_RISING = "current_rising"
"""Derived alarm of the trend rule: line current keeps climbing (an ageing line)."""
CURRENT_RISING_CODE = "1.26.66.216"  # local, same 4-part shape as the IEC 61968-9 codes

# Events that matter to outage correlation.
POWER_DOWN = frozenset({EventName.last_gasp.value, EventName.power_down.value})
POWER_UP = frozenset({EventName.power_up.value})
FCI_TRIP = frozenset({EventName.fault_current.value})
FCI_RESET = frozenset({EventName.fci_reset.value})
OUTAGE_EVENTS = POWER_DOWN | POWER_UP | FCI_TRIP | FCI_RESET


@dataclass(frozen=True)
class ThresholdRule:
    """``quantity`` beyond a limit for ``held`` consecutive samples.

    Limits are fractions of the device's nominal voltage when ``of_nominal``,
    otherwise absolute values in the quantity's unit.
    """

    name: str
    quantity: str
    emits: str
    below: float | None = None
    above: float | None = None
    of_nominal: bool = False
    held: int = 3


@dataclass(frozen=True)
class TrendRule:
    """The least-squares rise of ``quantity`` over the last ``window`` samples, as a
    fraction of their mean, reaches ``min_rise``."""

    name: str
    quantity: str
    emits: str
    window: int = 12
    min_rise: float = 0.3


RULES: tuple[ThresholdRule | TrendRule, ...] = (
    ThresholdRule(
        "under_voltage", "voltage_v", EventName.voltage_sag.value, below=0.9, of_nominal=True
    ),
    ThresholdRule(
        "over_voltage", "voltage_v", EventName.voltage_swell.value, above=1.1, of_nominal=True
    ),
    ThresholdRule("overload", "current_a", EventName.overload.value, above=60.0),
    TrendRule("rising_current", "current_a", CURRENT_RISING),
)


def breaches(rule: ThresholdRule, value: float, nominal: float) -> bool:
    scale = nominal if rule.of_nominal else 1.0
    if rule.below is not None and value < rule.below * scale:
        return True
    return rule.above is not None and value > rule.above * scale


def _weights(n: int) -> tuple[float, ...]:
    xm = (n - 1) / 2
    den = sum((i - xm) ** 2 for i in range(n))
    return tuple((i - xm) / den * (n - 1) for i in range(n))


_WEIGHTS = {n: _weights(n) for n in range(2, 65)}


def rise(values: Sequence[float]) -> float:
    """Least-squares slope times the span, relative to the mean (0 when flat or empty)."""
    n = len(values)
    total = sum(values)
    if n < 2 or total <= 0:
        return 0.0
    weights = _WEIGHTS.get(n) or _weights(n)
    return sum(w * v for w, v in zip(weights, values, strict=True)) * n / total


def alarm(device_id: str, rule_name: str, emits: str, time: datetime, **details) -> EventRow:
    """A derived alarm; its id makes a replay of the same reading a no-op."""
    return EventRow(
        time,
        device_id,
        f"rule:{rule_name}:{time.isoformat()}",
        EVENT_CODES.get(emits, CURRENT_RISING_CODE),  # type: ignore[call-overload]
        emits,
        SEVERITY.get(emits, "warning"),  # type: ignore[call-overload]
        {"rule": rule_name, **details},
    )


@dataclass
class RuleState:
    """Per device and rule: consecutive breaches, recent samples, and whether it fired."""

    count: int = 0
    fired: bool = False
    window: deque = field(default_factory=deque)


@dataclass
class RuleEngine:
    """Evaluates :data:`RULES` over readings as they arrive (state lives in memory only)."""

    rules: tuple[ThresholdRule | TrendRule, ...] = RULES
    state: dict[str, list[RuleState]] = field(default_factory=dict)

    def feed(self, reading: ReadingRow, nominal: float) -> list[EventRow]:
        states = self.state.get(reading.device_id)
        if states is None:
            states = self.state[reading.device_id] = [RuleState() for _ in self.rules]
        out: list[EventRow] = []
        for rule, st in zip(self.rules, states, strict=True):
            value = getattr(reading, rule.quantity)
            if value is None:
                continue
            if isinstance(rule, ThresholdRule):
                st.count = st.count + 1 if breaches(rule, value, nominal) else 0
                if st.count >= rule.held and not st.fired:
                    st.fired = True
                    out.append(
                        alarm(reading.device_id, rule.name, rule.emits, reading.time, value=value)
                    )
                elif st.count == 0:
                    st.fired = False
                continue
            st.window.append(value)
            if len(st.window) > rule.window:
                st.window.popleft()
            if len(st.window) < rule.window:
                continue
            r = rise(st.window)
            if r >= rule.min_rise and not st.fired:
                st.fired = True
                out.append(
                    alarm(reading.device_id, rule.name, rule.emits, reading.time, rise=round(r, 3))
                )
            elif r < rule.min_rise / 2:
                st.fired = False
        return out
