"""The gateway worker's MQTT session, in a process of its own.

Parsing MQTT (paho's network thread: packet reading, v5 properties, topic matching) and
decoding, checking and storing what arrives are both Python, and in one process they take
turns on one interpreter lock: measured with ``py-spy --gil`` at a reading per message,
paho's thread alone held 57 % of it. So a worker is two processes: this *link* holds the
MQTT session (one client id, one persistent session, as before) and forwards every
message to the worker, which decodes and stores them and sends back the acknowledgements
to write after each commit, and what to publish.

Nothing is acknowledged by the link on its own: it only acknowledges what the worker asks
for, so a dead worker (or a dead link) loses nothing the broker accepted. The link exits
as soon as the worker's end of the pipe closes, and the worker stops when the link dies
(its supervisor starts both again; the broker then redelivers whatever was unacknowledged).
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("gridcrew.gateway")

FORWARD_LINGER_S = 0.0005
"""After the first message of a quiet spell the link waits this long, so that messages
cross to the worker a few dozen at a time rather than one pipe write each."""

GC_GEN0_THRESHOLD = 50_000
"""Allocations between young-generation collections. Both gateway processes allocate
millions of short-lived, acyclic objects (freed by reference counting); at the default of
700 the collector keeps walking every queued message and batch row (measured: a third of
the decode time at a batch size of 1)."""


def settle_heap() -> None:
    """Once start-up is done: what exists now lives as long as the process, frozen out of
    the collector's way, and young collections only every :data:`GC_GEN0_THRESHOLD`
    allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


@dataclass(frozen=True)
class LinkConfig:
    client_id: str
    account: str
    host: str
    port: int
    subscription: str
    session_expiry_s: int
    receive_maximum: int


def connect_properties(session_expiry_s: int, receive_maximum: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    props.ReceiveMaximum = receive_maximum
    return props


RawMessage = tuple[int, int, str, bytes]
"""(mid, qos, topic, payload) as delivered by the broker."""


class Link:
    """The worker's handle on its link process.

    :meth:`start` spawns it; *deliver* is called (in a reader thread) with each list of
    messages that arrives, *on_subscribed* once the subscription is granted and *on_exit*
    if the link goes away while not stopping. :meth:`ack` and :meth:`publish` may be called
    from any thread."""

    def __init__(self, cfg: LinkConfig, deliver, on_subscribed, on_exit) -> None:
        self.cfg = cfg
        self._deliver, self._on_subscribed, self._on_exit = deliver, on_subscribed, on_exit
        self._conn: Connection | None = None
        self._process: subprocess.Popen | None = None
        self._send_lock = threading.Lock()
        self._stopping = False
        self.connected = False
        """Whether the MQTT session is up (the link tells on each connect and disconnect)."""
        self._reader = threading.Thread(target=self._read, name="link-reader", daemon=True)

    def start(self) -> None:
        """Start ``python -m gateway.link`` on one end of a socket pair (a fresh
        interpreter: no fork of this threaded process)."""
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.link",
                str(theirs.fileno()),
                json.dumps(asdict(self.cfg)),
            ],
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._reader.start()

    def _send(self, command: tuple[Any, ...]) -> None:
        assert self._conn is not None, "start() first"
        with self._send_lock:
            try:
                self._conn.send(command)
            except OSError:
                pass  # the link is gone: the reader reports it

    def ack(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge these (mid, qos), in this order (after their commit)."""
        self._send(("ack", acks))

    def publish(self, topic: str, payload: str) -> None:
        self._send(("publish", topic, payload))

    def _read(self) -> None:
        assert self._conn is not None
        while True:
            try:
                kind, body = self._conn.recv()
            except (EOFError, OSError):
                if not self._stopping:
                    self._on_exit()
                return
            if kind == "messages":
                self._deliver(body)
            elif kind == "subscribed":
                self._on_subscribed(body)
            elif kind == "connected":
                self.connected = body
            elif kind == "log":
                log.warning("%s", body)

    def stop(self, timeout: float = 10) -> None:
        """Disconnect cleanly (nothing more is acknowledged) and wait for the process."""
        if self._process is None or self._conn is None:
            return
        self._stopping = True
        self._send(("stop",))
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()


def _serve(cfg: LinkConfig, conn: Connection) -> None:
    """The link process: the MQTT session, forwarding deliveries and executing commands."""
    # the worker decides when to stop (Ctrl-C reaches the whole process group)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from gridcrew.mqtt import service_client

    pending: list[RawMessage] = []
    lock = threading.Lock()
    arrived = threading.Event()
    send_lock = threading.Lock()

    def send(item: tuple[str, Any]) -> None:
        with send_lock:
            conn.send(item)

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            send(("log", f"broker refused {cfg.client_id}: {reason_code}"))
            return
        send(("connected", True))
        client.subscribe(cfg.subscription, qos=1)

    def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
        try:
            send(("connected", False))
        except OSError:
            pass  # the worker is gone already

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            send(("log", f"subscription {cfg.subscription} refused: {reason_codes}"))
            return
        send(("subscribed", cfg.subscription))

    def on_message(client, userdata, msg) -> None:
        with lock:
            pending.append((msg.mid, msg.qos, msg.topic, msg.payload))
            first = len(pending) == 1
        if first:
            arrived.set()

    def forward() -> None:
        """Pass deliveries on, a list at a time. A slow worker blocks this thread on the
        pipe; the broker sends at most Receive Maximum unacknowledged messages, which
        bounds what waits here."""
        while True:
            arrived.wait()
            arrived.clear()
            time.sleep(FORWARD_LINGER_S)
            with lock:
                batch = pending[:]
                pending.clear()
            if batch:
                try:
                    send(("messages", batch))
                except OSError:
                    return

    client = service_client(cfg.client_id, cfg.account, manual_ack=True)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.reconnect_delay_set(0.2, 5)
    client.connect_async(
        cfg.host,
        cfg.port,
        keepalive=30,
        clean_start=False,
        properties=connect_properties(cfg.session_expiry_s, cfg.receive_maximum),
    )
    threading.Thread(target=forward, name="forward", daemon=True).start()
    settle_heap()
    client.loop_start()
    try:
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                return  # the worker is gone: acknowledge nothing more
            if command[0] == "ack":
                ack = client.ack
                for mid, qos in command[1]:
                    ack(mid, qos)
            elif command[0] == "publish":
                client.publish(command[1], command[2], qos=1)
            elif command[0] == "stop":
                return
    finally:
        client.disconnect()
        client.loop_stop()


if __name__ == "__main__":
    _serve(LinkConfig(**json.loads(sys.argv[2])), Connection(int(sys.argv[1])))
