"""The dispatcher's plain data: crews, jobs and the plan that comes out (pure).

Times inside the core are minutes after the plan's ``now``; the service shell
converts database timestamps to and from them. Nothing here touches a
database, a broker or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

FAULT = "fault_repair"
# Statuses the dispatcher plans, and those that pin a job at the head of its crew's route.
PLANNED_STATUSES = ("open", "assigned", "accepted", "en_route", "on_site")
HEAD_STATUSES = ("on_site", "en_route")


@dataclass(frozen=True)
class Point:
    lon: float
    lat: float
    area_kind: str = "urban"  # urban / rural: the speed class of the roads around it


@dataclass(frozen=True)
class Crew:
    id: str
    skills: frozenset[str]
    position: Point
    shift_end_min: float
    """Hard limit: every job of the route is finished by then (minutes after now)."""
    available_from_min: float = 0.0
    """When the crew can start driving (later than now when its shift has not begun)."""
    fix_age_min: float | None = None
    """Age of the GPS fix *position* comes from (None: no fix, the depot is assumed)."""
    driven_min: float = 0.0
    """Minutes driven towards its en-route job since *position* was known: the first leg
    of the route is that much shorter (never below zero)."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str  # fault_repair, meter_install, inspection
    location: Point
    priority: int = 3  # 1 = most urgent
    required_skills: frozenset[str] = frozenset()
    service_min: float = 60.0
    deadline_min: float | None = None
    """Soft upper bound on arrival (fault repairs): lateness costs, by priority."""
    window_start_min: float | None = None
    """Appointment window (installs, inspections): no arrival before its start."""
    window_end_min: float | None = None
    status: str = "open"
    crew_id: str | None = None
    """The crew the current plan gives it (warm start; diversion threshold)."""
    sequence: int | None = None
    pinned_crew_id: str | None = None
    """A dispatcher's pin (table dispatch_constraints)."""
    forbidden_crew_ids: frozenset[str] = frozenset()
    customers_off: int = 0
    """Customers off supply until the fault is repaired (its incident's count)."""
    critical_customers: int = 0
    """Of them, hospitals and other critical customers (weighted above the rest)."""
    reported_min: float | None = None
    """When the fault was reported (minutes after now: zero or negative)."""

    @property
    def at_head(self) -> bool:
        """Already driving to it or working on it: it stays first on its crew's route."""
        return self.status in HEAD_STATUSES and self.crew_id is not None


@dataclass(frozen=True)
class Problem:
    now: datetime
    crews: tuple[Crew, ...]
    jobs: tuple[Job, ...]
    time_limit_s: float = 2.0
    divert_threshold_min: float = 5.0


@dataclass(frozen=True)
class Stop:
    job_id: int
    crew_id: str
    sequence: int
    arrival_min: float
    start_min: float
    pinned: bool
    explanation: dict[str, Any]


@dataclass(frozen=True)
class Unassigned:
    job_id: int
    reason: str


@dataclass
class Plan:
    now: datetime
    routes: dict[str, list[Stop]]
    unassigned: list[Unassigned]
    solver: str
    solve_s: float
    objective: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    solver_arrival_min: dict[int, float] = field(default_factory=dict)
    """The solver's own arrival (cumul) per job, to check it against the timetable."""

    def stops(self) -> list[Stop]:
        return [s for route in self.routes.values() for s in route]

    def crew_of(self) -> dict[int, str]:
        return {s.job_id: s.crew_id for s in self.stops()}

    def at(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)
