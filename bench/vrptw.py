"""Solomon-format VRPTW instances through the dispatcher's routing model (benchmark only).

Reads an instance with ``vrplib`` (Solomon's 100-customer files, Gehring &
Homberger's 200-customer ones), solves it with ``dispatch.routing`` (hard time
windows, capacity, distance objective) and checks the result in floating point.
When PyVRP is installed (the ``dev`` extra), it solves the same instance with
the same time limit in the same run as the baseline. Instances are read where
they lie; nothing is copied into the repo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vrplib

from dispatch import routing

SCALE = 1000  # integer model units per Solomon distance unit


@dataclass(frozen=True)
class Instance:
    name: str
    vehicles: int
    capacity: int
    coords: list[tuple[float, float]]
    demand: list[int]
    windows: list[tuple[int, int]]
    service: list[int]

    def distance(self, a: int, b: int) -> float:
        (x1, y1), (x2, y2) = self.coords[a], self.coords[b]
        return math.hypot(x1 - x2, y1 - y2)


def read(path: Path) -> Instance:
    raw = vrplib.read_instance(str(path), instance_format="solomon")
    return Instance(
        name=str(raw["name"]),
        vehicles=int(raw["vehicles"]),
        capacity=int(raw["capacity"]),
        coords=[(float(x), float(y)) for x, y in raw["node_coord"]],
        demand=[int(d) for d in raw["demand"]],
        windows=[(int(a), int(b)) for a, b in raw["time_window"]],
        service=[int(s) for s in raw["service_time"]],
    )


def to_solomon_text(inst: Instance) -> str:
    """The instance in Solomon's text format (what ``read`` parses back)."""
    lines = [
        inst.name,
        "",
        "VEHICLE",
        "NUMBER     CAPACITY",
        f"  {inst.vehicles}         {inst.capacity}",
        "",
        "CUSTOMER",
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME",
        "",
    ]
    for i, ((x, y), d, (a, b), s) in enumerate(
        zip(inst.coords, inst.demand, inst.windows, inst.service, strict=True)
    ):
        lines.append(f"{i:5d} {x:10g} {y:10g} {d:10d} {a:10d} {b:10d} {s:10d}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Solution:
    routes: list[list[int]]
    distance: float
    feasible: bool
    seconds: float


def solve(inst: Instance, time_limit_s: float) -> Solution:
    n = len(inst.coords)
    dist = [[math.ceil(inst.distance(a, b) * SCALE) for b in range(n)] for a in range(n)]
    time = [[dist[a][b] + inst.service[a] * SCALE for b in range(n)] for a in range(n)]
    spec = routing.RoutingSpec(
        n_nodes=n,
        starts=[0] * inst.vehicles,
        ends=[0] * inst.vehicles,
        time=time,
        cost=[dist],
        horizon=inst.windows[0][1] * SCALE,
        start_min=[inst.windows[0][0] * SCALE] * inst.vehicles,
        end_max=[inst.windows[0][1] * SCALE] * inst.vehicles,
        windows={i: (a * SCALE, b * SCALE) for i, (a, b) in enumerate(inst.windows) if i},
        demands=inst.demand,
        capacities=[inst.capacity] * inst.vehicles,
        time_limit_s=time_limit_s,
        first_solution=routing.FIRST_SOLUTION.PARALLEL_CHEAPEST_INSERTION,
    )
    result = routing.solve(spec)
    if result.routes is None:
        return Solution([], math.inf, False, result.seconds)
    routes = [r for r in result.routes if r]
    return Solution(routes, total_distance(inst, routes), check(inst, routes), result.seconds)


PYVRP_SCALE = 10  # PyVRP's integer units per distance unit (truncated), as its authors do


def solve_pyvrp(inst: Instance, time_limit_s: float) -> Solution | None:
    """The same instance with PyVRP for *time_limit_s*; None when PyVRP is not installed."""
    try:
        import pyvrp
        from pyvrp.stop import MaxRuntime
    except ImportError:
        return None
    s = PYVRP_SCALE
    m = pyvrp.Model()
    locations = [m.add_location(x, y) for x, y in inst.coords]
    depot = m.add_depot(locations[0])
    m.add_vehicle_type(
        num_available=inst.vehicles,
        capacity=inst.capacity,
        start_depot=depot,
        end_depot=depot,
        tw_early=inst.windows[0][0] * s,
        tw_late=inst.windows[0][1] * s,
    )
    for i in range(1, len(inst.coords)):
        a, b = inst.windows[i]
        m.add_client(
            locations[i],
            delivery=inst.demand[i],
            service_duration=inst.service[i] * s,
            tw_early=a * s,
            tw_late=b * s,
        )
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            d = int(inst.distance(a, b) * s)
            m.add_edge(frm, to, distance=d, duration=d)
    result = m.solve(stop=MaxRuntime(time_limit_s), display=False)
    # client activities number the clients from 0; location 0 is the depot
    routes = [[a.idx + 1 for a in r if a.is_client()] for r in result.best.routes()]
    return Solution(routes, total_distance(inst, routes), check(inst, routes), result.runtime)


def total_distance(inst: Instance, routes: list[list[int]]) -> float:
    return sum(inst.distance(a, b) for r in routes for a, b in zip([0, *r], [*r, 0], strict=True))


def check(inst: Instance, routes: list[list[int]]) -> bool:
    """Every customer once, capacity and hard windows respected (floating point)."""
    seen = sorted(c for r in routes for c in r)
    if seen != list(range(1, len(inst.coords))) or len(routes) > inst.vehicles:
        return False
    for r in routes:
        if sum(inst.demand[c] for c in r) > inst.capacity:
            return False
        t, at = float(inst.windows[0][0]), 0
        for c in [*r, 0]:
            t = max(t + inst.service[at] + inst.distance(at, c), inst.windows[c][0])
            if t > inst.windows[c][1] + 1e-9:
                return False
            at = c
    return True


def best_known(path: Path) -> float | None:
    """The best-known distance from the README table beside the instance, if there is one."""
    readme = path.parent / "README.md"
    if not readme.is_file():
        return None
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].upper() == path.stem.upper():
            try:
                return float(cells[2])
            except ValueError:
                return None
    return None


def bench(path: Path, time_limit_s: float, *, baseline: bool = True) -> dict[str, Any]:
    inst = read(path)
    sol = solve(inst, time_limit_s)
    best = best_known(path)
    gap = (sol.distance / best - 1) * 100 if best and sol.feasible else None
    anchor = solve_pyvrp(inst, time_limit_s) if baseline else None
    versus = None
    if anchor is not None and anchor.feasible and sol.feasible:
        versus = round((sol.distance / anchor.distance - 1) * 100, 2) + 0.0
    return {
        "instance": inst.name,
        "vehicles": len(sol.routes),
        "distance": round(sol.distance, 2),
        "feasible": sol.feasible,
        "seconds": round(sol.seconds, 2),
        "time_limit_s": time_limit_s,
        "best_known": best,
        "gap_pct": round(gap, 2) + 0.0 if gap is not None else None,
        "pyvrp": None
        if anchor is None
        else {
            "vehicles": len(anchor.routes),
            "distance": round(anchor.distance, 2),
            "feasible": anchor.feasible,
            "feasible_unrounded": check(inst, anchor.routes),
            "seconds": round(anchor.seconds, 2),
        },
        "gap_to_pyvrp_pct": versus,
    }


def bench_folder(folder: Path, time_limit_s: float, *, baseline: bool = True) -> dict[str, Any]:
    """Every ``*.txt`` instance of a folder, and the average gaps to best-known and PyVRP."""
    paths = sorted(folder.glob("*.txt"))
    results = [bench(path, time_limit_s, baseline=baseline) for path in paths]
    gaps = [r["gap_pct"] for r in results if r["gap_pct"] is not None]
    versus = [r["gap_to_pyvrp_pct"] for r in results if r["gap_to_pyvrp_pct"] is not None]
    return {
        "instances": results,
        "all_feasible": all(r["feasible"] for r in results),
        "average_gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
        "average_gap_to_pyvrp_pct": round(sum(versus) / len(versus), 2) if versus else None,
        "pyvrp_installed": any(r["pyvrp"] is not None for r in results),
        "time_limit_s": time_limit_s,
    }
