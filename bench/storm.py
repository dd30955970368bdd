"""A storm day on the demo territory with a virtual clock (benchmark only, pure).

Faults arrive over some hours at transformers and line sections of the demo
network; crews drive at the travel model's speeds and work for the job's
service time. On each arrival the policy re-plans (OR-Tools, the greedy
nearest-crew baseline or the earliest-deadline-first free-crew baseline, same
inputs), and again when a crew comes free while a fault waits unplanned; an
idle crew starts on the head of its route and is committed to it from then on.
Reports on-time shares (45 min urban, 90 min rural), customer-minutes off
supply until a crew arrives, arrival times, kilometres and solve times. Never
touches a database.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import greedy
from dispatch import solver
from dispatch.model import FAULT, Crew, Job, Plan, Point, Problem
from dispatch.rules import points
from dispatch.travel import CachedTravel, GreatCircle, Matrix
from simulators.demo.territory import Territory, build

START = datetime(2026, 7, 15, 14, 0, tzinfo=UTC)
SKILL_OF_LINE = {"overhead": "overhead_line", "cable": "cable"}
Policy = Callable[[Problem, Matrix], Plan]


@dataclass(frozen=True)
class Fault:
    id: int
    reported_min: float
    location: Point
    skills: frozenset[str]
    priority: int
    service_min: float
    deadline_min: float  # minutes after report
    customers_off: int = 0
    critical_customers: int = 0


def faults(territory: Territory, n: int, hours: float, rng: random.Random) -> list[Fault]:
    """*n* faults at random transformers, each with the customers its meters serve."""
    sections = {s.id: s for s in territory.sections}
    category = {c.id: c.category for c in territory.customers}
    served = Counter(m.transformer_id for m in territory.meters)
    critical = Counter(
        m.transformer_id for m in territory.meters if category.get(m.customer_id) == "critical"
    )
    out = []
    times = sorted(rng.uniform(0, hours * 60) for _ in range(n))
    for i, t in enumerate(times):
        tx = rng.choice(territory.transformers)
        area = territory.area_of(tx.lon, tx.lat)
        if rng.random() < 0.2:
            skills = {"transformer"}
        else:
            skills = {SKILL_OF_LINE[sections[tx.section_id].line_type]}
        out.append(
            Fault(
                i + 1,
                t,
                Point(tx.lon, tx.lat, area.kind),
                frozenset(skills),
                rng.choice([1, 2, 2, 3, 3, 3]),
                rng.uniform(30, 75),
                float(area.arrival_deadline_min),
                served[tx.id],
                critical[tx.id],
            )
        )
    return out


def crews(territory: Territory, n: int) -> list[Crew]:
    depots = {d.id: d for d in territory.depots}
    out = []
    for i in range(n):
        model = territory.crews[i % len(territory.crews)]
        depot = depots[model.depot_id]
        kind = territory.area_of(depot.lon, depot.lat).kind
        out.append(
            Crew(f"CREW-{i + 1:02d}", frozenset(model.skills), Point(depot.lon, depot.lat, kind), 0)
        )
    return out


@dataclass
class CrewState:
    crew: Crew
    free_at: float = 0.0


def simulate(
    policy: Policy,
    territory: Territory,
    storm: list[Fault],
    fleet: list[Crew],
    *,
    time_limit_s: float,
    divert_threshold_min: float,
    horizon_min: float = 24 * 60,
) -> dict[str, Any]:
    travel = CachedTravel(GreatCircle())
    states = [CrewState(c) for c in fleet]
    pending: dict[int, Fault] = {}
    held: dict[int, tuple[str, int]] = {}  # fault -> (crew, sequence) in the last plan
    routes: dict[str, list[int]] = {c.id: [] for c in fleet}
    arrival: dict[int, float] = {}
    km = 0.0
    solve_ms: list[float] = []
    queue = list(storm)
    t = 0.0
    planned_at = -1.0
    while queue or pending:
        arrived = False
        while queue and queue[0].reported_min <= t:
            f = queue.pop(0)
            pending[f.id] = f
            arrived = True
        routed = {k for r in routes.values() for k in r}
        waiting = any(k not in routed for k in pending)
        freed = any(planned_at < st.free_at <= t for st in states)
        if arrived or (waiting and freed):
            problem = _problem(
                t, states, pending, held, time_limit_s, divert_threshold_min, horizon_min
            )
            pts = points(problem)
            plan = policy(problem, travel.table(pts, pts))
            planned_at = t
            solve_ms.append(plan.solve_s * 1000)
            routes = {cid: [s.job_id for s in stops] for cid, stops in plan.routes.items()}
            held = {s.job_id: (s.crew_id, s.sequence) for s in plan.stops()}
        for st in states:
            route = routes.get(st.crew.id, [])
            while st.free_at <= t and route:
                f = pending.pop(route.pop(0))
                held.pop(f.id, None)
                leg = travel.table([st.crew.position], [f.location])
                go = max(st.free_at, t)
                arrival[f.id] = go + leg.minutes[0][0]
                km += leg.km[0][0]
                st.free_at = arrival[f.id] + f.service_min
                st.crew = replace(st.crew, position=f.location)
        routed = {k for r in routes.values() for k in r}
        waiting = any(k not in routed for k in pending)
        nexts = [q.reported_min for q in queue[:1]]
        nexts += [
            st.free_at for st in states if st.free_at > t and (routes.get(st.crew.id) or waiting)
        ]
        if not nexts:
            break
        t = min(nexts)
    return _report(storm, arrival, km, solve_ms)


def _problem(
    t: float,
    states: list[CrewState],
    pending: dict[int, Fault],
    held: dict[int, tuple[str, int]],
    time_limit_s: float,
    divert_threshold_min: float,
    horizon_min: float,
) -> Problem:
    fleet = tuple(
        replace(st.crew, available_from_min=max(0.0, st.free_at - t), shift_end_min=horizon_min)
        for st in states
    )
    jobs = tuple(
        Job(
            f.id,
            FAULT,
            f.location,
            f.priority,
            f.skills,
            f.service_min,
            deadline_min=f.reported_min + f.deadline_min - t,
            customers_off=f.customers_off,
            critical_customers=f.critical_customers,
            reported_min=f.reported_min - t,
            status="assigned" if f.id in held else "open",
            crew_id=held.get(f.id, (None, None))[0],
            sequence=held.get(f.id, (None, None))[1],
        )
        for f in pending.values()
    )
    now = START + timedelta(minutes=t)
    return Problem(now, fleet, jobs, time_limit_s, divert_threshold_min)


def _report(
    storm: list[Fault], arrival: dict[int, float], km: float, solve_ms: list[float]
) -> dict[str, Any]:
    def share(kind: str) -> float:
        mine = [f for f in storm if f.location.area_kind == kind]
        ok = [
            f for f in mine if f.id in arrival and arrival[f.id] - f.reported_min <= f.deadline_min
        ]
        return round(len(ok) / len(mine), 3) if mine else 1.0

    waits = sorted(arrival[f.id] - f.reported_min for f in storm if f.id in arrival)
    customer_minutes = sum(
        f.customers_off * (arrival[f.id] - f.reported_min) for f in storm if f.id in arrival
    )
    ms = sorted(solve_ms) or [0.0]
    all_ok = [
        f for f in storm if f.id in arrival and arrival[f.id] - f.reported_min <= f.deadline_min
    ]
    return {
        "on_time": round(len(all_ok) / len(storm), 3) if storm else 1.0,
        "on_time_urban": share("urban"),
        "on_time_rural": share("rural"),
        "mean_arrival_min": round(statistics.fmean(waits), 1) if waits else None,
        "p90_arrival_min": round(waits[int(0.9 * (len(waits) - 1))], 1) if waits else None,
        "max_arrival_min": round(waits[-1], 1) if waits else None,
        "customer_minutes": round(customer_minutes),
        "km_driven": round(km, 1),
        "unassigned": len(storm) - len(arrival),
        "replans": len(solve_ms),
        "solve_ms_p50": round(ms[len(ms) // 2], 1),
        "solve_ms_p99": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
    }


def bench(
    seed: int,
    n_faults: int,
    n_crews: int,
    *,
    hours: float = 6.0,
    time_limit_s: float = 0.5,
    divert_threshold_min: float = 5.0,
) -> dict[str, Any]:
    territory = build(1)
    storm = faults(territory, n_faults, hours, random.Random(seed))
    fleet = crews(territory, n_crews)
    urban = sum(1 for f in storm if f.location.area_kind == "urban")
    out: dict[str, Any] = {
        "seed": seed,
        "faults": n_faults,
        "urban_faults": urban,
        "rural_faults": n_faults - urban,
        "crews": n_crews,
        "hours": hours,
        "time_limit_s": time_limit_s,
    }
    for name, policy in POLICIES.items():
        out[name] = simulate(
            policy,
            territory,
            storm,
            fleet,
            time_limit_s=time_limit_s,
            divert_threshold_min=divert_threshold_min,
        )
    best = max(BASELINES, key=lambda b: out[b]["on_time"])
    least = min(BASELINES, key=lambda b: out[b]["customer_minutes"])
    ours = out["ortools"]
    out["versus_better_baseline"] = {
        "on_time_baseline": best,
        "on_time_gain_points": round(100 * (ours["on_time"] - out[best]["on_time"]), 1),
        "customer_minutes_baseline": least,
        "customer_minutes_ratio": (
            round(ours["customer_minutes"] / out[least]["customer_minutes"], 3)
            if out[least]["customer_minutes"]
            else None
        ),
        "p90_arrival_baseline": min(BASELINES, key=lambda b: out[b]["p90_arrival_min"] or 0),
        "p90_arrival_delta_min": round(
            (ours["p90_arrival_min"] or 0) - min(out[b]["p90_arrival_min"] or 0 for b in BASELINES),
            1,
        ),
    }
    out["on_time_gain_points"] = round(
        100 * (out["ortools"]["on_time"] - out["greedy"]["on_time"]), 1
    )
    return out


POLICIES: dict[str, Policy] = {
    "ortools": solver.plan,
    "greedy": greedy.plan,
    "edf": greedy.edf_plan,
}
BASELINES = ("greedy", "edf")
