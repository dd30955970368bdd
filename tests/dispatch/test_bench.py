"""The benchmark commands print JSON with the figures the issue asks for."""

from __future__ import annotations

from tests.conftest import gridcrew_json


def test_vrptw_bench_prints_vehicles_distance_feasibility_and_gap():
    r = gridcrew_json(
        "bench",
        "vrptw",
        "--instance",
        "/work/shared/benchmarks/solomon/C101.txt",
        "--time-limit",
        "0.3",
        "--json",
    )
    assert r["feasible"] and r["vehicles"] <= 25 and r["best_known"] == 828.94
    assert r["gap_pct"] >= 0 and r["seconds"] > 0


def test_vrptw_bench_runs_homberger_200_with_pyvrp_as_the_baseline_in_the_same_run():
    r = gridcrew_json(
        "bench",
        "vrptw",
        "--instance",
        "/work/shared/benchmarks/homberger_200/c1_2_2.txt",
        "--time-limit",
        "1",
        "--json",
    )
    assert r["feasible"] and r["pyvrp"]["feasible"]
    assert r["pyvrp"]["seconds"] <= 3
    expected = (r["distance"] / r["pyvrp"]["distance"] - 1) * 100
    assert abs(r["gap_to_pyvrp_pct"] - expected) < 0.01


def test_storm_bench_compares_ortools_with_both_baselines_on_the_same_storm():
    r = gridcrew_json(
        "bench",
        "storm",
        "--seed",
        "4",
        "--faults",
        "12",
        "--crews",
        "3",
        "--time-limit",
        "0.1",
        "--json",
    )
    for policy in ("ortools", "greedy", "edf"):
        keys = {
            "on_time",
            "on_time_urban",
            "on_time_rural",
            "customer_minutes",
            "mean_arrival_min",
            "p90_arrival_min",
            "max_arrival_min",
            "km_driven",
            "unassigned",
            "solve_ms_p50",
            "solve_ms_p99",
        }
        assert keys <= r[policy].keys()
        assert r[policy]["replans"] >= 12  # every arrival, and a crew freed with faults waiting
        assert r[policy]["unassigned"] == 0 and r[policy]["customer_minutes"] > 0
    assert r["urban_faults"] + r["rural_faults"] == 12
    versus = r["versus_better_baseline"]
    assert versus["on_time_baseline"] in ("greedy", "edf")
    best = max(r["greedy"]["on_time"], r["edf"]["on_time"])
    assert versus["on_time_gain_points"] == round(100 * (r["ortools"]["on_time"] - best), 1)
