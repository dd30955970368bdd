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


def test_storm_bench_compares_ortools_with_greedy_on_the_same_storm():
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
    for policy in ("ortools", "greedy"):
        keys = {
            "on_time_urban",
            "on_time_rural",
            "mean_arrival_min",
            "p90_arrival_min",
            "km_driven",
            "unassigned",
            "solve_ms_p50",
            "solve_ms_p99",
        }
        assert keys <= r[policy].keys()
        assert r[policy]["replans"] == 12
    assert r["urban_faults"] + r["rural_faults"] == 12
