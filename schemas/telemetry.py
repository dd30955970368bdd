"""MQTT payload contract between devices (and simulators) and the gateway.

Topics (a device publishes only under its own id; the broker's ACL enforces it):

- ``devices/<id>/readings``: a :class:`MeterReading`, or a :class:`ReadingBatch`
  from a data concentrator relaying the meters behind it;
- ``devices/<id>/events``: a :class:`DeviceEvent`, or an :class:`EventBatch`;
- ``devices/<id>/status``: a :class:`DeviceStatus` (retained; also the last will).

Quantities are keyed by DLMS/COSEM OBIS codes, events carry IEC 61968-9
EndDeviceEventType codes, each beside a readable name, so a real head-end
system maps onto them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# OBIS code -> readable column name in meter_readings.
OBIS = {
    "1-0:32.7.0": "voltage_v",  # instantaneous voltage L1
    "1-0:31.7.0": "current_a",  # instantaneous current L1
    "1-0:1.7.0": "active_power_kw",  # active power import (+P)
    "1-0:1.8.0": "energy_import_kwh",  # active energy import register
    "1-0:13.7.0": "power_factor",  # instantaneous power factor
}


class EventName(StrEnum):
    last_gasp = "last_gasp"
    power_down = "power_down"
    power_up = "power_up"
    voltage_sag = "voltage_sag"
    voltage_swell = "voltage_swell"
    overload = "overload"
    tamper = "tamper"
    fault_current = "fault_current"  # fault indicator saw fault current pass
    fci_reset = "fci_reset"  # fault indicator self-reset
    comm_loss = "comm_loss"  # raised by the gateway (Modbus poll failed)
    breaker_open = "breaker_open"  # RTU status bit
    breaker_closed = "breaker_closed"


# IEC 61968-9 EndDeviceEventType (type.domain.subdomain.event). Codes marked
# "local" have no standard entry we rely on; they stay in the same 4-part shape.
EVENT_CODES: dict[EventName, str] = {
    EventName.last_gasp: "10.26.80.59",
    EventName.power_down: "0.26.38.85",
    EventName.power_up: "0.26.38.49",
    EventName.voltage_sag: "1.26.79.223",
    EventName.voltage_swell: "1.26.79.248",
    EventName.overload: "1.26.66.93",  # local
    EventName.tamper: "0.12.43.257",
    EventName.fault_current: "11.26.131.85",  # local
    EventName.fci_reset: "11.26.131.216",  # local
    EventName.comm_loss: "0.2.0.85",  # local
    EventName.breaker_open: "11.31.0.68",  # local
    EventName.breaker_closed: "11.31.0.16",  # local
}

SEVERITY: dict[EventName, str] = {
    EventName.last_gasp: "critical",
    EventName.power_down: "critical",
    EventName.fault_current: "critical",
    EventName.breaker_open: "critical",
    EventName.voltage_sag: "warning",
    EventName.voltage_swell: "warning",
    EventName.overload: "warning",
    EventName.tamper: "warning",
    EventName.comm_loss: "warning",
}

DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Values(_Payload):
    """One reading's quantities, keyed by OBIS code (readable names accepted too)."""

    voltage_v: float | None = Field(None, alias="1-0:32.7.0", ge=0, le=1000)
    current_a: float | None = Field(None, alias="1-0:31.7.0", ge=0, le=10_000)
    active_power_kw: float | None = Field(None, alias="1-0:1.7.0", ge=-10_000, le=10_000)
    energy_import_kwh: float | None = Field(None, alias="1-0:1.8.0", ge=0, le=1e9)
    power_factor: float | None = Field(None, alias="1-0:13.7.0", ge=-1, le=1)


class MeterReading(_Payload):
    device_id: DeviceId
    time: AwareDatetime
    values: Values
    kind: Literal["reading"] = "reading"


class ReadingBatch(_Payload):
    """A data concentrator relaying the readings of the meters behind it."""

    concentrator_id: DeviceId
    readings: list[MeterReading] = Field(min_length=1, max_length=5000)
    kind: Literal["reading_batch"] = "reading_batch"


class DeviceEvent(_Payload):
    device_id: DeviceId
    event_id: str = Field(min_length=1, max_length=64)
    time: AwareDatetime
    code: str = Field(pattern=r"^\d+\.\d+\.\d+\.\d+$")
    name: EventName
    details: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    kind: Literal["event"] = "event"


class EventBatch(_Payload):
    concentrator_id: DeviceId
    events: list[DeviceEvent] = Field(min_length=1, max_length=5000)
    kind: Literal["event_batch"] = "event_batch"


class DeviceStatus(_Payload):
    status: Literal["online", "offline"]
    time: AwareDatetime | None = None
    kind: Literal["status"] = "status"


def event(
    device_id: str,
    event_id: str,
    time: datetime,
    name: EventName,
    **details: float | int | str | bool | None,
) -> DeviceEvent:
    """Build an event with its IEC 61968-9 code filled in."""
    return DeviceEvent(
        device_id=device_id,
        event_id=event_id,
        time=time,
        code=EVENT_CODES[name],
        name=name,
        details=details,
    )


def topic(device_id: str, kind: Literal["readings", "events", "status"]) -> str:
    return f"devices/{device_id}/{kind}"


PAYLOAD_MODELS: list[type[BaseModel]] = [
    MeterReading,
    ReadingBatch,
    DeviceEvent,
    EventBatch,
    DeviceStatus,
]
