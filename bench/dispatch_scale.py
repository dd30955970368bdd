"""Re-plan time against a real database at growing job counts (benchmark only).

Creates a scratch database on the configured server (never the stack's own),
migrates it, loads a small demo territory, tops the crews up, then for each
job count writes that many open faults and times a full re-plan (load,
matrix, solve, commit) cold and again after one new job (warm). Drops the
scratch database at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from typing import Any

from bench.storm import SKILL_OF_LINE
from dispatch import service
from dispatch.travel import provider_for
from gridcrew import db
from gridcrew.config import get_settings
from gridcrew.grid import SKILLS
from simulators.demo.seed import seed


def _add_crews(conn, n_crews: int) -> None:
    have = conn.execute("SELECT count(*) AS n FROM crews").fetchone()["n"]
    depots = [r["id"] for r in conn.execute("SELECT id FROM depots ORDER BY id")]
    rng = random.Random(n_crews)
    for i in range(have, n_crews):
        conn.execute(
            "INSERT INTO crews (id, name, skills, depot_id) VALUES (%s, %s, %s, %s)",
            (f"CREW-{i + 1:02d}", f"Crew {i + 1:02d}", rng.sample(SKILLS, 2), depots[i % 2]),
        )


def _add_faults(conn, n: int, rng: random.Random) -> None:
    sites = conn.execute(
        "SELECT t.lon, t.lat, s.line_type FROM transformers t"
        " JOIN feeder_sections s ON s.id = t.section_id ORDER BY t.id"
    ).fetchall()
    for _ in range(n):
        site = rng.choice(sites)
        skill = "transformer" if rng.random() < 0.2 else SKILL_OF_LINE[site["line_type"]]
        conn.execute(
            "INSERT INTO work_orders (kind, priority, lon, lat, required_skills,"
            " service_time_min, reported_at, arrival_deadline)"
            " VALUES ('fault_repair', %s, %s, %s, %s, %s, now() - %s * interval '1 minute',"
            " now() + interval '45 minutes')",
            (
                rng.choice([1, 2, 3]),
                site["lon"],
                site["lat"],
                [skill],
                rng.randint(30, 75),
                rng.randint(0, 30),
            ),
        )


def bench(sizes: list[int], n_crews: int, time_limit_s: float) -> dict[str, Any]:
    settings = get_settings().model_copy(update={"dispatch_time_limit_s": time_limit_s})
    name = f"gridcrew_bench_dispatch_{os.getpid()}"
    url = db.with_database(settings.database_url, name)
    db.drop_database(url, name)
    with contextlib.redirect_stdout(sys.stderr):  # yoyo prints query results; stdout is JSON
        db.migrate(url)
    results = []
    try:
        with db.connect(url, autocommit=True) as conn:
            with conn.transaction():
                seed(conn, 1, meters=200)
                _add_crews(conn, n_crews)
            for size in sizes:
                conn.execute("DELETE FROM assignments")
                conn.execute("DELETE FROM dispatch_plans")
                conn.execute("DELETE FROM work_orders")
                _add_faults(conn, size, random.Random(size))
                travel = provider_for(settings.osrm_url)
                row: dict[str, Any] = {"jobs": size, "crews": n_crews}
                for phase in ("cold", "one_new_job"):
                    if phase == "one_new_job":
                        _add_faults(conn, 1, random.Random(-size))
                    started = time.perf_counter()
                    written = service.replan(conn, settings, travel, leader="bench", trigger=phase)
                    total = time.perf_counter() - started
                    plan = conn.execute(
                        "SELECT solve_ms, assigned, jsonb_array_length(unassigned) AS unassigned"
                        " FROM dispatch_plans WHERE id = %s",
                        (written.plan_id,),
                    ).fetchone()
                    row[phase] = {
                        "replan_s": round(total, 2),
                        "solve_s": round(plan["solve_ms"] / 1000, 2),
                        "assigned": plan["assigned"],
                        "unassigned": plan["unassigned"],
                        "changed": len(written.changed_jobs),
                    }
                results.append(row)
    finally:
        db.drop_database(url, name)
    return {"time_limit_s": time_limit_s, "crews": n_crews, "sizes": results}
