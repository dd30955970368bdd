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


STALE_FIX_MIN = 20.0
"""A crew whose last GPS fix is older than this is flagged in its explanations."""


@dataclass(frozen=True)
class Visit:
    job_index: int
    depart_min: float
    """When the crew leaves for it: later than its previous finish when it must not be
    there before the job's appointment window opens."""
    arrival_min: float
    """When the crew gets there: the ETA everybody is shown, and the solver's cumul."""
    start_min: float
    finish_min: float
    travel_min: float
    km: float
    wait_min: float = 0.0
    """How long the crew holds back before leaving (after its previous job), so as to
    arrive when the job's window opens."""


def leg_minutes(problem: Problem, matrix: Matrix, crew_index: int, origin: int, k: int) -> float:
    """Driving minutes from matrix row *origin* to job *k* on crew *crew_index*'s route.

    The first leg to a job under way is shorter by what the crew has driven since its
    position was known (en route), and zero when the crew is on site.
    """
    job = problem.jobs[k]
    minutes = matrix.minutes[origin][len(problem.crews) + k]
    if origin != crew_index or not job.at_head:
        return minutes
    if job.status == "on_site":
        return 0.0
    return max(0.0, minutes - problem.crews[crew_index].driven_min)


def must_wait_for_window(job: Job) -> bool:
    """A window makes the crew wait for it, unless the job is already under way."""
    return job.window_start_min is not None and not job.at_head


def timetable(problem: Problem, matrix: Matrix, crew_index: int, jobs: list[int]) -> list[Visit]:
    """THE timetable of one crew's route: used by the solver's check, the explanations,
    the ETAs written to ``assignments`` and the consistency audit.

    ``problem`` is a :class:`dispatch.model.Problem` (``dispatch.service.load`` builds
    it from the database), ``matrix`` the travel matrix over ``points(problem)`` (crews
    first, then jobs), ``crew_index`` the crew's index in ``problem.crews`` and ``jobs``
    indices into ``problem.jobs`` in visiting order. Times are minutes after
    ``problem.now``. Returns one :class:`Visit` per job, in order.

    The crew leaves at ``available_from_min``; a job on site counts only its remaining
    service time (``load`` does that from ``arrived_at``) and needs no driving; an
    en-route job's first leg is shortened by the crew's ``driven_min``; a job under
    way never waits for its window; any other job whose window has not opened makes
    the crew leave later so as to arrive when it opens (``depart_min``), never arrive
    early and wait on site.
    """
    t = problem.crews[crew_index].available_from_min
    at = crew_index
    n_crews = len(problem.crews)
    out = []
    for k in jobs:
        job = problem.jobs[k]
        travel = leg_minutes(problem, matrix, crew_index, at, k)
        arrival = t + travel
        if must_wait_for_window(job):
            arrival = max(arrival, job.window_start_min or 0.0)
        full = matrix.minutes[at][n_crews + k]
        km = matrix.km[at][n_crews + k] * (travel / full) if full > 0 else 0.0
        depart = arrival - travel
        out.append(
            Visit(k, depart, arrival, arrival, arrival + job.service_min, travel, km, depart - t)
        )
        t = arrival + job.service_min
        at = n_crews + k
    return out


def current_route(problem: Problem, crew_id: str) -> tuple[int, list[int]]:
    """(crew index, job indices) of *crew_id*'s route as loaded: the jobs it holds,
    on site first, then en route, then by sequence; what ``timetable`` takes."""
    v = next(i for i, c in enumerate(problem.crews) if c.id == crew_id)
    held = [k for k, j in enumerate(problem.jobs) if j.crew_id == crew_id]

    def rank(k: int) -> tuple[int, int]:
        job = problem.jobs[k]
        head = 0 if job.status == "on_site" else 1 if job.at_head else 2
        return head, job.sequence or 0

    return v, sorted(held, key=rank)


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
    """ETA, when to leave and be there, deadline, slack, distance, skills, the next-best
    crew and the term that decided (``decided_by``, see :func:`deciding_term`).

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
            if must_wait_for_window(job):
                eta = max(eta, job.window_start_min or 0.0)
            if best is None or eta < best[0]:
                best = (eta, other.id)
    skills = sorted(job.required_skills)
    stale = crew.fix_age_min is not None and crew.fix_age_min > STALE_FIX_MIN
    return {
        "eta": _iso(problem, visit.arrival_min),
        "eta_min": round(visit.arrival_min, 1),
        "start": _iso(problem, visit.start_min),
        "leave_at": _iso(problem, visit.depart_min),
        "wait_min": round(visit.wait_min, 1),
        "waits_for_window": visit.wait_min > 0.05,
        "deadline": _iso(problem, deadline) if deadline is not None else None,
        "slack_min": round(deadline - visit.arrival_min, 1) if deadline is not None else None,
        "distance_km": round(visit.km, 2),
        "skill": ", ".join(skills) if skills else "none required",
        "crew_skills": sorted(crew.skills),
        "customers_off": job.customers_off,
        "critical_customers": job.critical_customers,
        "reason": reason,
        "decided_by": deciding_term(
            problem, job, crew, visit.arrival_min, deadline, best[0] if best else None
        ),
        "next_best_crew": best[1] if best else None,
        "next_best_eta": _iso(problem, best[0]) if best else None,
        "next_best_eta_min": round(best[0], 1) if best else None,
        "position_age_min": round(crew.fix_age_min, 1) if crew.fix_age_min is not None else None,
        "position_stale": stale,
    }


SAME_TIME_MIN = 0.5


def deciding_term(
    problem: Problem,
    job: Job,
    crew: Crew,
    eta: float,
    deadline: float | None,
    next_best_eta: float | None,
) -> str:
    """The term of the objective that gave *job* to *crew* rather than the next-best one.

    ``under_way``, ``pinned``, ``only_qualified_crew``; else, comparing with the
    next-best crew: ``on_time`` (this crew makes the deadline, the other would not),
    ``customers_restored_sooner`` (a fault with customers off supply reached sooner),
    ``travel`` (as soon or sooner, shorter drive or no customers waiting),
    ``kept_with_its_crew`` (the other crew is sooner, but by less than the divert
    threshold) or ``other_work_first`` (the sooner crew is worth more on its other jobs).
    """
    if job.at_head:
        return "under_way"
    if job.pinned_crew_id == crew.id:
        return "pinned"
    if next_best_eta is None:
        return "only_qualified_crew"
    if deadline is not None and eta <= deadline < next_best_eta:
        return "on_time"
    gain = next_best_eta - eta
    if gain > SAME_TIME_MIN and job.customers_off > 0:
        return "customers_restored_sooner"
    if gain >= -SAME_TIME_MIN:
        return "travel"
    if job.crew_id == crew.id and -gain <= problem.divert_threshold_min:
        return "kept_with_its_crew"
    return "other_work_first"


def _iso(problem: Problem, minutes: float) -> str:
    return (problem.now + timedelta(minutes=minutes)).isoformat()
