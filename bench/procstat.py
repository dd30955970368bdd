"""CPU time and resident memory of a process tree, from /proc (Linux), for benchmarks.

``gridcrew bench api`` and ``gridcrew bench ingest`` charge the work they measure with
the CPU of the processes that did it (uvicorn and its workers; a gateway worker and its
MQTT link), not with the wall clock of a machine they share with the load generator.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct children of *pid* (none once it has exited)."""
    with contextlib.suppress(FileNotFoundError):
        return [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    return []


def tree(pid: int) -> list[int]:
    """*pid* and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds *pids* have used so far (an exited one counts 0)."""
    total = 0
    for p in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with contextlib.suppress(FileNotFoundError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cmdline(pid: int) -> str:
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    return ""
