"""Storm plans (pure): where faults strike, how long they last, who calls in."""

from __future__ import annotations

import itertools
from collections import Counter

from simulators.grid import Grid, territory
from simulators.scenario import endless_faults, outage_reports, storm_faults

GRID = Grid(territory(1))
LINE = {s.id: s.line_type for s in GRID.territory.sections}


def test_storm_faults_are_deterministic_and_favour_overhead_lines():
    a = list(storm_faults(GRID, 4, 400, 8 * 3600, speed=1.0))
    assert a == list(storm_faults(GRID, 4, 400, 8 * 3600, speed=1.0))
    assert a != list(storm_faults(GRID, 5, 400, 8 * 3600, speed=1.0))
    assert [f.start for f in a] == sorted(f.start for f in a)
    assert all(0 <= f.start <= 0.8 * 8 * 3600 and f.start < f.clear for f in a)
    kinds = Counter(LINE[f.section_id] for f in a)
    overhead_sections = sum(1 for t in LINE.values() if t == "overhead")
    cable_sections = len(LINE) - overhead_sections
    assert kinds["overhead"] / overhead_sections > 2 * kinds["cable"] / cable_sections
    repair_min = sorted((f.clear - f.start) / 60 for f in a)
    assert 40 < repair_min[len(repair_min) // 2] < 90
    assert 0.04 < sum(f.silent for f in a) / len(a) < 0.18


def test_speed_compresses_repairs():
    slow = list(storm_faults(GRID, 4, 20, 3600, speed=1.0))
    fast = list(storm_faults(GRID, 4, 20, 3600 / 60, speed=60.0))
    for s, f in zip(slow, fast, strict=True):
        assert s.section_id == f.section_id
        assert abs((s.clear - s.start) / 60 - (f.clear - f.start)) < 1e-6


def test_endless_faults_keep_coming():
    faults = list(itertools.islice(endless_faults(GRID, 1, 120.0), 200))
    gaps = [b.start - a.start for a, b in itertools.pairwise(faults)]
    assert all(g >= 0 for g in gaps) and 80 < sum(gaps) / len(gaps) < 160


def test_customers_call_from_dark_meters_and_for_every_silent_fault():
    faults = list(storm_faults(GRID, 9, 60, 8 * 3600))
    meters = {m.id for m in GRID.territory.meters}
    reports = list(outage_reports(GRID, 9, iter(faults), meters))
    assert [r.at for r in reports] == sorted(r.at for r in reports)
    dark_total = 0
    for f in faults:
        dark = {m.id for m in GRID.meters_losing_power(f.section_id)}
        dark_total += len(dark)
        calls = [r for r in reports if r.meter_id in dark and f.start <= r.at < f.clear]
        assert calls, f"nobody called about {f}"
    assert len(reports) == len(set(reports))
    assert 0.01 < len(reports) / dark_total < 0.06, "a small share of dark meters calls"
    assert reports == list(outage_reports(GRID, 9, iter(faults), meters))
