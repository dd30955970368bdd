"""The dispatcher's Prometheus metrics and how one re-plan moves them.

Never touches the database, the broker or the solver: the service loop hands over
what it has already computed (the problem, the plan, what was written).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from dispatch.model import Plan, Problem

SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)

LEADER = Gauge(
    "gridcrew_dispatch_leader", "1 while this instance holds the leader lock, 0 standing by"
)
PLANS = Counter("gridcrew_dispatch_plans_total", "Plans written, by trigger", ["trigger"])
SOLVE_SECONDS = Histogram(
    "gridcrew_dispatch_solve_duration_seconds", "Solver time of one re-plan", buckets=SECONDS
)
REPLAN_SECONDS = Histogram(
    "gridcrew_dispatch_replan_duration_seconds",
    "Load, travel times, solve and commit of one re-plan",
    buckets=SECONDS,
)
JOBS = Gauge("gridcrew_dispatch_jobs", "Jobs in the last plan")
UNASSIGNED = Gauge("gridcrew_dispatch_unassigned_jobs", "Jobs the last plan left unassigned")
LATE = Gauge(
    "gridcrew_dispatch_late_jobs", "Jobs of the last plan whose ETA is past their deadline"
)
LATE_WITH_FREE_CREW = Gauge(
    "gridcrew_dispatch_late_fault_repairs_with_idle_crew",
    "Late fault repairs in the last plan while a qualified crew has no stop at all",
)
CHANGES = Histogram(
    "gridcrew_dispatch_assignment_changes",
    "Assignments changed by one plan",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200),
)


def late_jobs(problem: Problem, plan: Plan) -> tuple[int, int]:
    """Jobs whose planned arrival is past their deadline, and of those the fault repairs
    some crew with the skills and no stop could have taken."""
    jobs = {j.id: j for j in problem.jobs}
    idle = [c for c in problem.crews if not plan.routes.get(c.id)]
    late = with_idle = 0
    for stop in plan.stops():
        job = jobs.get(stop.job_id)
        if job is None or job.deadline_min is None or stop.arrival_min <= job.deadline_min:
            continue
        late += 1
        if job.kind == "fault_repair" and any(job.required_skills <= c.skills for c in idle):
            with_idle += 1
    return late, with_idle


def planned(problem: Problem, plan: Plan, trigger: str, changed: int, total_s: float) -> None:
    """One re-plan written."""
    PLANS.labels(trigger).inc()
    SOLVE_SECONDS.observe(plan.solve_s)
    REPLAN_SECONDS.observe(total_s)
    JOBS.set(len(problem.jobs))
    UNASSIGNED.set(len(plan.unassigned))
    late, with_idle = late_jobs(problem, plan)
    LATE.set(late)
    LATE_WITH_FREE_CREW.set(with_idle)
    CHANGES.observe(changed)
