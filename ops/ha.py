"""A local PostgreSQL high-availability cluster: etcd and two Patroni nodes (primary and
synchronous standby) rendered from ``deploy/ha/`` under one folder, for tests and demos.

The same templates run one process per host in production (deploy/ha/README.md). This
module only starts, inspects and stops those processes; it never writes to the database
and never decides a failover (Patroni does).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "deploy" / "ha"
BIN_DIR = Path("/usr/lib/postgresql/15/bin")
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Timing:
    """Patroni's leader-key TTL and loop (seconds); see docs/scale-out.md for the figures."""

    ttl: int = 30
    loop_wait: int = 10
    retry_timeout: int = 10


DEFAULT_TIMING = Timing()
"""Patroni's own defaults."""
TUNED_TIMING = Timing(ttl=8, loop_wait=2, retry_timeout=3)
"""Faster failover: the leader key expires 8 s after the primary's last renewal (Patroni
requires ttl >= loop_wait + 2 * retry_timeout). With ttl 10 the window measured 10.7 to
10.9 s (docs/scale-out.md); a retry_timeout below 3 s risks a primary demoting itself when
a loaded machine answers slowly."""


@dataclass(frozen=True)
class Node:
    name: str
    pg_port: int
    rest_port: int


@dataclass(frozen=True)
class Cluster:
    """Where a local cluster lives and the ports it uses."""

    directory: Path
    nodes: tuple[Node, ...] = (Node("pg1", 5441, 8441), Node("pg2", 5442, 8442))
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    timing: Timing = DEFAULT_TIMING
    scope: str = "gridcrew"

    def url(self, database: str = "gridcrew") -> str:
        """The libpq multi-host URL every service uses: whichever node is the primary."""
        hosts = ",".join(f"{HOST}:{n.pg_port}" for n in self.nodes)
        return (
            f"postgresql://postgres@{hosts}/{database}"
            "?target_session_attrs=read-write&connect_timeout=3"
        )

    def read_url(self, database: str = "gridcrew") -> str:
        """A standby if one is up, else the primary (``GRIDCREW_DATABASE_READ_URL``)."""
        hosts = ",".join(f"{HOST}:{n.pg_port}" for n in self.nodes)
        return (
            f"postgresql://postgres@{hosts}/{database}"
            "?target_session_attrs=prefer-standby&connect_timeout=3"
        )

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def data_dir(self, node: Node) -> Path:
        return self.directory / node.name / "data"

    def pid_file(self, name: str) -> Path:
        return self.directory / f"{name}.pid"


# ------------------------------------------------------------------ rendering (pure-ish)
def render(cluster: Cluster) -> None:
    """Write etcd's and each node's Patroni config below the cluster's folder."""
    d = cluster.directory
    etcd = Template((TEMPLATES / "etcd.yml").read_text()).substitute(
        name="etcd1",
        data_dir=d / "etcd",
        listen_host=HOST,
        connect_host=HOST,
        client_port=cluster.etcd_client_port,
        peer_port=cluster.etcd_peer_port,
        initial_cluster=f"etcd1=http://{HOST}:{cluster.etcd_peer_port}",
    )
    (d / "etcd.yml").write_text(etcd)
    template = Template((TEMPLATES / "patroni.yml").read_text())
    for node in cluster.nodes:
        (d / node.name).mkdir(exist_ok=True)
        text = template.substitute(
            scope=cluster.scope,
            name=node.name,
            log_dir=d / node.name,
            listen_host=HOST,
            connect_host=HOST,
            rest_port=node.rest_port,
            pg_port=node.pg_port,
            etcd_hosts=f"{HOST}:{cluster.etcd_client_port}",
            ttl=cluster.timing.ttl,
            loop_wait=cluster.timing.loop_wait,
            retry_timeout=cluster.timing.retry_timeout,
            data_dir=cluster.data_dir(node),
            bin_dir=BIN_DIR,
            pgpass=d / node.name / "pgpass",
            socket_dir=d / node.name,
            client_cidr=f"{HOST}/32",
        )
        (d / f"{node.name}.yml").write_text(text)


# ------------------------------------------------------------------ processes
def _run_as() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: as root, the cluster runs as ``postgres``."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _spawn(cluster: Cluster, name: str, args: list[str]) -> int:
    log = open(cluster.directory / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cluster.directory,
        start_new_session=True,  # outlives `gridcrew ha up`; a Ctrl-C elsewhere misses it
        **_run_as(),
    )
    log.close()
    cluster.pid_file(name).write_text(str(proc.pid))
    return proc.pid


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:  # reap it if it is a child of ours that ended (a test's cluster)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def pid(cluster: Cluster, name: str) -> int | None:
    """The live process id of ``etcd`` or a node's Patroni, None when it is not running."""
    return _pid(cluster.pid_file(name))


def postmaster_pid(cluster: Cluster, name: str) -> int | None:
    return _pid(cluster.data_dir(cluster.node(name)) / "postmaster.pid")


def start_etcd(cluster: Cluster) -> None:
    if pid(cluster, "etcd") is None:
        _spawn(cluster, "etcd", ["etcd", "--config-file", str(cluster.directory / "etcd.yml")])
    _wait(lambda: _get(f"http://{HOST}:{cluster.etcd_client_port}/health"), 30, "etcd")


def start_node(cluster: Cluster, name: str) -> None:
    """Start a node's Patroni (it starts, bootstraps, clones or rewinds its PostgreSQL)."""
    if pid(cluster, name) is None:
        _spawn(cluster, name, ["patroni", str(cluster.directory / f"{name}.yml")])


def up(cluster: Cluster, timeout: float = 180) -> dict[str, Any]:
    """Render and start etcd and both nodes; return once there is a primary and a
    streaming synchronous standby."""
    cluster.directory.mkdir(parents=True, exist_ok=True)
    cluster.directory.chmod(0o755)
    render(cluster)
    for node in cluster.nodes:
        _own(cluster.directory / node.name)
    (cluster.directory / "etcd").mkdir(exist_ok=True)
    (cluster.directory / "etcd").chmod(0o700)
    _own(cluster.directory / "etcd")
    start_etcd(cluster)
    start_node(cluster, cluster.nodes[0].name)
    wait_primary(cluster, timeout)  # the first node bootstraps alone, the other clones it
    for node in cluster.nodes[1:]:
        start_node(cluster, node.name)
    return wait_healthy(cluster, timeout)


def kill_node(cluster: Cluster, name: str) -> None:
    """The node's host is lost: SIGKILL its Patroni and its PostgreSQL (no clean-up)."""
    for p in (pid(cluster, name), postmaster_pid(cluster, name)):
        if p is not None:
            os.kill(p, signal.SIGKILL)


def stop_node(cluster: Cluster, name: str, timeout: float = 60) -> None:
    """Stop a node's Patroni cleanly (it stops PostgreSQL and hands the leader key over)."""
    p = pid(cluster, name)
    if p is None:
        return
    os.kill(p, signal.SIGTERM)
    _wait(lambda: pid(cluster, name) is None, timeout, f"{name}'s Patroni to stop")


def down(cluster: Cluster) -> None:
    """Stop both nodes (cleanly, with a SIGKILL after a minute) and etcd; keep the data."""
    for node in cluster.nodes:
        try:
            stop_node(cluster, node.name)
        except TimeoutError:
            kill_node(cluster, node.name)
        postmaster = postmaster_pid(cluster, node.name)
        if postmaster is not None:  # Patroni killed earlier left its PostgreSQL behind
            os.kill(postmaster, signal.SIGKILL)
    etcd = pid(cluster, "etcd")
    if etcd is not None:
        os.kill(etcd, signal.SIGTERM)
        _wait(lambda: pid(cluster, "etcd") is None, 30, "etcd to stop")


# ------------------------------------------------------------------ status
def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def members(cluster: Cluster) -> list[dict[str, Any]]:
    """Patroni's view of the cluster (``/cluster`` of any node that answers)."""
    for node in cluster.nodes:
        body = _get(f"http://{HOST}:{node.rest_port}/cluster")
        if body is not None:
            return body.get("members", [])
    return []


def primary(cluster: Cluster) -> str | None:
    """The running leader's name."""
    for m in members(cluster):
        if m.get("role") == "leader" and m.get("state") == "running":
            return m["name"]
    return None


def wait_primary(cluster: Cluster, timeout: float = 120) -> str:
    return _wait(lambda: primary(cluster), timeout, "a primary")


def healthy(cluster: Cluster) -> dict[str, Any] | None:
    """The members when there is a leader and every other node is a streaming sync standby."""
    ms = members(cluster)
    if len(ms) != len(cluster.nodes):
        return None
    roles = sorted(m.get("role", "") for m in ms)
    if roles != ["leader", *["sync_standby"] * (len(ms) - 1)]:
        return None
    if not all(m.get("state") in ("running", "streaming") for m in ms):
        return None
    return {"primary": primary(cluster), "members": ms}


def wait_healthy(cluster: Cluster, timeout: float = 180) -> dict[str, Any]:
    return _wait(lambda: healthy(cluster), timeout, "a primary and a synchronous standby")


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
