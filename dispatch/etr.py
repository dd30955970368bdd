"""Estimated restoration time (ETR): a crew's arrival plus a repair-time estimate (pure).

The repair time comes from a table by fault kind (the incident's scope: one
meter, a transformer, a line section) and line type (overhead, cable), to be
learnt from history later. An incident is restored when its last repair is:
its ETR is the latest of its open repairs', and unknown while one of them has
no crew. Never reads the database or the clock (``now`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Minutes from a crew's arrival to supply restored, by (fault kind, line type).
REPAIR_MIN: dict[tuple[str, str], float] = {
    ("meter", "overhead"): 40,
    ("meter", "cable"): 50,
    ("transformer", "overhead"): 90,
    ("transformer", "cable"): 120,
    ("section", "overhead"): 120,
    ("section", "cable"): 180,
}
DEFAULT_REPAIR_MIN = 90.0
MIN_REMAINING = timedelta(minutes=10)
"""A repair past its estimate is still expected to take this long from now."""


def repair_minutes(fault_kind: str | None, line_type: str | None) -> float:
    return REPAIR_MIN.get((fault_kind or "", line_type or ""), DEFAULT_REPAIR_MIN)


@dataclass(frozen=True)
class Repair:
    """One open fault repair of an incident, as the current plan has it."""

    incident_id: int | None
    fault_kind: str | None
    line_type: str | None
    planned_arrival: datetime | None
    """None: no crew planned for it."""
    arrived_at: datetime | None = None
    """When the crew got there (on site)."""


def estimate(repair: Repair, now: datetime) -> datetime | None:
    """When supply should be back after this repair; None while no crew is planned."""
    arrival = repair.arrived_at or repair.planned_arrival
    if arrival is None:
        return None
    done = arrival + timedelta(minutes=repair_minutes(repair.fault_kind, repair.line_type))
    return max(done, now + MIN_REMAINING)


@dataclass(frozen=True)
class IncidentEstimate:
    incident_id: int
    crew_eta: datetime | None
    """The first planned crew arrival still to come (None: a crew is on site)."""
    estimated_restoration: datetime


def incidents(repairs: list[Repair], now: datetime) -> list[IncidentEstimate]:
    """Per incident whose every open repair has a crew: the latest repair's ETR."""
    by_incident: dict[int, list[Repair]] = {}
    for r in repairs:
        if r.incident_id is not None:
            by_incident.setdefault(r.incident_id, []).append(r)
    out = []
    for incident_id, mine in sorted(by_incident.items()):
        ends = [estimate(r, now) for r in mine]
        if any(e is None for e in ends):
            continue
        coming = [r.planned_arrival for r in mine if r.arrived_at is None and r.planned_arrival]
        out.append(
            IncidentEstimate(
                incident_id,
                min(coming) if coming else None,
                max(e for e in ends if e is not None),
            )
        )
    return out


def error_stats(errors_min: list[float]) -> dict[str, float | int | None]:
    """Median and p90 absolute ETR error in minutes (nearest rank)."""
    ranked = sorted(abs(e) for e in errors_min)
    if not ranked:
        return {"n": 0, "median_abs_error_min": None, "p90_abs_error_min": None}
    return {
        "n": len(ranked),
        "median_abs_error_min": round(ranked[(len(ranked) - 1) // 2], 1),
        "p90_abs_error_min": round(ranked[max(0, -(-9 * len(ranked) // 10) - 1)], 1),
    }
