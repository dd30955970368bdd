"""Provision and run the project's own Mosquitto instance.

Renders the config, the password file (one PBKDF2 hash per device, from the
provisioning secret) and the ACL (a device may publish only under
``devices/<its id>/``). Service accounts have their own narrow grants.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gridcrew import pki
from gridcrew.config import ROOT, Settings, get_settings
from gridcrew.security import device_password, mosquitto_hash

TEMPLATE = ROOT / "deploy" / "mosquitto" / "mosquitto.conf.in"

# Service accounts and what they may do (besides the device pattern).
SERVICE_ACLS: dict[str, list[str]] = {
    "svc-gateway": ["topic read devices/#", "topic read $share/#", "topic readwrite gridcrew/#"],
    "svc-dispatch": ["topic readwrite crews/#", "topic readwrite gridcrew/#"],
    "svc-api": ["topic readwrite gridcrew/#", "topic read crews/#"],
    "svc-monitor": ["topic read #"],
    # The benchmarks publish on behalf of many simulated meters from one connection.
    "svc-bench": ["topic write devices/#", "topic read devices/#", "topic read $share/#"],
}


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 1883)


def render(
    directory: Path,
    device_ids: Iterable[str],
    *,
    host: str,
    port: int,
    settings: Settings | None = None,
    tls_listener: str = "",
) -> Path:
    """Write config, passwords and ACL into *directory*; return the config path."""
    s = settings or get_settings()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    lines = [f"{u}:{mosquitto_hash(s.service_password)}" for u in SERVICE_ACLS]
    lines += [f"{d}:{mosquitto_hash(device_password(d, s.device_secret))}" for d in device_ids]
    pw = directory / "passwords"
    pw.write_text("\n".join(lines) + "\n")
    pw.chmod(0o600)
    acl = ["# service accounts"]
    for user, grants in SERVICE_ACLS.items():
        acl += [f"user {user}", *grants, ""]
    acl += ["# every device: only its own topic tree", "pattern readwrite devices/%u/#", ""]
    (directory / "acl").write_text("\n".join(acl))
    conf = directory / "mosquitto.conf"
    conf.write_text(
        TEMPLATE.read_text().format(
            user=getpass.getuser(),
            dir=directory,
            host=host,
            port=port,
            tls_listener=tls_listener,
        )
    )
    return conf


def tls_listener(directory: Path, host: str, port: int) -> str:
    """The TLS listener block for ``render``: client certificates of the broker's CA only.

    Creates the CA and the server certificate under *directory*/tls when missing.
    The certificate's common name becomes the username, so the device ACL applies.
    """
    files = pki.ensure_broker_pki(directory / "tls", hosts=(host,))
    return "\n".join(
        [
            f"listener {port} {host}",
            "protocol mqtt",
            f"cafile {files.ca_cert}",
            f"certfile {files.server_cert}",
            f"keyfile {files.server_key}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
        ]
    )


def is_listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(host, port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Mosquitto did not start listening on {host}:{port}")


def start(conf: Path, host: str, port: int) -> subprocess.Popen:
    """Run mosquitto in the foreground as a child process and wait until it listens."""
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_listening(host, port)
    except RuntimeError:
        proc.kill()
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"Mosquitto failed to start: {err.strip()}") from None
    return proc


def device_ids_from_db(conn) -> list[str]:
    return [
        r["id"] if isinstance(r, dict) else r[0]
        for r in conn.execute("SELECT id FROM devices WHERE active ORDER BY id")
    ]
