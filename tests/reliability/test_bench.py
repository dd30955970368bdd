"""``gridcrew bench reliability`` runs end to end on a scratch database it drops, and
prints one JSON object with both timings."""

from __future__ import annotations

import psycopg

from tests.conftest import SERVER_URL, gridcrew_json


def bench_databases() -> set[str]:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'gridcrew_bench_reliability_%'"
        ).fetchall()
    return {r[0] for r in rows}


def test_bench_prints_both_timings_and_drops_its_database():
    before = bench_databases()
    result = gridcrew_json(
        "bench", "reliability", "--customers", "2000", "--days", "30", "--repeat", "1", "--json"
    )
    assert result["benchmark"] == "reliability"
    assert result["indices_seconds"] > 0 and result["fetch_seconds"] > 0
    assert result["feeders"] == 2
    # one customer in a hundred is connected during the period, so fewer are served
    assert 1980 <= result["customers_served"] < 2000
    assert result["power_events"] > 0
    assert bench_databases() == before
