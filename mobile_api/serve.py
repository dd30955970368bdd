"""Run the API under uvicorn in a child process and wait until it answers.

Used by ``gridcrew bench api`` and by the tests, so both measure and test the
same server the way it runs in production (a real process, real HTTP).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from gridcrew.config import get_settings


class ApiDidNotStart(RuntimeError):
    pass


def trusted_proxies(value: str) -> str:
    """GRIDCREW_TRUSTED_PROXIES as uvicorn's ``forwarded_allow_ips`` (empty: none). uvicorn's
    own default believes X-Forwarded-For from 127.0.0.1, so any process on the host, or a
    proxy passing the header through, could claim every request came from a new address."""
    return ",".join(p.strip() for p in value.split(",") if p.strip())


def proxy_arguments(value: str) -> list[str]:
    """uvicorn's command-line options for :func:`trusted_proxies`."""
    trusted = trusted_proxies(value)
    return ["--forwarded-allow-ips", trusted] if trusted else ["--no-proxy-headers"]


def api_subprocess(
    port: int,
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 60,
    workers: int = 1,
    stderr: IO[bytes] | None = None,
) -> subprocess.Popen:
    """Start ``uvicorn mobile_api.asgi:app`` on 127.0.0.1:*port* and wait for its schema.
    With *workers* > 1 the process is uvicorn's supervisor and the workers its children.
    Forwarded headers are believed only from GRIDCREW_TRUSTED_PROXIES of *env*."""
    from gridcrew.metrics import multiprocess_env

    proxies = env.get("GRIDCREW_TRUSTED_PROXIES", get_settings().trusted_proxies)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "mobile_api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "3",
            *(["--workers", str(workers)] if workers > 1 else []),
            *proxy_arguments(proxies),
        ],
        env=multiprocess_env(env, workers),
        cwd=cwd,
        stderr=stderr,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ApiDidNotStart(f"the API exited with {proc.returncode} before answering")
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise ApiDidNotStart(f"the API did not answer within {timeout:.0f} s")
