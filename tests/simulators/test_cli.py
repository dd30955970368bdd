"""The ``gridcrew simulate`` commands: byte-identical dry runs, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from gridcrew.broker import is_listening
from gridcrew.net import free_port
from tests.conftest import ROOT, stop_process
from tests.simulators.test_broker import monitor  # noqa: F401  (fixture)

GRIDCREW = [sys.executable, "-m", "gridcrew", "simulate"]


def two_free_ports() -> int:
    """A port P with P and P+1 both free right now."""
    import socket

    while True:
        base = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base


def _dry(*args: str) -> bytes:
    return subprocess.run(
        [*GRIDCREW, *args, "--dry-run"], cwd=ROOT, check=True, capture_output=True, timeout=120
    ).stdout


def test_dry_runs_are_byte_identical_for_a_seed():
    args = (
        "meters",
        "--count",
        "50",
        "--interval",
        "5",
        "--duration",
        "60",
        "--batch",
        "--skew",
        "--duplicates",
        "0.1",
        "--out-of-order",
        "0.1",
        "--malformed",
        "0.1",
        "--faults",
        "2",
        "--start",
        "2026-12-01T08:00:00Z",
    )
    a = _dry(*args, "--seed", "5")
    assert a and a == _dry(*args, "--seed", "5")
    assert a != _dry(*args, "--seed", "6")


def _wait(condition, what: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, f"exited with {proc.returncode} before {what}"
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def _sigterm_exits_zero(proc: subprocess.Popen) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop_process(proc)


def test_meters_and_fci_stop_cleanly_on_sigterm(broker, monitor):  # noqa: F811
    meters = subprocess.Popen([*GRIDCREW, "meters", "--count", "30", "--interval", "1"], cwd=ROOT)
    fci = subprocess.Popen([*GRIDCREW, "fci", "--fault-every", "2"], cwd=ROOT)
    try:
        _wait(
            lambda: any(t.endswith("/readings") for t in monitor.snapshot_topics()),
            "reading",
            meters,
        )
        _wait(
            lambda: any("/FCI-" in t and t.endswith("/events") for t in monitor.snapshot_topics()),
            "indicator event",
            fci,
        )
    finally:
        _sigterm_exits_zero(meters)
        _sigterm_exits_zero(fci)


def test_modbus_stops_cleanly_on_sigterm():
    base = two_free_ports()
    proc = subprocess.Popen([*GRIDCREW, "modbus", "--port-base", str(base)], cwd=ROOT)
    try:
        _wait(
            lambda: is_listening("127.0.0.1", base) and is_listening("127.0.0.1", base + 1),
            "listening servers",
            proc,
        )
    finally:
        _sigterm_exits_zero(proc)


def test_storm_runs_to_its_end_over_the_broker(broker, monitor):  # noqa: F811
    base = two_free_ports()
    proc = subprocess.Popen(
        [
            *GRIDCREW,
            "storm",
            "--seed",
            "2",
            "--faults",
            "4",
            "--duration",
            "0.1",
            "--speed",
            "60",
            "--meters",
            "400",
            "--interval-min",
            "1",
            "--no-crews",
            "--no-reports",
            "--modbus",
            "--port-base",
            str(base),
        ],
        cwd=ROOT,
    )
    try:
        _wait(lambda: is_listening("127.0.0.1", base), "Modbus servers", proc)
        assert proc.wait(90) == 0
    finally:
        stop_process(proc)
    topics = monitor.snapshot_topics()
    assert any(t.startswith("devices/DC-") and t.endswith("/readings") for t in topics)
    assert any(t.startswith("devices/DC-") and t.endswith("/events") for t in topics)
    assert any(t.startswith("devices/FCI-") and t.endswith("/events") for t in topics)


def test_demo_and_crews_stop_cleanly_on_sigterm(broker, monitor):  # noqa: F811
    nowhere = f"http://127.0.0.1:{free_port()}"  # the API is not running: they keep trying
    demo = subprocess.Popen(
        [
            *GRIDCREW,
            "demo",
            "--speed",
            "300",
            "--meters",
            "300",
            "--fault-every",
            "1",
            "--api-url",
            nowhere,
        ],
        cwd=ROOT,
    )
    crews = subprocess.Popen([*GRIDCREW, "crews", "--api-url", nowhere], cwd=ROOT)
    try:
        _wait(
            lambda: any(t.startswith("devices/DC-") for t in monitor.snapshot_topics()),
            "concentrator message",
            demo,
        )
        _wait(
            lambda: any(
                t.startswith("devices/FCI-") and t.endswith("/events")
                for t in monitor.snapshot_topics()
            ),
            "indicator event",
            demo,
        )
        assert crews.poll() is None
    finally:
        _sigterm_exits_zero(demo)
        _sigterm_exits_zero(crews)


def test_bench_prints_json_figures(broker):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridcrew",
            "bench",
            "simulate-meters",
            "--meters",
            "300",
            "--ticks",
            "2",
            "--json",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    ).stdout
    figures = json.loads(out)
    assert figures["acked"] == figures["messages"] > 0
    for key in (
        "generate_readings_per_s",
        "baseline_serialise_readings_per_s",
        "publish_msgs_per_s",
        "baseline_single_login_msgs_per_s",
        "peak_rss_mb",
    ):
        assert figures[key] > 0
