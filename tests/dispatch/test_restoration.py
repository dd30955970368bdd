"""Restoration first: customers off supply times the minutes until a crew arrives (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch import solver
from dispatch.model import Crew, Job, Point, Problem
from dispatch.rules import points
from dispatch.travel import GreatCircle

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
BASE = (120.755, 30.746)


def at(east_km: float, north_km: float = 0.0) -> Point:
    return Point(BASE[0] + east_km / 95.6, BASE[1] + north_km / 111.3, "urban")


def fault(jid: int, where: Point, **kw) -> Job:
    kw.setdefault("deadline_min", 45.0)
    kw.setdefault("service_min", 40.0)
    kw.setdefault("customers_off", 90)
    return Job(jid, "fault_repair", where, required_skills=frozenset({"cable"}), **kw)


def crew(cid: str, where: Point, shift_end_min: float = 600, **kw) -> Crew:
    return Crew(cid, frozenset({"cable"}), where, shift_end_min, **kw)


def solve(crews: list[Crew], jobs: list[Job]):
    problem = Problem(NOW, tuple(crews), tuple(jobs), time_limit_s=0.5)
    matrix = GreatCircle().table(points(problem), points(problem))
    return solver.plan(problem, matrix)


def test_a_free_nearby_crew_takes_the_fault_from_a_busy_one_that_would_still_be_on_time():
    # BUSY is next door but has a 30-min job first (on time all the same: 45 min);
    # FREE is 8 min away and idle: customers get their crew 20+ minutes sooner.
    busy = crew("BUSY", at(0.3), available_from_min=30)
    free = crew("FREE", at(3.5))
    plan = solve([busy, free], [fault(1, at(0))])
    (stop,) = plan.stops()
    assert stop.crew_id == "FREE"
    assert stop.explanation["decided_by"] == "customers_restored_sooner"
    assert stop.explanation["next_best_crew"] == "BUSY"
    assert stop.explanation["next_best_eta_min"] > stop.arrival_min + 15


def test_the_hospitals_fault_goes_first_when_crews_are_scarce():
    # one crew, two faults of the same priority: the nearer one feeds 150 homes, the
    # farther one a hospital; the hospital's customers wait least
    c = crew("C1", at(0))
    homes = fault(1, at(1.5), customers_off=150, priority=2, deadline_min=120)
    hospital = fault(
        2, at(-3), customers_off=20, critical_customers=1, priority=2, deadline_min=120
    )
    plan = solve([c], [homes, hospital])
    assert [s.job_id for s in plan.routes["C1"]] == [2, 1]

    # time for one job only before the shift ends: the hospital's is the one done
    short = crew("C1", at(0), shift_end_min=55)
    plan = solve([short], [homes, hospital])
    assert plan.crew_of() == {2: "C1"}
    assert [u.job_id for u in plan.unassigned] == [1]


def test_more_customers_off_supply_go_first_at_equal_deadlines():
    c = crew("C1", at(0))
    few = fault(1, at(1), customers_off=5, deadline_min=300)
    many = fault(2, at(-2.5), customers_off=400, deadline_min=300)
    plan = solve([c], [few, many])
    assert [s.job_id for s in plan.routes["C1"]] == [2, 1]


def test_explanation_names_the_deciding_term():
    # on time: only the chosen crew makes the deadline
    near, far = crew("NEAR", at(0)), crew("FAR", at(20))
    plan = solve([near, far], [fault(1, at(0.5), deadline_min=15)])
    assert plan.stops()[0].explanation["decided_by"] == "on_time"
    # travel: planned work with no customers off supply goes to the shorter drive
    install = Job(
        2,
        "meter_install",
        at(0.5),
        priority=4,
        required_skills=frozenset({"cable"}),
        window_start_min=0,
        window_end_min=600,
    )
    plan = solve([near, far], [install])
    assert plan.stops()[0].crew_id == "NEAR"
    assert plan.stops()[0].explanation["decided_by"] == "travel"
    # only one crew can take it
    plan = solve([near], [fault(3, at(2))])
    assert plan.stops()[0].explanation["decided_by"] == "only_qualified_crew"
