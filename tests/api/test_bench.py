"""``gridcrew bench api`` prints the figures issue 5 asks for, on a throw-away database."""

from __future__ import annotations

from tests.conftest import gridcrew_json


def test_api_bench_prints_latencies_cpu_and_photo_memory():
    r = gridcrew_json(
        "bench",
        "api",
        "--json",
        # 200 requests a phase: enough CPU for /proc's 10 ms ticks to show
        *("--rate", "100", "--seconds", "2", "--photos", "3", "--photo-mb", "1"),
        timeout=300,
    )
    for phase in ("baseline_auth_me", "my_jobs", "check_in"):
        p = r[phase]
        assert p["requests"] == 200 and p["errors"] == 0, (phase, p)
        assert 0 < p["p50_ms"] <= p["p99_ms"] <= p["max_ms"]
        assert p["api_cpu_ms_per_request"] > 0
    photos = r["photo_upload"]
    assert photos["created"] == photos["photos"] == 3
    assert photos["rss_peak_mb"] >= photos["rss_idle_mb"] > 0
