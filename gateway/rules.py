"""Alarm rules declared as data, and their evaluation over a device's readings (pure).

A rule fires once when its condition starts to hold (edge-triggered) and again
only after the condition has cleared. Derived alarms get a deterministic
``event_id`` (rule name and reading time), so a replayed reading can never store
a second copy. No I/O here: the ingest loop feeds readings in, events come out.
"""

from __future__ import annotations

import math
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


def limits(rule: ThresholdRule, nominal: float) -> tuple[float, float]:
    """The rule's (low, high) bounds for a device of this nominal voltage."""
    scale = nominal if rule.of_nominal else 1.0
    low = rule.below * scale if rule.below is not None else -math.inf
    high = rule.above * scale if rule.above is not None else math.inf
    return low, high


def _weights(n: int) -> tuple[float, ...]:
    xm = (n - 1) / 2
    den = sum((i - xm) ** 2 for i in range(n))
    return tuple((i - xm) / den * (n - 1) for i in range(n))


def rise(values: Sequence[float]) -> float:
    """Least-squares slope times the span, relative to the mean (0 when flat or empty)."""
    n = len(values)
    total = sum(values)
    if n < 2 or total <= 0:
        return 0.0
    return sum(w * v for w, v in zip(_weights(n), values, strict=True)) * n / total


class Trend:
    """A sliding window with running sums, so each new sample costs O(1)."""

    __slots__ = ("size", "window", "total", "moment", "fired", "_den", "_xm")

    def __init__(self, size: int) -> None:
        self.size = size
        self.window: deque[float] = deque()
        self.total = 0.0
        self.moment = 0.0  # sum of index * value over the window
        self.fired = False
        self._xm = (size - 1) / 2
        self._den = size * (size * size - 1) / 12 / ((size - 1) * size)

    def push(self, value: float) -> float | None:
        """Add a sample; the window's :func:`rise` once it is full, else None."""
        window = self.window
        n = self.size
        if len(window) == n:
            oldest = window.popleft()
            self.moment += (n - 1) * value - (self.total - oldest)
            self.total += value - oldest
        else:
            self.moment += len(window) * value
            self.total += value
        window.append(value)
        total = self.total
        if len(window) < n or total <= 0:
            return None
        return (self.moment - self._xm * total) / self._den / total


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


class DeviceState:
    """One device's rule state: consecutive breaches and fired flags per threshold rule,
    a window per trend rule."""

    __slots__ = ("counts", "fired", "trends")

    def __init__(self, counts: list[int], fired: list[bool], trends: list[Trend]) -> None:
        self.counts, self.fired, self.trends = counts, fired, trends


@dataclass
class RuleEngine:
    """Evaluates rules over readings as they arrive (state lives in memory only).

    :meth:`feed` runs for every stored reading, so a reading that breaches nothing and
    clears nothing costs a comparison per rule and a push per trend window."""

    rules: tuple[ThresholdRule | TrendRule, ...] = RULES
    state: dict[str, DeviceState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.thresholds = [r for r in self.rules if isinstance(r, ThresholdRule)]
        self.trend_rules = [r for r in self.rules if isinstance(r, TrendRule)]
        self._index = {r.name: ReadingRow._fields.index(r.quantity) for r in self.rules}
        self._trend_index = [(r, self._index[r.name]) for r in self.trend_rules]
        self._limits: dict[float, list[tuple[int, ThresholdRule, int, float, float]]] = {}

    def _compiled(self, nominal: float) -> list[tuple[int, ThresholdRule, int, float, float]]:
        found = self._limits.get(nominal)
        if found is None:
            found = self._limits[nominal] = [
                (i, r, self._index[r.name], *limits(r, nominal))
                for i, r in enumerate(self.thresholds)
            ]
        return found

    def feed(self, reading: ReadingRow, nominal: float) -> list[EventRow]:
        st = self.state.get(reading.device_id)
        if st is None:
            st = self.state[reading.device_id] = DeviceState(
                [0] * len(self.thresholds),
                [False] * len(self.thresholds),
                [Trend(r.window) for r in self.trend_rules],
            )
        out: list[EventRow] = []
        counts = st.counts
        for i, rule, idx, low, high in self._compiled(nominal):
            value = reading[idx]
            if value is None:
                continue
            if low <= value <= high:
                if counts[i]:
                    counts[i] = 0
                    st.fired[i] = False
                continue
            counts[i] += 1
            if counts[i] >= rule.held and not st.fired[i]:
                st.fired[i] = True
                out.append(
                    alarm(reading.device_id, rule.name, rule.emits, reading.time, value=value)
                )
        for (rule, idx), trend in zip(self._trend_index, st.trends, strict=True):
            value = reading[idx]
            if value is None:
                continue
            r = trend.push(value)
            if r is None:
                continue
            if r >= rule.min_rise and not trend.fired:
                trend.fired = True
                out.append(
                    alarm(reading.device_id, rule.name, rule.emits, reading.time, rise=round(r, 3))
                )
            elif r < rule.min_rise / 2:
                trend.fired = False
        return out
