"""``gridcrew up``: the whole stack in the foreground, stopped cleanly by Ctrl-C.

Starts the project's broker (unless one already listens on the configured
port), then gateway, Modbus bridge, dispatcher, API, the notification worker
(with a simulated SMS gateway as its receiver when no webhook is configured)
and the demo simulators as child processes. If any of them dies, the rest are stopped too, so a
broken stack never looks alive.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridcrew import broker, db, net
from gridcrew.config import Settings, get_settings
from gridcrew.secret_policy import require

METRICS_PORTS = {"gateway": 9101, "dispatch": 9102, "modbus": 9103}
"""Where ``gridcrew up`` serves the metrics of its processes unless the settings say
(``GRIDCREW_<NAME>_METRICS_PORT``); deploy/prometheus/prometheus.yml scrapes these."""

SERVICES: list[tuple[str, list[str]]] = [
    ("gateway", ["gateway"]),
    ("dispatcher", ["dispatch"]),
    ("api", ["api"]),
]
# The demo storm also serves the Modbus field devices, so their registers show its faults.
SIMULATORS: list[tuple[str, list[str]]] = [("simulators", ["simulate", "demo", "--modbus"])]
BRIDGES: list[tuple[str, list[str]]] = [("modbus-bridge", ["gateway", "modbus"])]


def _gridcrew() -> list[str]:
    exe = Path(sys.executable).parent / "gridcrew"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gridcrew"]


def run_stack(*, simulators: bool = True) -> int:
    require("gridcrew up")
    s = get_settings()
    addr = broker.BrokerAddress.from_url(s.mqtt_url)
    procs: list[tuple[str, subprocess.Popen]] = []
    if not broker.is_listening(addr.host, addr.port):
        with db.connect() as conn:
            ids = broker.device_ids_from_db(conn)
        directory = s.data_dir / "mosquitto"
        tls = broker.tls_listener(directory, addr.host, s.mqtt_tls_port)
        conf = broker.render(directory, ids, host=addr.host, port=addr.port, tls_listener=tls)
        procs.append(("broker", broker.start(conf, addr.host, addr.port)))
        print(
            f"broker      mqtt://{addr.host}:{addr.port} ({len(ids)} device logins), "
            f"TLS with device certificates on {s.mqtt_tls_port}"
        )
    env, where = metrics_env(s)
    for name, args in SERVICES + (SIMULATORS if simulators else []) + BRIDGES:
        procs.append((name, subprocess.Popen(_gridcrew() + args, env=env)))
        time.sleep(0.3)
    notify_env, sms_gateway = None, None
    if not s.notify_webhook_url:  # the demo: deliver to a local simulated SMS gateway
        port = net.free_port(s.api_host)
        sms_gateway = f"http://{s.api_host}:{port}/"
        notify_env = {
            **os.environ,
            "GRIDCREW_NOTIFY_WEBHOOK_URL": sms_gateway,
            "GRIDCREW_NOTIFY_WEBHOOK_SECRET": secrets.token_hex(32),
        }
        args = ["simulate", "sms-gateway", "--host", s.api_host, "--port", str(port)]
        procs.append(("sms-gateway", subprocess.Popen(_gridcrew() + args, env=notify_env)))
    procs.append(("notify", subprocess.Popen(_gridcrew() + ["notify"], env=notify_env)))
    base = f"http://{s.api_host}:{s.api_port}"
    print(
        f"API docs    {base}/docs\nhealth      {base}/healthz\n"
        f"metrics     {base}/metrics (API), {where}\n"
        f"map         {base}/map   (dispatcher / {s.demo_password})\n"
        f"crew app    {base}/crew/ (crew-01 … crew-12 / {s.demo_password})\n"
        f"customers   {base}/c/\n"
        + (
            f"SMS gateway {sms_gateway}   (simulated: the notifications it received)\n"
            if sms_gateway
            else ""
        )
        + "Ctrl-C stops everything.",
        flush=True,
    )

    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the stack", flush=True)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for _, proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


def metrics_env(s: Settings) -> tuple[dict[str, str], str]:
    """The children's environment with every metrics port set, and where they are."""
    env = dict(os.environ)
    where = []
    for name, default in METRICS_PORTS.items():
        port = getattr(s, f"{name}_metrics_port") or default
        env[f"GRIDCREW_{name.upper()}_METRICS_PORT"] = str(port)
        where.append(f"{name} http://{s.metrics_host}:{port}/metrics")
    return env, ", ".join(where)
