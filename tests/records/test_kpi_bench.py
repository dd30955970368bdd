"""The KPI benchmark runs end to end on a scratch database and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, service_env


def test_bench_prints_json_with_its_baseline(template_db_url):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridcrew",
            "bench",
            "kpi",
            "--faults",
            "2000",
            "--repeat",
            "1",
            "--json",
        ],
        env=service_env(template_db_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["benchmark"] == "kpi" and result["faults"] == 2000
    assert result["kpi_compute_s"] > 0 and result["baseline_fetch_raw_fault_rows_s"] > 0
