"""Storm days (pure): when and where faults strike, how long they last, who calls in.

Faults favour long overhead lines (the rural district); a share are *silent* (no
indicator trips, no last gasps), found only through customers' calls. All times are
wall seconds after the run's start; *speed* compresses scenario time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from simulators.grid import Fault, Grid
from simulators.seeding import rng_for

SILENT_SHARE = 0.1
REPORT_SHARE = 0.02  # of dark meters whose customer calls
REPAIR_MEDIAN_MIN = {"cable": 50.0, "overhead": 80.0}


def _weights(grid: Grid) -> list[tuple[str, float, str]]:
    return [
        (s.id, 3.0 if s.line_type == "overhead" else 1.0, s.line_type)
        for s in grid.territory.sections
    ]


def _fault(grid: Grid, seed: int, n: int, start: float, speed: float) -> Fault:
    rng = rng_for(seed, "storm-fault", n)
    sections = _weights(grid)
    section, _, line_type = rng.choices(sections, weights=[w for _, w, _ in sections])[0]
    repair_min = rng.lognormvariate(math.log(REPAIR_MEDIAN_MIN[line_type]), 0.4)
    return Fault(section, start, start + repair_min * 60 / speed, rng.random() < SILENT_SHARE)


def storm_faults(
    grid: Grid, seed: int, count: int, duration_s: float, speed: float = 1.0
) -> Iterator[Fault]:
    """*count* faults struck over the first 80 % of a storm lasting *duration_s* (wall)."""
    rng = rng_for(seed, "storm-times")
    starts = sorted(rng.uniform(0, 0.8 * duration_s) for _ in range(count))
    for n, start in enumerate(starts):
        yield _fault(grid, seed, n, start, speed)


def endless_faults(
    grid: Grid, seed: int, mean_gap_s: float, speed: float = 1.0, first_s: float = 5.0
) -> Iterator[Fault]:
    """Faults forever, a Poisson process with *mean_gap_s* between strikes (the demo)."""
    rng = rng_for(seed, "endless-times")
    start = first_s
    n = 0
    while True:
        yield _fault(grid, seed, n, start, speed)
        n += 1
        start += rng.expovariate(1 / mean_gap_s)


@dataclass(frozen=True)
class OutageReport:
    at: float
    meter_id: str


def outage_reports(
    grid: Grid, seed: int, faults: Iterator[Fault], meter_ids: set[str]
) -> Iterator[OutageReport]:
    """Customers calling in: a few dark meters per fault, and always some for silent faults,
    a few minutes after the lights went out (sorted by time)."""
    pending: list[OutageReport] = []
    for f in faults:
        pending.sort(key=lambda r: r.at)
        while pending and pending[0].at <= f.start:
            yield pending.pop(0)
        rng = rng_for(seed, "reports", f.section_id, round(f.start, 3))
        dark = [m.id for m in grid.meters_losing_power(f.section_id) if m.id in meter_ids]
        if not dark:
            continue
        share = REPORT_SHARE * (3 if f.silent else 1)
        callers = [m for m in dark if rng.random() < share] or [rng.choice(dark)]
        span = max(1.0, (f.clear - f.start) * 0.5)
        for m in callers:
            pending.append(OutageReport(f.start + rng.uniform(0.05, 0.5) * span, m))
    yield from sorted(pending, key=lambda r: r.at)
