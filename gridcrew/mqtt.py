"""MQTT v5 client construction shared by every service and simulator."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridcrew.broker import BrokerAddress
from gridcrew.config import get_settings


def make_client(client_id: str, username: str, password: str, **kwargs) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **kwargs
    )
    client.username_pw_set(username, password)
    return client


def service_client(client_id: str, account: str, **kwargs) -> mqtt.Client:
    """A client for one of the service accounts (svc-gateway, svc-dispatch, svc-api, ...)."""
    return make_client(client_id, account, get_settings().service_password, **kwargs)


def broker_address(url: str | None = None) -> BrokerAddress:
    return BrokerAddress.from_url(url or get_settings().mqtt_url)
