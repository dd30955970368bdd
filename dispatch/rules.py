"""Dispatch rules shared by the solver and the greedy baseline (pure).

Who may take a job (skills, pins, forbids), why a job stays unassigned, the
timetable of a route and the explanation of each assignment. The travel
matrix rows and columns follow ``points(problem)``: crews first, then jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dispatch.model import Crew, Job, Plan, Point, Problem, Stop, Unassigned
from dispatch.travel import Matrix


def points(problem: Problem) -> list[Point]:
    return [c.position for c in problem.crews] + [j.location for j in problem.jobs]


def qualified(job: Job, crew: Crew) -> bool:
    return job.required_skills <= crew.skills


def eligible_crews(job: Job, crews: tuple[Crew, ...]) -> list[int]:
    """Indices of the crews that may take *job*: skills, pin and forbids respected."""
    out = []
    for i, crew in enumerate(crews):
        if job.at_head:
            if crew.id == job.crew_id:
                out.append(i)
            continue
        if not qualified(job, crew) or crew.id in job.forbidden_crew_ids:
            continue
        if job.pinned_crew_id is not None and crew.id != job.pinned_crew_id:
            continue
        out.append(i)
    return out


def no_crew_reason(job: Job, crews: tuple[Crew, ...]) -> str:
    """Why no crew may take *job* (call when ``eligible_crews`` is empty)."""
    skills = ", ".join(sorted(job.required_skills)) or "none"
    by_id = {c.id: c for c in crews}
    if job.at_head:
        return f"under way with {job.crew_id}, which is not on shift"
    if job.pinned_crew_id is not None:
        crew = by_id.get(job.pinned_crew_id)
        if crew is None:
            return f"pinned to {job.pinned_crew_id}, which is not on shift"
        if not qualified(job, crew):
            return f"pinned to {crew.id}, which lacks the skills {skills}"
        return f"pinned to {crew.id}, which is forbidden for this job"
    able = [c for c in crews if qualified(job, c)]
    if not able:
        return f"no crew on shift has all the required skills ({skills})"
    return "every crew with the required skills is forbidden for this job"


@dataclass(frozen=True)
class Visit:
    job_index: int
    arrival_min: float
    start_min: float
    finish_min: float
    km: float


def timetable(problem: Problem, matrix: Matrix, crew_index: int, jobs: list[int]) -> list[Visit]:
    """Earliest arrival, start (after the window opens) and finish of each job in order."""
    crew = problem.crews[crew_index]
    n_crews = len(problem.crews)
    t = crew.available_from_min
    at = crew_index
    out = []
    for k in jobs:
        node = n_crews + k
        job = problem.jobs[k]
        arrival = t + matrix.minutes[at][node]
        start = max(arrival, job.window_start_min or 0.0)
        t = start + job.service_min
        out.append(Visit(k, arrival, start, t, matrix.km[at][node]))
        at = node
    return out


def drop_reason(problem: Problem, matrix: Matrix, job_index: int) -> str:
    """Why the solver left a job out although some crew may take it."""
    job = problem.jobs[job_index]
    node = len(problem.crews) + job_index
    direct = []
    for i in eligible_crews(job, problem.crews):
        crew = problem.crews[i]
        finish = crew.available_from_min + matrix.minutes[i][node] + job.service_min
        if job.window_start_min is not None:
            finish = max(finish, job.window_start_min + job.service_min)
        direct.append((finish, crew))
    feasible = [(f, c) for f, c in direct if f <= c.shift_end_min]
    if not feasible:
        finish, crew = min(direct, key=lambda fc: fc[0] - fc[1].shift_end_min)
        return (
            f"no qualified crew can reach it and finish before its shift ends "
            f"(closest: {crew.id} would finish {finish - crew.shift_end_min:.0f} min after)"
        )
    return "every qualified crew's shift is full of more urgent work"


def build_plan(
    problem: Problem,
    matrix: Matrix,
    routes: dict[int, list[int]],
    unassigned: list[Unassigned],
    *,
    solver: str,
    solve_s: float,
    objective: int = 0,
    stats: dict[str, Any] | None = None,
) -> Plan:
    """Turn job orders per crew index into a plan with timetable and explanations."""
    tables = {v: timetable(problem, matrix, v, jobs) for v, jobs in routes.items()}
    n_crews = len(problem.crews)
    free = {v: (t[-1].finish_min, n_crews + t[-1].job_index) for v, t in tables.items() if t}
    plan_routes: dict[str, list[Stop]] = {c.id: [] for c in problem.crews}
    for v, table in tables.items():
        crew = problem.crews[v]
        for seq, visit in enumerate(table, start=1):
            job = problem.jobs[visit.job_index]
            plan_routes[crew.id].append(
                Stop(
                    job.id,
                    crew.id,
                    seq,
                    visit.arrival_min,
                    visit.start_min,
                    job.at_head or job.pinned_crew_id == crew.id,
                    explain(problem, matrix, v, visit, free),
                )
            )
    return Plan(problem.now, plan_routes, unassigned, solver, solve_s, objective, dict(stats or {}))


def explain(
    problem: Problem,
    matrix: Matrix,
    crew_index: int,
    visit: Visit,
    free: dict[int, tuple[float, int]],
) -> dict[str, Any]:
    """ETA, deadline, slack, distance, the qualifying skills and the next-best crew.

    The next-best crew is the other eligible crew that could arrive first if the
    job were added after the last stop of its planned route (*free*: crew index
    -> when it is free and the node where it is then).
    """
    job = problem.jobs[visit.job_index]
    crew = problem.crews[crew_index]
    node = len(problem.crews) + visit.job_index
    deadline = job.deadline_min if job.deadline_min is not None else job.window_end_min
    if job.at_head:
        reason = f"already {job.status.replace('_', ' ')}"
    elif job.pinned_crew_id == crew.id:
        reason = "pinned by a dispatcher"
    else:
        reason = "best plan found for all open jobs"
    best: tuple[float, str] | None = None
    if not job.at_head and job.pinned_crew_id is None:
        for i in eligible_crews(job, problem.crews):
            if i == crew_index:
                continue
            other = problem.crews[i]
            free_at, origin = free.get(i, (other.available_from_min, i))
            eta = free_at + matrix.minutes[origin][node]
            if best is None or eta < best[0]:
                best = (eta, other.id)
    skills = sorted(job.required_skills)
    return {
        "eta": _iso(problem, visit.arrival_min),
        "eta_min": round(visit.arrival_min, 1),
        "start": _iso(problem, visit.start_min),
        "deadline": _iso(problem, deadline) if deadline is not None else None,
        "slack_min": round(deadline - visit.arrival_min, 1) if deadline is not None else None,
        "distance_km": round(visit.km, 2),
        "skill": ", ".join(skills) if skills else "none required",
        "crew_skills": sorted(crew.skills),
        "reason": reason,
        "next_best_crew": best[1] if best else None,
        "next_best_eta": _iso(problem, best[0]) if best else None,
        "next_best_eta_min": round(best[0], 1) if best else None,
    }


def _iso(problem: Problem, minutes: float) -> str:
    return (problem.now + timedelta(minutes=minutes)).isoformat()
