"""``gridcrew notify``: run the delivery worker (registered by mobile_api.cli)."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from gridcrew.config import get_settings


def notify() -> None:
    """Deliver the notification outbox (webhook / SMS gateway, e-mail, Web Push) until stopped;
    run several for more throughput, they never send a row twice."""
    from mobile_api.notifications import worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s notify %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per send is ours
    try:
        worker.configured_channels(get_settings())
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.run(stop=stop)
