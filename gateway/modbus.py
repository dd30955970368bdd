"""Modbus TCP bridge: polls the ``modbus`` devices of the devices table into the pipeline.

Each device's ``config`` names its register map (``model``, see
:mod:`schemas.modbus`), ``port``, ``unit``, ``interval_s`` and optionally
``host`` (default 127.0.0.1). Registers become meter readings, rising alarm
bits and status-bit changes become device events, both through the same rules
and the same batch writer as MQTT; a device that stops answering for
:data:`MISSES_FOR_COMM_LOSS` polls raises ``comm_loss`` once and is marked
offline. Decoding is pure (:func:`poll_rows`); the threads and sockets are below it.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from gateway import metrics, store
from gateway.decode import EventRow, ReadingRow, StatusRow
from gateway.rules import RuleEngine
from gridcrew.config import get_settings
from schemas.modbus import MAPS, RegisterMap, decode
from schemas.telemetry import EVENT_CODES, SEVERITY, EventName

log = logging.getLogger("gridcrew.gateway.modbus")

MISSES_FOR_COMM_LOSS = 3
# Register-map alarm bits -> the event they raise (details keep the bit's own name).
ALARM_EVENTS = {
    "overload": EventName.overload,
    "overcurrent": EventName.overload,
    "voltage_sag": EventName.voltage_sag,
    "undervoltage": EventName.voltage_sag,
    "voltage_swell": EventName.voltage_swell,
    "tamper": EventName.tamper,
    "fault_current": EventName.fault_current,
    "earth_fault": EventName.fault_current,
}
# Status bits whose change is an event: bit name -> (event when set, event when cleared).
STATUS_EVENTS = {
    "breaker_closed": (EventName.breaker_closed, EventName.breaker_open),
    "supply_on": (EventName.power_up, EventName.power_down),
}
READING_REGISTERS = {
    "voltage_v": "voltage_l1_v",
    "current_a": "current_l1_a",
    "active_power_kw": "active_power_kw",
    "energy_import_kwh": "energy_import_kwh",
    "power_factor": "power_factor",
}


@dataclass(frozen=True)
class ModbusDevice:
    id: str
    regmap: RegisterMap
    host: str
    port: int
    unit: int
    interval_s: float
    nominal_voltage: float


@dataclass
class PollState:
    status_bits: int | None = None
    alarm_bits: int = 0
    misses: int = 0
    lost: bool = False
    online: bool = False


def parse_overrides(values: list[str]) -> dict[str, tuple[str | None, int]]:
    """``DEVICE=PORT`` or ``DEVICE=HOST:PORT`` -> {device: (host or None, port)}."""
    out: dict[str, tuple[str | None, int]] = {}
    for value in values:
        device, sep, target = value.partition("=")
        host, colon, port = target.rpartition(":")
        if not sep or not device or not port.isdigit():
            raise ValueError(f"'{value}' is not DEVICE=PORT or DEVICE=HOST:PORT")
        out[device] = (host if colon else None, int(port))
    return out


def _event(device: str, name: EventName, at: datetime, **details) -> EventRow:
    return EventRow(
        at,
        device,
        f"modbus:{name.value}:{at.isoformat()}",
        EVENT_CODES[name],
        name.value,
        SEVERITY.get(name, "info"),
        details,
    )


def poll_rows(
    dev: ModbusDevice, words: list[int], state: PollState, at: datetime
) -> tuple[ReadingRow | None, list[EventRow]]:
    """One answered poll: the reading, and the events of bits that changed (pure but for
    updating *state*)."""
    values = decode(dev.regmap, words)
    events: list[EventRow] = []
    alarms = int(values.get("alarms", 0))
    for bit, name in dev.regmap.alarm_bits.items():
        raised = alarms >> bit & 1 and not state.alarm_bits >> bit & 1
        if raised and name in ALARM_EVENTS:
            events.append(_event(dev.id, ALARM_EVENTS[name], at, alarm=name))
    state.alarm_bits = alarms
    status = int(values.get("status", 0))
    if state.status_bits is not None:
        for bit, name in dev.regmap.status_bits.items():
            now_set, was_set = status >> bit & 1, state.status_bits >> bit & 1
            if name in STATUS_EVENTS and now_set != was_set:
                on, off = STATUS_EVENTS[name]
                events.append(_event(dev.id, on if now_set else off, at, bit=name))
    state.status_bits = status
    quantities = {
        col: values[reg]
        for col, reg in READING_REGISTERS.items()
        if reg in values and math.isfinite(values[reg])
    }
    reading = ReadingRow(at, dev.id, *(quantities.get(c) for c in READING_REGISTERS))
    return (reading if quantities else None), events


def poll_failed(dev: ModbusDevice, state: PollState, at: datetime, error: str) -> list[EventRow]:
    """One unanswered poll: ``comm_loss`` once, after enough misses in a row."""
    state.misses += 1
    if state.misses >= MISSES_FOR_COMM_LOSS and not state.lost:
        state.lost = True
        return [_event(dev.id, EventName.comm_loss, at, misses=state.misses, error=error[:200])]
    return []


def load_devices(
    conn, overrides: dict[str, tuple[str | None, int]]
) -> tuple[list[ModbusDevice], list[str]]:
    """The configured devices, and a message for each one that cannot be polled."""
    rows = conn.execute(
        "SELECT d.id, d.config, d.nominal_voltage, f.voltage_kv FROM devices d"
        " LEFT JOIN feeders f ON f.id = d.feeder_id"
        " WHERE d.kind = 'modbus' AND d.active ORDER BY d.id"
    ).fetchall()
    devices, problems = [], []
    for r in rows:
        cfg = r["config"]
        regmap = MAPS.get(cfg.get("model", ""))
        if regmap is None or "port" not in cfg:
            problems.append(
                f"{r['id']}: config needs a model ({', '.join(MAPS)}) and a port; has {cfg}"
            )
            continue
        host, port = overrides.get(r["id"], (None, cfg["port"]))
        nominal = cfg.get("nominal_voltage") or (
            r["voltage_kv"] * 1000 / math.sqrt(3)
            if regmap.model == "feeder_rtu" and r["voltage_kv"]
            else r["nominal_voltage"]
        )
        devices.append(
            ModbusDevice(
                r["id"],
                regmap,
                host or cfg.get("host", "127.0.0.1"),
                int(port),
                int(cfg.get("unit", 1)),
                float(cfg.get("interval_s", 5)),
                float(nominal),
            )
        )
    return devices, problems


@dataclass
class Bridge:
    devices: list[ModbusDevice]
    database_url: str
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.pool = store.make_pool(self.database_url, max_size=len(self.devices) + 1)
        self.lock = threading.Lock()
        self.rules = RuleEngine()

    def _write(self, batch: store.Batch) -> bool:
        began = time.perf_counter()
        ok = store.with_retry(self.pool, lambda conn: store.write_batch(conn, batch), self.stop)
        if ok:
            metrics.committed([batch], time.perf_counter() - began, datetime.now(UTC))
        return ok

    def poll_forever(self, dev: ModbusDevice) -> None:
        client = ModbusTcpClient(dev.host, port=dev.port, timeout=1, retries=0)
        state = PollState()
        while not self.stop.is_set():
            started = time.monotonic()
            at = datetime.now(UTC)
            batch = store.Batch(source="modbus")
            try:
                if not client.connected and not client.connect():
                    raise ConnectionError(f"no answer from {dev.host}:{dev.port}")
                rr = client.read_holding_registers(0, count=dev.regmap.span, device_id=dev.unit)
                if rr.isError():
                    raise ModbusException(str(rr))
                reading, events = poll_rows(dev, list(rr.registers), state, at)
            except (ConnectionError, ModbusException, OSError) as exc:
                client.close()
                lost = poll_failed(dev, state, at, str(exc))
                metrics.polled(False, comm_lost=bool(lost))
                if lost:
                    state.online = False
                    batch.events.extend(lost)
                    batch.statuses[dev.id] = StatusRow(dev.id, "offline", at)
            else:
                metrics.polled(True)
                state.misses, state.lost = 0, False
                if not state.online:
                    state.online = True
                    batch.statuses[dev.id] = StatusRow(dev.id, "online", at)
                batch.events.extend(events)
                if reading is not None:
                    batch.readings.append(reading)
                    with self.lock:
                        batch.events.extend(self.rules.feed(reading, dev.nominal_voltage))
                batch.seen[dev.id] = at
            if batch.rows or batch.seen:
                self._write(batch)
            self.stop.wait(max(0.0, dev.interval_s - (time.monotonic() - started)))
        client.close()

    def run(self) -> int:
        self.pool.open()
        threads = [
            threading.Thread(target=self.poll_forever, args=(d,), daemon=True) for d in self.devices
        ]
        for t in threads:
            t.start()
        log.info(
            "modbus bridge polling %s", ", ".join(f"{d.id}@{d.host}:{d.port}" for d in self.devices)
        )
        self.stop.wait()
        for t in threads:
            t.join(10)
        self.pool.close()
        log.info("modbus bridge stopped")
        return 0


def run_bridge(overrides: dict[str, tuple[str | None, int]]) -> int:
    """``gridcrew gateway modbus``: poll until SIGTERM / Ctrl-C, then exit 0."""
    from gridcrew.metrics import serve

    settings = get_settings()
    url = settings.database_url
    serve(settings.modbus_metrics_port, "modbus bridge")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pool = store.make_pool(url, max_size=1)
    pool.open()
    found: list[list[ModbusDevice]] = []

    def load(conn) -> None:
        with conn.transaction():
            devices, problems = load_devices(conn, overrides)
        for p in problems:
            log.warning("modbus device skipped: %s", p)
        found.append(devices)

    ok = store.with_retry(pool, load, stop)
    pool.close()
    if not ok:
        return 0
    if not found[0]:
        log.info("no modbus devices configured (devices of kind 'modbus'); waiting for a signal")
        stop.wait()
        return 0
    return Bridge(found[0], url, stop).run()
