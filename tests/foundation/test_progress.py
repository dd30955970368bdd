"""Long commands show progress on a terminal and stay quiet when not on one or with
``--json``: a real ``gridcrew`` under a pseudo-terminal, and the same piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.conftest import ROOT, service_env


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``gridcrew *args`` with stdout and stderr on a pseudo-terminal; its output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridcrew", *args],
        cwd=ROOT,
        env=env,
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command exited
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return proc.wait(60), out.decode(errors="replace")


def test_seed_demo_shows_its_steps_on_a_terminal_only(db_url):
    env = service_env(db_url, TERM="xterm")
    code, shown = on_terminal(["seed-demo"], env)
    assert code == 0
    assert "loading the demo territory" in shown and "sealing the audit chain" in shown
    assert "already loaded" in shown

    piped = subprocess.run(
        [sys.executable, "-m", "gridcrew", "seed-demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0
    assert piped.stdout.strip() == "demo territory already loaded (use --replace to reload)"
    assert "loading the demo territory" not in piped.stderr and "\x1b[" not in piped.stderr


def test_bench_shows_progress_on_a_terminal_and_is_quiet_with_json(tmp_path):
    """The same benchmark (a tiny VRPTW instance) on a terminal: its spinner and elapsed
    time; with ``--json``: only the JSON."""
    from bench import vrptw

    instance = tmp_path / "tiny.txt"
    instance.write_text(
        vrptw.to_solomon_text(
            vrptw.Instance(
                name="tiny",
                vehicles=2,
                capacity=10,
                coords=[(0, 0), (1, 1), (2, 0), (0, 2)],
                demand=[0, 1, 1, 1],
                windows=[(0, 100), (0, 100), (0, 100), (0, 100)],
                service=[0, 1, 1, 1],
            )
        )
    )
    env = {**os.environ, "TERM": "xterm"}
    args = ["bench", "vrptw", "--instance", str(instance), "--time-limit", "0.2"]
    code, shown = on_terminal(args, env)
    assert code == 0 and "bench vrptw" in shown and "0:00:0" in shown
    code, shown = on_terminal([*args, "--json"], env)
    assert code == 0 and "bench vrptw" not in shown and "0:00:0" not in shown
    assert shown.strip().startswith("{")
