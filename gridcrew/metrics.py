"""What every process shares to be scraped by Prometheus (prometheus-client).

Each service defines its own metrics in its package (``gateway/metrics.py``,
``dispatch/metrics.py``, ``mobile_api/metrics.py``); this module only serves them:
:func:`serve` starts a ``/metrics`` HTTP server on a port of its own (gateway,
dispatcher, Modbus bridge, any later worker), :func:`exposition` renders the page for
the API's own ``/metrics`` route, and :func:`multiprocess_env` prepares
prometheus-client's multiprocess mode for ``--workers N`` API servers.

Never imports a service; never counts anything itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
prometheus_client.disable_created_metrics()  # *_created series: noise for our dashboards

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client reads it when imported: every process of one server writes its
samples under this folder and a scrape adds them up."""


def serve(port: int | None, what: str, *, host: str | None = None) -> int | None:
    """Serve this process's metrics on http://*host*:*port*/metrics from a daemon thread
    (nothing when *port* is None); returns the port. *what* names the process in the log.

    The call a new long-running worker makes (e.g. ``gridcrew notify``): define its
    metrics in its package with prometheus_client, then ``serve(settings.<x>_metrics_port,
    "notify")`` once at start."""
    if port is None:
        return None
    from gridcrew.config import get_settings

    bind = host or get_settings().metrics_host
    prometheus_client.start_http_server(port, addr=bind)
    log.info("%s metrics on http://%s:%d/metrics", what, bind, port)
    return port


def exposition(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of this process's metrics (all worker processes' in
    multiprocess mode) plus *extra* collectors, and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    if extra:
        registry = _Joined(registry, list(extra))
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST


class _Joined:
    """A registry's collectors and a few more, for one scrape (not registered anywhere,
    so a collector that reads the database answers once per scrape, whichever worker)."""

    def __init__(self, registry: CollectorRegistry, extra: list[Collector]) -> None:
        self.registry, self.extra = registry, extra

    def collect(self):
        yield from self.registry.collect()
        for collector in self.extra:
            yield from collector.collect()


def multiprocess_env(env: Mapping[str, str], workers: int) -> dict[str, str]:
    """*env* for a server of *workers* processes: with more than one, a fresh folder for
    prometheus-client's multiprocess mode (emptied: samples of a previous run's pids
    would add to this one's)."""
    out = dict(env)
    if workers <= 1:
        out.pop(MULTIPROC_ENV, None)
        return out
    folder = Path(out.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="gridcrew-metrics-"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out[MULTIPROC_ENV] = str(folder)
    return out
