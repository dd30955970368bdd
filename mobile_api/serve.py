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


class ApiDidNotStart(RuntimeError):
    pass


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
    With *workers* > 1 the process is uvicorn's supervisor and the workers its children."""
    from gridcrew.metrics import multiprocess_env

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
