"""One timetable: the solver's arrivals are the ETAs everybody is shown (pure core).

Built from the situation seen on ``./dev up`` (issue 17): a crew on site at an
installation whose window opens hours later, a rural fault, and a free crew 22 min
away from it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from dispatch import solver
from dispatch.model import Crew, Job, Point, Problem
from dispatch.rules import current_route, points, timetable
from dispatch.travel import GreatCircle

NOW = datetime(2026, 12, 7, 23, 10, tzinfo=UTC)  # the fault was reported at 23:05
BASE = (120.60, 30.60)


def at(east_km: float, north_km: float, kind: str = "rural") -> Point:
    return Point(BASE[0] + east_km / 95.6, BASE[1] + north_km / 111.3, kind)


def solve(crews: list[Crew], jobs: list[Job], **kw) -> tuple:
    problem = Problem(NOW, tuple(crews), tuple(jobs), time_limit_s=0.5, **kw)
    matrix = GreatCircle().table(points(problem), points(problem))
    return solver.plan(problem, matrix), problem, matrix


def the_situation(*, crew_06_free: bool = True) -> tuple[list[Crew], list[Job]]:
    install_site, fault_site = at(0, 0), at(10, 0)
    crew_04 = Crew("CREW-04", frozenset({"overhead_line", "meter"}), install_site, 600)
    crew_06 = Crew("CREW-06", frozenset({"overhead_line", "cable"}), at(23.5, 0), 600)
    install = Job(
        3,
        "meter_install",
        install_site,
        priority=4,
        required_skills=frozenset({"meter"}),
        service_min=50,  # remaining: one hour's work, ten minutes done
        window_start_min=174,  # the appointment window opens at 02:04
        window_end_min=294,
        status="on_site",
        crew_id="CREW-04",
        sequence=1,
    )
    fault = Job(
        7,
        "fault_repair",
        fault_site,
        priority=3,
        required_skills=frozenset({"overhead_line"}),
        service_min=60,
        deadline_min=85,  # 00:35
        customers_off=96,
    )
    crews = [crew_04, crew_06] if crew_06_free else [crew_04]
    return crews, [install, fault]


def test_solver_arrivals_are_the_explained_etas_and_the_free_crew_takes_the_fault():
    crews, jobs = the_situation()
    plan, problem, matrix = solve(crews, jobs)
    stops = {s.job_id: s for s in plan.stops()}
    for s in stops.values():
        assert abs(plan.solver_arrival_min[s.job_id] - s.arrival_min) < 0.1
        assert s.explanation["eta_min"] == round(s.arrival_min, 1)
    # the crew on site does not wait for the window of the job it is already doing
    assert stops[3].crew_id == "CREW-04" and stops[3].arrival_min == 0
    assert stops[3].explanation["wait_min"] == 0
    # the fault goes to the crew that reaches it first: CREW-06, free, about 22 min away
    assert stops[7].crew_id == "CREW-06"
    assert 15 < stops[7].arrival_min < 30
    assert stops[7].explanation["decided_by"] == "customers_restored_sooner"
    assert stops[7].explanation["next_best_crew"] == "CREW-04"
    assert stops[7].explanation["slack_min"] > 0


def test_without_the_free_crew_the_fault_follows_the_install_at_its_true_time():
    crews, jobs = the_situation(crew_06_free=False)
    plan, problem, matrix = solve(crews, jobs)
    route = plan.routes["CREW-04"]
    assert [s.job_id for s in route] == [3, 7]
    drive = matrix.minutes[0][len(crews) + 1]
    assert abs(route[1].arrival_min - (50 + drive)) < 0.1  # not after 02:04 + an hour
    assert abs(plan.solver_arrival_min[7] - route[1].arrival_min) < 0.1
    assert route[1].explanation["slack_min"] > 0


def test_en_route_eta_counts_from_the_last_fix_not_from_now():
    # the crew's last fix is 12 min old and it has been driving since: the ETA is the
    # fix's time plus the drive, not now plus the drive
    site = at(10, 0)
    fresh = Crew("C1", frozenset(), at(0, 0), 600, fix_age_min=0.0)
    stale = Crew("C1", frozenset(), at(0, 0), 600, fix_age_min=30.0, driven_min=12.0)
    going = Job(1, "fault_repair", site, deadline_min=60, status="en_route", crew_id="C1")
    now_plan, _, matrix = solve([fresh], [going])
    late_plan, _, _ = solve([stale], [going])
    drive = matrix.minutes[0][1]
    assert abs(now_plan.routes["C1"][0].arrival_min - drive) < 0.1
    assert abs(late_plan.routes["C1"][0].arrival_min - (drive - 12)) < 0.1
    assert abs(late_plan.solver_arrival_min[1] - (drive - 12)) < 0.1
    e = late_plan.routes["C1"][0].explanation
    assert e["position_stale"] and e["position_age_min"] == 30.0
    assert not now_plan.routes["C1"][0].explanation["position_stale"]


def test_solver_and_timetable_agree_on_any_mix_of_windows_heads_and_faults():
    for seed in range(4):
        rng = random.Random(seed)
        crews = [
            Crew(
                f"C{i}",
                frozenset({"cable", "meter"}),
                at(rng.uniform(-8, 8), rng.uniform(-8, 8), "urban"),
                600,
                available_from_min=rng.choice([0.0, 0.0, 20.0]),
                fix_age_min=rng.uniform(0, 30),
                driven_min=rng.uniform(0, 10),
            )
            for i in range(3)
        ]
        jobs = []
        for k in range(12):
            windowed = rng.random() < 0.4
            start = rng.uniform(0, 240) if windowed else None
            jobs.append(
                Job(
                    k + 1,
                    "meter_install" if windowed else "fault_repair",
                    at(rng.uniform(-8, 8), rng.uniform(-8, 8), "urban"),
                    priority=rng.randint(1, 4),
                    service_min=rng.uniform(10, 60),
                    deadline_min=None if windowed else rng.uniform(20, 90),
                    window_start_min=start,
                    window_end_min=start + 120 if start is not None else None,
                    customers_off=0 if windowed else rng.randint(1, 200),
                )
            )
        jobs[0] = Job(
            1,
            "meter_install",
            crews[0].position,
            service_min=30,
            window_start_min=300,
            status="on_site",
            crew_id="C0",
        )
        jobs[1] = Job(
            2, "fault_repair", jobs[1].location, deadline_min=30, status="en_route", crew_id="C1"
        )
        plan, problem, matrix = solve(crews, jobs)
        for v, c in enumerate(problem.crews):
            order = [
                next(k for k, j in enumerate(problem.jobs) if j.id == s.job_id)
                for s in plan.routes[c.id]
            ]
            table = timetable(problem, matrix, v, order)
            for s, visit in zip(plan.routes[c.id], table, strict=True):
                assert s.arrival_min == visit.arrival_min
                assert abs(plan.solver_arrival_min[s.job_id] - visit.arrival_min) < 0.1, seed
        assert plan.stats["timetable_gap_max_min"] < 0.1


def test_current_route_orders_the_held_jobs_as_the_timetable_takes_them():
    crews, jobs = the_situation()
    held = [
        Job(9, "fault_repair", at(1, 1), status="assigned", crew_id="CREW-04", sequence=3),
        Job(8, "fault_repair", at(2, 1), status="assigned", crew_id="CREW-04", sequence=2),
    ]
    problem = Problem(NOW, tuple(crews), (*held, *jobs))
    v, order = current_route(problem, "CREW-04")
    assert v == 0 and [problem.jobs[k].id for k in order] == [3, 8, 9]
    matrix = GreatCircle().table(points(problem), points(problem))
    table = timetable(problem, matrix, v, order)
    assert table[0].arrival_min == 0 and table[1].arrival_min >= 50
