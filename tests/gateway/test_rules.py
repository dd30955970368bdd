"""Pure alarm rules: thresholds held N samples, edge-triggered, and the current trend."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.decode import ReadingRow
from gateway.rules import CURRENT_RISING, RuleEngine, rise
from tests.gateway.rules_reference import ReferenceEngine, Trend

T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def r(i: int, voltage: float | None = 230.0, current: float | None = 5.0) -> ReadingRow:
    return ReadingRow(T + timedelta(minutes=i), "MTR-1", voltage, current, None, None, None)


def names(engine: RuleEngine, readings: list[ReadingRow]) -> list[str]:
    return [e.event_name for x in readings for e in engine.feed(x, 230.0)]


def test_under_voltage_fires_once_after_three_samples_and_rearms():
    engine = RuleEngine()
    low = [r(i, voltage=200.0) for i in range(5)]
    assert names(engine, low[:2]) == []
    assert names(engine, low[2:]) == ["voltage_sag"]
    assert names(engine, [r(6), *[r(7 + i, voltage=200.0) for i in range(3)]]) == ["voltage_sag"]


def test_a_dip_shorter_than_the_hold_raises_nothing():
    engine = RuleEngine()
    seq = [r(0, 200.0), r(1, 200.0), r(2), r(3, 260.0), r(4, 260.0), r(5)]
    assert names(engine, seq) == []


def test_over_voltage_and_overload():
    engine = RuleEngine()
    assert names(engine, [r(i, voltage=256.0, current=70.0) for i in range(3)]) == [
        "voltage_swell",
        "overload",
    ]


def test_derived_alarms_have_replay_safe_ids():
    engine = RuleEngine()
    (ev,) = [e for x in [r(i, voltage=200.0) for i in range(3)] for e in engine.feed(x, 230.0)]
    again = RuleEngine()
    (same,) = [e for x in [r(i, voltage=200.0) for i in range(3)] for e in again.feed(x, 230.0)]
    assert ev.event_id == same.event_id == f"rule:under_voltage:{r(2).time.isoformat()}"
    assert ev.event_code == "1.26.79.223" and ev.severity == "warning"


def test_a_rising_line_current_is_flagged_once():
    engine = RuleEngine()
    steady = [r(i, current=10.0) for i in range(12)]
    rising = [r(12 + i, current=10.0 + 1.0 * i) for i in range(12)]
    assert CURRENT_RISING not in names(engine, steady)
    assert names(engine, rising).count(CURRENT_RISING) == 1
    assert rise([1.0, 1.0, 1.0]) == 0.0
    assert rise([10.0, 11.0, 12.0]) > 0.15


def test_the_running_trend_matches_the_least_squares_rise():
    trend = Trend(12)
    values = [10.0 + (i % 5) * 0.7 + i * 0.3 for i in range(40)]
    for i, v in enumerate(values):
        got = trend.push(v)
        if i >= 11:
            assert got == pytest.approx(rise(values[i - 11 : i + 1]))


@pytest.mark.parametrize("seed", range(6))
def test_the_batch_engine_raises_exactly_what_the_reading_by_reading_reference_does(seed):
    """Random streams of several meters (gaps, breaches, rising and falling current, a
    meter repeated inside one batch, another nominal voltage) cut into random batches."""
    rng = random.Random(seed)
    devices = [f"MTR-{i}" for i in range(7)]
    nominal = {d: (110.0 if d == "MTR-6" else 230.0) for d in devices}
    stream = []
    for i in range(600):
        d = rng.choice(devices)
        base = nominal[d]
        voltage = rng.choice([None, base, base * 0.85, base * 1.15, base * rng.uniform(0.8, 1.2)])
        current = rng.choice([None, rng.uniform(1, 80), 5.0 + (i % 40) * rng.uniform(0, 2)])
        stream.append(ReadingRow(T + timedelta(seconds=i), d, voltage, current, None, None, None))
    reference, engine = ReferenceEngine(), RuleEngine()
    expected = [e for x in stream for e in reference.feed(x, nominal[x.device_id])]
    got, i = [], 0
    while i < len(stream):
        n = rng.choice([1, 2, 5, 30, 120])
        batch = stream[i : i + n]
        got += engine.feed_many(batch, nominal.__getitem__)
        i += n
    assert len(expected) > 20  # the stream does exercise the rules
    assert got == expected
