"""``gridcrew bench ingest`` prints the figures issue 3 asks for, and loses nothing."""

from __future__ import annotations

from tests.conftest import gridcrew_json


def test_ingest_bench_prints_rates_baselines_and_cpu_per_row():
    r = gridcrew_json("bench", "ingest", "--messages", "3000", "--batch-size", "50", "--json")
    assert r["published_rows"] == r["stored"] == 150_000
    assert r["lost"] == r["duplicates"] == 0
    for key in ("rows_per_s", "copy_limit_rows_per_s", "naive_rows_per_s", "mqtt_limit_msgs_per_s"):
        assert r[key] > 0, key
    # the gateway's processes spend CPU on every row, its MQTT link a part of it (the
    # link's share can round to 0: /proc counts 10 ms ticks)
    assert r["cpu_us_per_row"] > 0
    assert 0 <= r["link_cpu_us_per_row"] <= r["cpu_us_per_row"]
