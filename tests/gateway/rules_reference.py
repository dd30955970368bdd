"""The alarm rules evaluated one reading at a time, in plain Python: the reference the
columnar engine in gateway/rules.py is checked against (tests only)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from gateway.decode import EventRow, ReadingRow
from gateway.rules import RULES, ThresholdRule, TrendRule, alarm


def limits(rule: ThresholdRule, nominal: float) -> tuple[float, float]:
    scale = nominal if rule.of_nominal else 1.0
    low = rule.below * scale if rule.below is not None else -math.inf
    high = rule.above * scale if rule.above is not None else math.inf
    return low, high


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


class DeviceState:
    """One device's rule state: consecutive breaches and fired flags per threshold rule,
    a window per trend rule."""

    __slots__ = ("counts", "fired", "trends")

    def __init__(self, counts: list[int], fired: list[bool], trends: list[Trend]) -> None:
        self.counts, self.fired, self.trends = counts, fired, trends


@dataclass
class ReferenceEngine:
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
