"""``gridcrew bench api`` prints the figures issue 5 asks for, on a throw-away database."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_api_bench_prints_latencies_cpu_and_photo_memory():
    out = subprocess.run(
        [sys.executable, "-m", "gridcrew", "bench", "api", "--json"]
        # 200 requests a phase: enough CPU for /proc's 10 ms ticks to show
        + ["--rate", "100", "--seconds", "2", "--photos", "3", "--photo-mb", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    for phase in ("baseline_auth_me", "my_jobs", "check_in"):
        p = r[phase]
        assert p["requests"] == 200 and p["errors"] == 0, (phase, p)
        assert 0 < p["p50_ms"] <= p["p99_ms"] <= p["max_ms"]
        assert p["api_cpu_ms_per_request"] > 0
    photos = r["photo_upload"]
    assert photos["created"] == photos["photos"] == 3
    assert photos["rss_peak_mb"] >= photos["rss_idle_mb"] > 0
