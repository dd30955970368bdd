"""The dispatcher's OR-Tools model: crews are vehicles, work orders are visits (pure).

``plan(problem, matrix)`` builds the routing spec (skills, pins, forbids,
shift ends, restoration first: each fault's customers off supply times the
minutes until a crew arrives, soft arrival deadlines by priority, appointment
windows, route heads for jobs under way, a diversion cost for moving a job off
its current crew, drop penalties as the last resort), solves it warm-started
from the current plan and returns the plan with its explanation. Its times
are those of ``rules.timetable`` (the plan records the solver's own arrivals
beside them to prove it). It never falls back to the greedy baseline: when
OR-Tools finds nothing, it raises.
"""

from __future__ import annotations

from dispatch import routing
from dispatch.model import FAULT, Job, Plan, Problem, Unassigned
from dispatch.rules import (
    build_plan,
    drop_reason,
    eligible_crews,
    leg_minutes,
    must_wait_for_window,
    no_crew_reason,
)
from dispatch.travel import Matrix

# Cost per second of lateness past the arrival deadline, by priority (1 = most urgent);
# travel costs 1 per second.
LATENESS_COST = {1: 60, 2: 30, 3: 12, 4: 4, 5: 2}
# A deadline no crew can meet any more weighs less, so that the jobs that can still be
# reached in time go first (the on-time share is what the regulator counts).
HOPELESS_DIVISOR = 2
# Restoration first: cost per second until a crew arrives, per customer off supply; a
# hospital or other critical customer counts as CRITICAL_WEIGHT ordinary ones.
RESTORE_COST_PER_CUSTOMER = 1.0
CRITICAL_WEIGHT = 200
# Customers who have waited longer weigh more (+100 % per AGE_MIN waited), so that no
# fault starves behind a stream of nearer ones (the arrival tail, p90).
AGE_MIN = 480.0
# Leaving a job out must cost more than any realistic lateness: the last resort.
DROP_COST_FAULT = 2_000_000_000
DROP_COST_PLANNED = 400_000_000
DROP_RESTORE_HORIZON_S = 24 * 3600
HORIZON_PAD_S = 3600


class SolverFailed(RuntimeError):
    pass


def plan(problem: Problem, matrix: Matrix) -> Plan:
    crews, jobs = problem.crews, problem.jobs
    n_crews = len(crews)
    unassigned: list[Unassigned] = []
    modelled: list[int] = []  # job indices in the model
    allowed: dict[int, list[int]] = {}
    for k, job in enumerate(jobs):
        crews_ok = eligible_crews(job, crews)
        if not crews_ok:
            unassigned.append(Unassigned(job.id, no_crew_reason(job, crews)))
            continue
        modelled.append(k)
        allowed[k] = crews_ok
    if not crews or not modelled:
        return build_plan(problem, matrix, {}, unassigned, solver="ortools", solve_s=0.0)

    # Nodes: crew starts 0..C-1, modelled jobs C..C+M-1, one shared open end.
    node_of = {k: n_crews + i for i, k in enumerate(modelled)}
    end = n_crews + len(modelled)
    n = end + 1
    rows = list(range(n_crews)) + [n_crews + k for k in modelled]  # matrix rows per node
    travel = [[round(matrix.minutes[a][b] * 60) for b in rows] for a in rows]
    crew_index = {c.id: i for i, c in enumerate(crews)}
    for k in modelled:  # the first leg to a job under way, as the timetable has it
        if jobs[k].at_head:
            v = crew_index[jobs[k].crew_id or ""]
            travel[v][node_of[k]] = round(leg_minutes(problem, matrix, v, v, k) * 60)
    service = [0] * n_crews + [round(jobs[k].service_min * 60) for k in modelled]

    time = [[0] * n for _ in range(n)]
    for i in range(end):
        row = time[i]
        trow = travel[i]
        s = service[i]
        for j in range(end):
            row[j] = trow[j] + s
        row[end] = s
    base_cost = [trow[:] + [0] for trow in travel] + [[0] * n]

    spec = routing.RoutingSpec(
        n_nodes=n,
        starts=list(range(n_crews)),
        ends=[end] * n_crews,
        time=time,
        cost=[base_cost],
        horizon=0,
        start_min=[round(c.available_from_min * 60) for c in crews],
        end_max=[max(0, round(c.shift_end_min * 60)) for c in crews],
        time_limit_s=problem.time_limit_s,
        first_solution=routing.FIRST_SOLUTION.PARALLEL_CHEAPEST_INSERTION,
    )
    horizon = max(spec.end_max + spec.start_min) + HORIZON_PAD_S
    heads: dict[int, list[tuple[int, int]]] = {}
    divert_weight: dict[int, int] = {}  # node -> what a minute earlier is worth there
    for k in modelled:
        job, node = jobs[k], node_of[k]
        spec.allowed[node] = allowed[k]
        if job.at_head:
            v = crew_index[job.crew_id]  # eligible_crews guarantees it is here
            heads.setdefault(v, []).append((0 if job.status == "on_site" else 1, node))
            continue
        weight = LATENESS_COST.get(job.priority, 2)
        restore = restoration_weight(job)
        if restore:
            spec.arrival_cost[node] = restore
        if must_wait_for_window(job):
            lo = max(0, round(job.window_start_min * 60))
            spec.windows[node] = (lo, max(lo, horizon))
            horizon = max(horizon, lo + HORIZON_PAD_S)
        deadline = job.deadline_min if job.deadline_min is not None else job.window_end_min
        if deadline is not None:
            earliest = min(
                crews[v].available_from_min + matrix.minutes[v][n_crews + k] for v in allowed[k]
            )
            if earliest > deadline:
                weight = max(1, weight // HOPELESS_DIVISOR)
            spec.soft_upper[node] = (max(0, round(deadline * 60)), weight)
            divert_weight[node] = weight
        drop = DROP_COST_FAULT if job.kind == FAULT else DROP_COST_PLANNED
        # leaving a fault out also leaves its customers off supply for the rest of the day
        spec.drop_penalty[node] = drop // job.priority + restore * DROP_RESTORE_HORIZON_S
    spec.horizon = horizon
    spec.heads = {v: [node for _, node in sorted(h)] for v, h in heads.items()}

    divert = round(problem.divert_threshold_min * 60)
    owned = {
        node_of[k]: crew_index.get(jobs[k].crew_id or "", -1)
        for k in modelled
        if not jobs[k].at_head
    }
    if divert and any(v >= 0 for v in owned.values()):
        spec.visit_cost = _diversion_costs(n, owned, divert_weight, n_crews, divert)

    spec.initial_routes = _current_routes(problem, matrix, modelled, node_of, allowed, crew_index)
    result = routing.solve(spec)
    if result.routes is None and spec.first_solution != routing.FIRST_SOLUTION.PATH_CHEAPEST_ARC:
        # the insertion heuristic ran out of time on a large instance: the cheaper one
        spec.first_solution = routing.FIRST_SOLUTION.PATH_CHEAPEST_ARC
        result = routing.solve(spec)
    if result.routes is None:
        raise SolverFailed(
            f"OR-Tools found no plan for {len(modelled)} jobs and {n_crews} crews "
            f"within {problem.time_limit_s} s (status {result.status}); "
            "raise GRIDCREW_DISPATCH_TIME_LIMIT_S"
        )
    job_at = {node: k for k, node in node_of.items()}
    routes = {v: [job_at[node] for node in r] for v, r in enumerate(result.routes)}
    cumuls = {
        jobs[job_at[node]].id: t / 60
        for r, ts in zip(result.routes, result.arrivals or [], strict=True)
        for node, t in zip(r, ts, strict=True)
    }
    served = {k for r in routes.values() for k in r}
    for k in modelled:
        if k not in served:
            unassigned.append(Unassigned(jobs[k].id, drop_reason(problem, matrix, k)))
    out = build_plan(
        problem,
        matrix,
        routes,
        unassigned,
        solver="ortools",
        solve_s=result.seconds,
        objective=result.objective,
        stats={"status": result.status, "warm_started": result.warm_started},
    )
    out.solver_arrival_min = cumuls
    gaps = [abs(s.arrival_min - cumuls[s.job_id]) for s in out.stops()]
    out.stats["timetable_gap_max_min"] = round(max(gaps, default=0.0), 2)
    return out


def restoration_weight(job: Job) -> int:
    """Cost per second until a crew reaches *job*: its customers off supply, critical
    ones counted CRITICAL_WEIGHT times, more the longer they have waited (0 for planned
    work, which has none)."""
    if job.kind != FAULT:
        return 0
    customers = job.customers_off + (CRITICAL_WEIGHT - 1) * job.critical_customers
    waited = max(0.0, -(job.reported_min or 0.0))
    return round(RESTORE_COST_PER_CUSTOMER * customers * (1 + waited / AGE_MIN))


def _diversion_costs(
    n_nodes: int,
    owned: dict[int, int],
    weight: dict[int, int],
    n_crews: int,
    divert_s: int,
) -> list[list[int]]:
    """Per crew, visiting a job another crew holds costs the divert threshold.

    The threshold is in minutes of the job's own objective: arrival minutes at its
    lateness weight when it has a deadline, travel minutes when it has none.
    """
    out = []
    for v in range(n_crews):
        vec = [0] * n_nodes
        for node, holder in owned.items():
            if holder >= 0 and holder != v:
                vec[node] = divert_s * weight.get(node, 1)
        out.append(vec)
    return out


def _current_routes(
    problem: Problem,
    matrix: Matrix,
    modelled: list[int],
    node_of: dict[int, int],
    allowed: dict[int, list[int]],
    crew_index: dict[str, int],
) -> list[list[int]] | None:
    """The current plan as initial routes (heads first), new jobs appended where nearest.

    Appending every new job keeps the warm start complete, so the search starts
    from a plan that serves everything instead of having to discover insertions.
    """
    n_crews = len(problem.crews)
    routes: list[list[tuple[int, int, int]]] = [[] for _ in problem.crews]
    new: list[int] = []
    for k in modelled:
        job = problem.jobs[k]
        v = crew_index.get(job.crew_id or "")
        if v is None or v not in allowed[k]:
            new.append(k)
            continue
        rank = 0 if job.status == "on_site" else 1 if job.at_head else 2
        routes[v].append((rank, job.sequence or 0, k))
    if not any(routes):
        return None
    orders = [[k for _, _, k in sorted(r)] for r in routes]

    def after_last(v: int, k: int) -> float:
        last = n_crews + orders[v][-1] if orders[v] else v
        return matrix.minutes[last][n_crews + k] + 60 * len(orders[v])

    for k in new:
        orders[min(allowed[k], key=lambda v, k=k: after_last(v, k))].append(k)
    return [[node_of[k] for k in order] for order in orders]
