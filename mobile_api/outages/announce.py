"""Announce work orders the API opened on MQTT ``gridcrew/work_orders/<id>``, after the commit.

One long-lived ``svc-api`` client per API process, made on first use; paho's
background thread connects and reconnects on its own. Publishing never blocks
a request and never fails it: while the broker is away, QoS 1 messages wait in
paho's bounded queue and go out when the connection is back; a full queue or
any other error is logged and the message dropped (``NOTIFY work_orders``, sent
inside the writing transaction, stays the dispatcher's source). Call it only
after the transaction that wrote the work order has committed. This module
never touches the database and never subscribes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from gridcrew.mqtt import broker_address, service_client

QUEUE_MAX = 1000  # messages kept while the broker is away
_ACCEPTED = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # NO_CONN: queued for reconnect

log = logging.getLogger(__name__)
_lock = threading.Lock()
_clients: dict[int, mqtt.Client] = {}  # by process id, so a forked worker makes its own


def _client() -> mqtt.Client:
    pid = os.getpid()
    with _lock:
        client = _clients.get(pid)
        if client is None:
            client = service_client(f"svc-api-{pid}-{uuid.uuid4().hex[:8]}", "svc-api")
            client.max_queued_messages_set(QUEUE_MAX)
            client.reconnect_delay_set(1, 30)
            address = broker_address()
            client.connect_async(address.host, address.port)
            client.loop_start()
            _clients[pid] = client
        return client


def work_order(work_order_id: int, number: str, status: str, change: str) -> None:
    """Publish ``{"id", "number", "status", "change"}`` (QoS 1); log instead of raising."""
    topic = f"gridcrew/work_orders/{work_order_id}"
    payload: dict[str, Any] = {
        "id": work_order_id,
        "number": number,
        "status": status,
        "change": change,
    }
    try:
        info = _client().publish(topic, json.dumps(payload), qos=1)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("work order %s not announced on MQTT: %s", number, exc)
        return
    if info.rc not in _ACCEPTED:
        log.warning("work order %s not announced on MQTT: %s", number, mqtt.error_string(info.rc))
