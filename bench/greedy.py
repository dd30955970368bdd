"""Two hand-dispatch baselines: what a dispatcher does without a solver (pure).

``plan``, nearest available crew: jobs already given to a crew stay with it, in
order; each new job, oldest deadline first, goes to the eligible crew that can
be there first after its current work. ``edf_plan``, earliest deadline first
with the nearest qualified free crew: no queues; the most urgent job goes to the
nearest idle crew that may take it, and a job with no idle crew waits for one.
For benchmarks only: the service never uses them, not even as a fallback when
OR-Tools fails.
"""

from __future__ import annotations

import math
import time

from dispatch.model import FAULT, Plan, Problem, Unassigned
from dispatch.rules import build_plan, drop_reason, eligible_crews, no_crew_reason
from dispatch.travel import Matrix


def plan(problem: Problem, matrix: Matrix) -> Plan:
    started = time.perf_counter()
    crews, jobs = problem.crews, problem.jobs
    n_crews = len(crews)
    crew_index = {c.id: i for i, c in enumerate(crews)}
    routes: dict[int, list[int]] = {v: [] for v in range(n_crews)}
    free = {v: (c.available_from_min, v) for v, c in enumerate(crews)}
    unassigned: list[Unassigned] = []

    def append(v: int, k: int) -> bool:
        job = jobs[k]
        at, origin = free[v]
        arrival = at + matrix.minutes[origin][n_crews + k]
        finish = max(arrival, job.window_start_min or 0.0) + job.service_min
        if finish > crews[v].shift_end_min and not job.at_head:
            return False
        routes[v].append(k)
        free[v] = (finish, n_crews + k)
        return True

    def key(k: int) -> tuple:
        j = jobs[k]
        due = j.deadline_min if j.deadline_min is not None else j.window_start_min
        return (j.kind != FAULT, math.inf if due is None else due, j.id)

    held = [k for k, j in enumerate(jobs) if j.crew_id in crew_index]
    held.sort(key=lambda k: (not jobs[k].at_head, jobs[k].sequence or 0))
    placed: set[int] = set()
    for k in held:
        v = crew_index[jobs[k].crew_id or ""]
        if v in eligible_crews(jobs[k], crews) and append(v, k):
            placed.add(k)
    for k in sorted((k for k in range(len(jobs)) if k not in placed), key=key):
        job = jobs[k]
        options = eligible_crews(job, crews)
        if not options:
            unassigned.append(Unassigned(job.id, no_crew_reason(job, crews)))
            continue
        node = n_crews + k
        options.sort(key=lambda v: free[v][0] + matrix.minutes[free[v][1]][node])
        if not any(append(v, k) for v in options):
            unassigned.append(Unassigned(job.id, drop_reason(problem, matrix, k)))
    return build_plan(
        problem,
        matrix,
        routes,
        unassigned,
        solver="greedy",
        solve_s=time.perf_counter() - started,
    )


WAITING = "waiting for a free qualified crew"


def edf_plan(problem: Problem, matrix: Matrix) -> Plan:
    started = time.perf_counter()
    crews, jobs = problem.crews, problem.jobs
    n_crews = len(crews)
    crew_index = {c.id: i for i, c in enumerate(crews)}
    routes: dict[int, list[int]] = {v: [] for v in range(n_crews)}
    for k, job in enumerate(jobs):  # jobs already started or promised stay where they are
        if job.crew_id in crew_index:
            routes[crew_index[job.crew_id or ""]].append(k)
    free = {v for v, c in enumerate(crews) if not routes[v] and c.available_from_min <= 0}
    unassigned: list[Unassigned] = []

    def due(k: int) -> tuple:
        j = jobs[k]
        d = j.deadline_min if j.deadline_min is not None else j.window_end_min
        return (math.inf if d is None else d, j.priority, j.id)

    for k in sorted((k for k, j in enumerate(jobs) if j.crew_id not in crew_index), key=due):
        job = jobs[k]
        options = eligible_crews(job, crews)
        if not options:
            unassigned.append(Unassigned(job.id, no_crew_reason(job, crews)))
            continue
        idle = [v for v in options if v in free]
        if not idle:
            unassigned.append(Unassigned(job.id, WAITING))
            continue
        v = min(idle, key=lambda v: matrix.minutes[v][n_crews + k])
        routes[v].append(k)
        free.discard(v)
    return build_plan(
        problem,
        matrix,
        routes,
        unassigned,
        solver="edf",
        solve_s=time.perf_counter() - started,
    )
