"""Progress of long commands on a terminal (rich): a spinner, the step being done, the
time so far, and a bar when the length is known.

Shown only when stderr is a terminal and the command was not asked for ``--json``;
otherwise every call here does nothing. Never writes to stdout (a command's answer,
JSON included, stays clean) and leaves nothing on the screen when done.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Steps:
    """What a long command tells its progress display (a no-op when none is shown)."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self._progress, self._task = progress, task

    def step(self, description: str) -> None:
        """Now doing *description*."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)


_current = Steps()


def current() -> Steps:
    """The display of the command running now (a no-op when none): for code deep in a
    command, e.g. a benchmark naming its phases, that was not handed its :class:`Steps`."""
    return _current


def shown(quiet: bool = False) -> bool:
    """Whether progress is shown: not *quiet* (``--json``) and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress(
    title: str, *, quiet: bool = False, total: float | None = None, seconds: float | None = None
) -> Iterator[Steps]:
    """Show *title*'s progress while the block runs. *total*: steps of a bar moved by
    :meth:`Steps.advance`; *seconds*: a bar that fills with the time (a run of known
    length, e.g. a simulated storm)."""
    if not shown(quiet):
        yield Steps()
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None or seconds is not None:
        columns.append(BarColumn())
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as display:
        task = display.add_task(title, total=seconds if seconds is not None else total)
        done = threading.Event()
        if seconds is not None:
            started = time.monotonic()

            def tick() -> None:
                while not done.wait(0.5):
                    display.update(task, completed=min(seconds, time.monotonic() - started))

            threading.Thread(target=tick, daemon=True).start()
        global _current
        _current = steps = Steps(display, task)
        try:
            yield steps
        finally:
            done.set()
            _current = Steps()
