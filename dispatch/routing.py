"""One OR-Tools routing model for every use: the live dispatcher and the VRPTW benchmark.

Input is integer matrices and per-node rules (hard windows, soft upper bounds,
drop penalties, allowed vehicles, fixed route heads, capacities); output is
the routes. Pure apart from the solver's own threads; it never reads the
database or the clock, and never falls back to another method when the
solver finds nothing (the caller gets ``routes=None`` and says so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

FIRST_SOLUTION = routing_enums_pb2.FirstSolutionStrategy
METAHEURISTIC = routing_enums_pb2.LocalSearchMetaheuristic


@dataclass
class RoutingSpec:
    n_nodes: int
    starts: list[int]
    ends: list[int]
    time: list[list[int]]
    """Transit per arc: travel plus the service time at the arc's origin."""
    cost: list[list[list[int]]]
    """Arc cost per vehicle; one shared matrix when the list has one entry."""
    horizon: int
    visit_cost: list[list[int]] | None = None
    """Per vehicle, the extra cost of visiting each node (e.g. taking another crew's job)."""
    start_min: list[int] = field(default_factory=list)
    """Earliest start cumul per vehicle (0 when empty)."""
    end_max: list[int] = field(default_factory=list)
    """Latest end cumul per vehicle (the horizon when empty)."""
    windows: dict[int, tuple[int, int]] = field(default_factory=dict)
    soft_upper: dict[int, tuple[int, int]] = field(default_factory=dict)
    """node -> (bound, cost per unit above it)."""
    arrival_cost: dict[int, int] = field(default_factory=dict)
    """node -> cost per unit of its arrival time (e.g. customers off supply until then)."""
    drop_penalty: dict[int, int] = field(default_factory=dict)
    """node -> penalty for leaving it out; nodes absent here are mandatory."""
    allowed: dict[int, list[int]] = field(default_factory=dict)
    heads: dict[int, list[int]] = field(default_factory=dict)
    """vehicle -> nodes that must open its route, in this order."""
    demands: list[int] | None = None
    capacities: list[int] | None = None
    initial_routes: list[list[int]] | None = None
    time_limit_s: float = 1.0
    first_solution: int = FIRST_SOLUTION.PATH_CHEAPEST_ARC


@dataclass
class RoutingResult:
    routes: list[list[int]] | None
    """Job nodes per vehicle in visiting order, or None when no solution was found."""
    arrivals: list[list[int]] | None
    """The time dimension's cumul (earliest arrival) at each of those nodes."""
    objective: int
    seconds: float
    warm_started: bool
    status: str


def solve(spec: RoutingSpec) -> RoutingResult:
    n_vehicles = len(spec.starts)
    manager = pywrapcp.RoutingIndexManager(spec.n_nodes, n_vehicles, spec.starts, spec.ends)
    routing = pywrapcp.RoutingModel(manager)

    time_cb = routing.RegisterTransitMatrix(spec.time)
    cost_cbs = [routing.RegisterTransitMatrix(m) for m in spec.cost]
    if len(cost_cbs) == 1:
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cbs[0])
    else:
        for v, cb in enumerate(cost_cbs):
            routing.SetArcCostEvaluatorOfVehicle(cb, v)
    if spec.visit_cost is not None:
        registered: dict[tuple[int, ...], int] = {}
        for vec in spec.visit_cost:
            key = tuple(vec)
            if key not in registered:
                registered[key] = routing.RegisterUnaryTransitVector(list(vec))
        per_vehicle = [registered[tuple(vec)] for vec in spec.visit_cost]
        bound = sum(max(vec) for vec in spec.visit_cost) * spec.n_nodes + 1
        routing.AddDimensionWithVehicleTransits(per_vehicle, 0, bound, True, "visit_cost")
        routing.GetDimensionOrDie("visit_cost").SetSpanCostCoefficientForAllVehicles(1)

    routing.AddDimension(time_cb, spec.horizon, spec.horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for v in range(n_vehicles):
        lo = spec.start_min[v] if spec.start_min else 0
        time_dim.CumulVar(routing.Start(v)).SetRange(lo, max(lo, spec.horizon))
        hi = spec.end_max[v] if spec.end_max else spec.horizon
        time_dim.CumulVar(routing.End(v)).SetMax(max(lo, hi))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))

    # Arrival-time costs live on a twin of the time dimension (same transits, starts and
    # windows, so its cheapest cumuls are the same earliest arrivals): one cumul takes one
    # soft upper bound, and the time dimension's holds the deadlines.
    arrival_dim = None
    if spec.arrival_cost:
        routing.AddDimension(time_cb, spec.horizon, spec.horizon, False, "arrival")
        arrival_dim = routing.GetDimensionOrDie("arrival")
        for v in range(n_vehicles):
            lo = spec.start_min[v] if spec.start_min else 0
            arrival_dim.CumulVar(routing.Start(v)).SetRange(lo, max(lo, spec.horizon))

    if spec.demands is not None and spec.capacities is not None:
        demand_cb = routing.RegisterUnaryTransitVector(spec.demands)
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, spec.capacities, True, "load")

    depot_nodes = set(spec.starts) | set(spec.ends)
    for node in range(spec.n_nodes):
        if node in depot_nodes:
            continue
        idx = manager.NodeToIndex(node)
        if node in spec.windows:
            lo, hi = spec.windows[node]
            time_dim.CumulVar(idx).SetRange(lo, hi)
        if node in spec.soft_upper:
            bound, coeff = spec.soft_upper[node]
            time_dim.SetCumulVarSoftUpperBound(idx, bound, coeff)
        if arrival_dim is not None:
            if node in spec.windows:
                arrival_dim.CumulVar(idx).SetRange(*spec.windows[node])
            if node in spec.arrival_cost:
                arrival_dim.SetCumulVarSoftUpperBound(idx, 0, spec.arrival_cost[node])
        if node in spec.drop_penalty:
            routing.AddDisjunction([idx], spec.drop_penalty[node])
        if node in spec.allowed:
            optional = [-1] if node in spec.drop_penalty else []
            routing.VehicleVar(idx).SetValues(optional + spec.allowed[node])
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(idx))

    cp = routing.solver()
    for v, nodes in spec.heads.items():
        prev = routing.Start(v)
        for node in nodes:
            idx = manager.NodeToIndex(node)
            cp.Add(routing.NextVar(prev) == idx)
            prev = idx

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = spec.first_solution
    params.local_search_metaheuristic = METAHEURISTIC.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(spec.time_limit_s * 1000)))

    started = time.perf_counter()
    solution = None
    warm = False
    if spec.initial_routes:
        routing.CloseModelWithParameters(params)
        initial = routing.ReadAssignmentFromRoutes(
            [[manager.NodeToIndex(n) for n in r] for r in spec.initial_routes], True
        )
        if initial is not None:
            solution = routing.SolveFromAssignmentWithParameters(initial, params)
            warm = solution is not None
    if solution is None:
        solution = routing.SolveWithParameters(params)
    seconds = time.perf_counter() - started
    status = _STATUS.get(routing.status(), str(routing.status()))
    if solution is None:
        return RoutingResult(None, None, 0, seconds, False, status)

    routes: list[list[int]] = []
    arrivals: list[list[int]] = []
    for v in range(n_vehicles):
        nodes, cumuls = [], []
        idx = solution.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(idx):
            nodes.append(manager.IndexToNode(idx))
            cumuls.append(solution.Min(time_dim.CumulVar(idx)))
            idx = solution.Value(routing.NextVar(idx))
        routes.append(nodes)
        arrivals.append(cumuls)
    return RoutingResult(routes, arrivals, solution.ObjectiveValue(), seconds, warm, status)


_STATUS = {
    0: "not_solved",
    1: "success",
    2: "partial_success_local_optimum_not_reached",
    3: "fail",
    4: "fail_timeout",
    5: "invalid",
    6: "infeasible",
    7: "optimal",
}
