"""The pure dispatcher core: skills, pins, reasons, priorities, stability, optimality."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime

from bench import greedy
from dispatch import solver
from dispatch.model import Crew, Job, Point, Problem
from dispatch.rules import points
from dispatch.travel import CachedTravel, GreatCircle, Matrix

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BASE = (120.755, 30.746)


def at(east_km: float, north_km: float, kind: str = "urban") -> Point:
    return Point(BASE[0] + east_km / 95.6, BASE[1] + north_km / 111.3, kind)


def crew(cid: str, skills: set[str], pos: Point, shift_end_min: float = 600) -> Crew:
    return Crew(cid, frozenset(skills), pos, shift_end_min)


def job(jid: int, pos: Point, skills: set[str] = frozenset(), **kw) -> Job:
    kw.setdefault("deadline_min", 45.0)
    kw.setdefault("service_min", 30.0)
    return Job(jid, "fault_repair", pos, required_skills=frozenset(skills), **kw)


def solve(crews, jobs, time_limit_s: float = 0.3, **kw):
    problem = Problem(NOW, tuple(crews), tuple(jobs), time_limit_s=time_limit_s, **kw)
    matrix = GreatCircle().table(points(problem), points(problem))
    return solver.plan(problem, matrix), problem, matrix


def carry_over(jobs: list[Job], plan) -> list[Job]:
    """The jobs as the next re-plan sees them: with the crew and sequence of *plan*."""
    where = {s.job_id: s for s in plan.stops()}
    return [
        replace(j, crew_id=where[j.id].crew_id, sequence=where[j.id].sequence, status="assigned")
        if j.id in where
        else j
        for j in jobs
    ]


def test_skills_are_never_violated():
    rng = random.Random(7)
    skills = ["overhead_line", "cable", "transformer", "meter"]
    crews = [
        crew(f"C{i}", set(rng.sample(skills, 2)), at(rng.uniform(-5, 5), rng.uniform(-5, 5)))
        for i in range(6)
    ]
    jobs = [
        job(
            i,
            at(rng.uniform(-5, 5), rng.uniform(-5, 5)),
            set(rng.sample(skills, rng.randint(0, 2))),
        )
        for i in range(40)
    ]
    plan, _, _ = solve(crews, jobs)
    by_id = {c.id: c for c in crews}
    by_job = {j.id: j for j in jobs}
    assert plan.stops()
    for s in plan.stops():
        assert by_job[s.job_id].required_skills <= by_id[s.crew_id].skills
    for u in plan.unassigned:
        assert u.reason


def test_job_without_qualified_crew_is_unassigned_with_reason():
    crews = [crew("C1", {"cable"}, at(0, 0))]
    plan, _, _ = solve(crews, [job(1, at(1, 1), {"transformer"}), job(2, at(1, 0), {"cable"})])
    assert [s.job_id for s in plan.stops()] == [2]
    assert len(plan.unassigned) == 1
    assert plan.unassigned[0].job_id == 1
    assert "transformer" in plan.unassigned[0].reason


def test_manual_pin_and_forbid_are_obeyed():
    near, far = crew("NEAR", {"cable"}, at(0, 0)), crew("FAR", {"cable"}, at(8, 8))
    jobs = [
        job(1, at(0.5, 0), {"cable"}, pinned_crew_id="FAR"),
        job(2, at(0, 0.5), {"cable"}, forbidden_crew_ids=frozenset({"NEAR"})),
    ]
    plan, _, _ = solve([near, far], jobs)
    assert plan.crew_of() == {1: "FAR", 2: "FAR"}
    pinned = next(s for s in plan.stops() if s.job_id == 1)
    assert pinned.pinned and pinned.explanation["reason"] == "pinned by a dispatcher"


def test_job_under_way_stays_at_the_head_of_its_crew():
    c1, c2 = crew("C1", {"cable"}, at(0, 0)), crew("C2", {"cable"}, at(5, 0))
    jobs = [
        job(1, at(6, 0), {"cable"}, status="en_route", crew_id="C1", sequence=1),
        job(2, at(0.2, 0), {"cable"}),
        job(3, at(5.2, 0), {"cable"}),
    ]
    plan, _, _ = solve([c1, c2], jobs)
    assert plan.routes["C1"][0].job_id == 1
    assert plan.routes["C1"][0].sequence == 1
    assert plan.routes["C1"][0].pinned


def test_deadline_critical_job_goes_first_when_crews_are_scarce():
    # One crew, time for one job before its shift ends: the priority-1 fault wins,
    # although the priority-5 one is nearer.
    c = crew("C1", {"cable"}, at(0, 0), shift_end_min=50)
    jobs = [
        job(1, at(1, 0), {"cable"}, priority=5),
        job(2, at(2, 0), {"cable"}, priority=1),
    ]
    plan, _, _ = solve([c], jobs)
    assert plan.crew_of() == {2: "C1"}
    assert [u.job_id for u in plan.unassigned] == [1]
    assert "more urgent" in plan.unassigned[0].reason


def test_urgent_job_is_visited_first_in_a_route():
    c = crew("C1", {"cable"}, at(0, 0))
    jobs = [
        job(1, at(1, 0), priority=5, service_min=40),
        job(2, at(3, 0), priority=1, service_min=40),
    ]
    plan, _, _ = solve([c], jobs)
    assert [s.job_id for s in plan.routes["C1"]] == [2, 1]


def test_one_new_job_keeps_the_other_routes():
    rng = random.Random(3)
    crews = [crew(f"C{i}", {"cable"}, at(rng.uniform(-4, 4), rng.uniform(-4, 4))) for i in range(5)]
    # no deadline pressure: any gain is travel, and no single move saves 30 min here
    jobs = [
        job(i, at(rng.uniform(-4, 4), rng.uniform(-4, 4)), {"cable"}, deadline_min=None)
        for i in range(15)
    ]
    first, _, _ = solve(crews, jobs, time_limit_s=0.5)
    before = first.crew_of()
    jobs = carry_over(jobs, first) + [job(99, at(0, 0), {"cable"}, deadline_min=None)]
    second, _, _ = solve(crews, jobs, time_limit_s=0.5, divert_threshold_min=30)
    after = second.crew_of()
    assert 99 in after
    assert {j: after[j] for j in before} == before
    assert second.stats["warm_started"]


def test_a_held_job_moves_only_when_the_gain_beats_the_threshold():
    # Job 1 is held by FAR (20 min away); NEAR is idle 2 min away.
    near, far = crew("NEAR", {"cable"}, at(0, 0)), crew("FAR", {"cable"}, at(6, 0))
    held = job(
        1, at(0.5, 0), {"cable"}, deadline_min=None, crew_id="FAR", sequence=1, status="assigned"
    )
    keep, _, _ = solve([near, far], [held], divert_threshold_min=60)
    move, _, _ = solve([near, far], [held], divert_threshold_min=5)
    assert keep.crew_of() == {1: "FAR"}
    assert move.crew_of() == {1: "NEAR"}


def test_explanation_names_eta_slack_skill_and_next_best_crew():
    c1, c2 = crew("C1", {"cable", "meter"}, at(0, 0)), crew("C2", {"cable"}, at(4, 0))
    plan, _, _ = solve([c1, c2], [job(1, at(0.5, 0), {"cable"})])
    (stop,) = plan.stops()
    e = stop.explanation
    assert stop.crew_id == "C1"
    assert e["skill"] == "cable"
    assert e["next_best_crew"] == "C2"
    assert e["next_best_eta_min"] > e["eta_min"] > 0
    assert e["slack_min"] == round(45 - stop.arrival_min, 1)
    assert e["distance_km"] > 0 and e["deadline"] and e["eta"]


def test_small_instance_matches_brute_force():
    rng = random.Random(11)
    crews = [crew("C1", set(), at(-2, 0)), crew("C2", set(), at(2, 1))]
    jobs = [
        job(i, at(rng.uniform(-4, 4), rng.uniform(-3, 3)), deadline_min=None, service_min=10)
        for i in range(5)
    ]
    plan, problem, matrix = solve(crews, jobs, time_limit_s=0.5)
    n = len(crews)
    secs = [[round(m * 60) for m in row] for row in matrix.minutes]

    def cost(v: int, order: tuple[int, ...]) -> int:
        nodes = [v] + [n + k for k in order]
        return sum(secs[a][b] for a, b in zip(nodes, nodes[1:], strict=False))

    best = min(
        sum(cost(v, order) for v, order in enumerate(split))
        for perm in itertools.permutations(range(len(jobs)))
        for cut in range(len(jobs) + 1)
        for split in [(perm[:cut], perm[cut:])]
    )
    index = {j.id: k for k, j in enumerate(jobs)}
    got = sum(
        cost(v, tuple(index[s.job_id] for s in plan.routes[c.id])) for v, c in enumerate(crews)
    )
    assert not plan.unassigned
    assert got == best


def test_greedy_baseline_sends_the_nearest_available_crew():
    c1, c2 = crew("C1", {"cable"}, at(0, 0)), crew("C2", {"cable"}, at(5, 0))
    problem = Problem(NOW, (c1, c2), (job(1, at(4.5, 0), {"cable"}),))
    matrix = GreatCircle().table(points(problem), points(problem))
    assert greedy.plan(problem, matrix).crew_of() == {1: "C2"}


class Counting(GreatCircle):
    calls: list[tuple[int, int]]

    def table(self, sources, destinations) -> Matrix:
        self.calls.append((len(sources), len(destinations)))
        return super().table(sources, destinations)


def test_travel_cache_asks_only_about_new_points():
    provider = Counting()
    object.__setattr__(provider, "calls", [])
    cache = CachedTravel(provider)
    pts = [at(i, 0) for i in range(4)]
    first = cache.table(pts, pts)
    assert provider.calls == [(4, 4)]
    again = cache.table(pts, pts)
    assert again == first and provider.calls == [(4, 4)]
    cache.table(pts + [at(9, 9, "rural")], pts + [at(9, 9, "rural")])
    assert provider.calls[1:] == [(1, 5), (4, 1)]
    urban = GreatCircle().leg(at(0, 0), at(3, 0))[0]
    rural = GreatCircle().leg(at(0, 0, "rural"), at(3, 0, "rural"))[0]
    assert urban > rural


def test_meter_install_waits_for_its_window_and_yields_to_faults():
    c = crew("C1", {"meter", "cable"}, at(0, 0), shift_end_min=240)
    install = Job(
        1,
        "meter_install",
        at(1, 0),
        priority=4,
        required_skills=frozenset({"meter"}),
        service_min=45,
        window_start_min=120,
        window_end_min=240,
    )
    plan, _, _ = solve([c], [install, job(2, at(2, 0), {"cable"}, priority=2)])
    route = plan.routes["C1"]
    assert [s.job_id for s in route] == [2, 1]
    # told to be there when the window opens, not to drive there early and wait
    assert route[1].start_min == route[1].arrival_min == 120
    e = route[1].explanation
    assert e["waits_for_window"] and e["wait_min"] > 0 and e["leave_at"] < e["eta"]
    assert e["slack_min"] > 0

    # no time for both before the shift ends: the fault is served, the install waits
    short = replace(c, shift_end_min=200)
    long_fault = job(2, at(2, 0), {"cable"}, priority=2, service_min=150)
    plan, _, _ = solve([short], [install, long_fault])
    assert plan.crew_of() == {2: "C1"} and [u.job_id for u in plan.unassigned] == [1]
