"""Alarm rules declared as data, and their evaluation over a device's readings (pure).

A rule fires once when its condition starts to hold (edge-triggered) and again
only after the condition has cleared. Derived alarms get a deterministic
``event_id`` (rule name and reading time), so a replayed reading can never store
a second copy. No I/O here: the ingest loop feeds readings in, events come out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

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


class _Threshold:
    """Per-device state of a :class:`ThresholdRule`: consecutive breaches, fired flag."""

    def __init__(self, rule: ThresholdRule, capacity: int) -> None:
        self.rule = rule
        self.column = ReadingRow._fields.index(rule.quantity)
        self.counts = np.zeros(capacity, np.int64)
        self.fired = np.zeros(capacity, bool)

    def grow(self, capacity: int) -> None:
        self.counts = _grown(self.counts, capacity)
        self.fired = _grown(self.fired, capacity)

    def step(self, slots: np.ndarray, values: np.ndarray, nominal: np.ndarray) -> np.ndarray:
        """One reading per slot; which of them fire."""
        rule = self.rule
        scale = nominal if rule.of_nominal else 1.0
        present = ~np.isnan(values)
        breach = np.zeros(len(values), bool)
        if rule.below is not None:
            breach |= values < rule.below * scale
        if rule.above is not None:
            breach |= values > rule.above * scale
        clear = present & ~breach
        counts = np.where(breach, self.counts[slots] + 1, np.where(clear, 0, self.counts[slots]))
        was = self.fired[slots]
        fire = breach & (counts >= rule.held) & ~was
        self.counts[slots] = counts
        self.fired[slots] = (was | fire) & ~clear
        return fire


class _Trend:
    """Per-device sliding windows of a :class:`TrendRule` with running sums (the total
    and the index-weighted moment), so each new sample costs O(1)."""

    def __init__(self, rule: TrendRule, capacity: int) -> None:
        n = rule.window
        self.rule = rule
        self.column = ReadingRow._fields.index(rule.quantity)
        self.window = np.zeros((capacity, n))
        self.length = np.zeros(capacity, np.int64)
        self.head = np.zeros(capacity, np.int64)  # where the oldest sample is
        self.total = np.zeros(capacity)
        self.moment = np.zeros(capacity)
        self.fired = np.zeros(capacity, bool)
        self._xm = (n - 1) / 2
        self._den = n * (n * n - 1) / 12 / ((n - 1) * n)

    def grow(self, capacity: int) -> None:
        for name in ("window", "length", "head", "total", "moment", "fired"):
            setattr(self, name, _grown(getattr(self, name), capacity))

    def step(self, slots: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One reading per slot; which of them fire, and every slot's rise (NaN while
        its window is not full)."""
        rule, n = self.rule, self.rule.window
        present = ~np.isnan(values)
        slots, v = slots[present], values[present]
        length, head = self.length[slots], self.head[slots]
        total, moment = self.total[slots], self.moment[slots]
        full = length == n
        oldest = self.window[slots, head]
        moment = np.where(full, moment + ((n - 1) * v - (total - oldest)), moment + length * v)
        total = np.where(full, total + v - oldest, total + v)
        self.window[slots, (head + length) % n] = v
        self.head[slots] = np.where(full, (head + 1) % n, head)
        length = np.minimum(length + 1, n)
        self.length[slots], self.total[slots], self.moment[slots] = length, total, moment
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(
                (length == n) & (total > 0), (moment - self._xm * total) / self._den / total, np.nan
            )
        was = self.fired[slots]
        fire = (r >= rule.min_rise) & ~was
        self.fired[slots] = (was | fire) & ~(r < rule.min_rise / 2)
        fire_all = np.zeros(len(values), bool)
        fire_all[present] = fire
        rise_all = np.full(len(values), np.nan)
        rise_all[present] = r
        return fire_all, rise_all


def _grown(a: np.ndarray, capacity: int, fill: float = 0) -> np.ndarray:
    out = np.full((capacity, *a.shape[1:]), fill, a.dtype)
    out[: len(a)] = a
    return out


class RuleEngine:
    """Evaluates rules over readings as they arrive (state lives in memory only).

    The state is columnar (a slot per device in NumPy arrays) and :meth:`feed_many`
    evaluates a whole batch of readings with array operations: the rules run for every
    stored reading, and one Python step per reading and rule was a quarter of the
    gateway's CPU time. Readings of one device are applied in their order."""

    def __init__(self, rules: tuple[ThresholdRule | TrendRule, ...] = RULES) -> None:
        self.rules = rules
        self.slots: dict[str, int] = {}
        self._capacity = 1024
        self._thresholds = [
            _Threshold(r, self._capacity) for r in rules if isinstance(r, ThresholdRule)
        ]
        self._trends = [_Trend(r, self._capacity) for r in rules if isinstance(r, TrendRule)]
        self._nominal = np.full(self._capacity, np.nan)
        self._order = [*(t.rule for t in self._thresholds), *(tr.rule for tr in self._trends)]
        """The rules in evaluation order: thresholds, then trends (the order alarms of one
        reading come out in)."""

    def feed(self, reading: ReadingRow, nominal: float) -> list[EventRow]:
        """The alarms one reading raises."""
        return self.feed_many([reading], lambda _: nominal)

    def feed_many(
        self, readings: Sequence[ReadingRow], nominal_of: Callable[[str], float]
    ) -> list[EventRow]:
        """The alarms a sequence of readings raises, in reading order. *nominal_of* gives
        a device's nominal voltage; it is asked once per device and remembered until
        :meth:`forget_nominals`."""
        if not readings:
            return []
        slots, unique = self._slots(readings, nominal_of)
        nominal = self._nominal[slots]
        columns: dict[int, np.ndarray] = {}
        for r in (*self._thresholds, *self._trends):
            if r.column not in columns:
                columns[r.column] = np.array([x[r.column] for x in readings], float)
        fired: list[tuple[int, int, float]] = []  # (reading, rule order, value or rise)
        for rows in [np.arange(len(slots))] if unique else _rounds(slots):
            s = slots[rows]
            order = 0
            for t in self._thresholds:
                values = columns[t.column][rows]
                for i in np.flatnonzero(t.step(s, values, nominal[rows])):
                    fired.append((int(rows[i]), order, float(values[i])))
                order += 1
            for tr in self._trends:
                fire, r = tr.step(s, columns[tr.column][rows])
                for i in np.flatnonzero(fire):
                    fired.append((int(rows[i]), order, round(float(r[i]), 3)))
                order += 1
        fired.sort()
        out = []
        for i, order, x in fired:
            rule, reading = self._order[order], readings[i]
            detail = {"rise": x} if isinstance(rule, TrendRule) else {"value": x}
            out.append(alarm(reading.device_id, rule.name, rule.emits, reading.time, **detail))
        return out

    def forget_nominals(self) -> None:
        """Ask for every device's nominal voltage again (the registry was reloaded)."""
        self._nominal[:] = np.nan

    def _slots(
        self, readings: Sequence[ReadingRow], nominal_of: Callable[[str], float]
    ) -> tuple[np.ndarray, bool]:
        """Each reading's device slot, and whether no slot repeats."""
        known = self.slots
        get = known.get
        slots = [get(r.device_id, -1) for r in readings]
        if -1 in slots:
            for i, r in enumerate(readings):
                if slots[i] == -1:
                    slots[i] = known.setdefault(r.device_id, len(known))
            if len(known) > self._capacity:
                self._capacity = max(len(known), 2 * self._capacity)
                self._nominal = _grown(self._nominal, self._capacity, np.nan)
                for st in (*self._thresholds, *self._trends):
                    st.grow(self._capacity)
        out = np.array(slots, np.int64)
        missing = np.flatnonzero(np.isnan(self._nominal[out]))
        for i in missing:
            self._nominal[out[i]] = nominal_of(readings[i].device_id)
        return out, len(set(slots)) == len(slots)


def _rounds(slots: np.ndarray) -> list[np.ndarray]:
    """Row indices split so that no slot repeats within a round and a slot's readings
    keep their order across rounds (usually one round: a batch rarely holds two
    readings of one meter)."""
    n = len(slots)
    order = np.argsort(slots, kind="stable")
    s = slots[order]
    starts = np.r_[True, s[1:] != s[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    occurrence = np.empty(n, np.int64)
    occurrence[order] = np.arange(n) - first
    return [np.flatnonzero(occurrence == k) for k in range(int(occurrence.max()) + 1)]
