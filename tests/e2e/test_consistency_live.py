"""A live day in real time checked against its own invariants (issue 16).

The session's Mosquitto, a clone of the seeded database, ``gridcrew gateway``,
``gridcrew dispatch``, the API and ``gridcrew simulate crews`` at speed 1 (real time).
A fault behind one transformer (its meters' last gasps, from their concentrators) and
a new installation are injected; crews take them, drive and work; then
``gridcrew audit consistency`` must find nothing that disagrees. About three minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from gridcrew import db
from schemas.telemetry import EventName
from simulators.fieldwork import distance_m
from tests import stack
from tests.conftest import ROOT, Broker, service_env
from tests.e2e.fleet import GRID, Fleet

CREWS = ["crew-01", "crew-03", "crew-09", "crew-11"]
RUN_S = 150.0
CITY = (120.755, 30.746)


def _transformer_meters() -> tuple[str, list]:
    """The city transformer nearest the centre with a few meters behind it."""
    by_tx: dict[str, list] = {}
    for m in GRID.territory.meters:
        by_tx.setdefault(m.transformer_id, []).append(m)
    tx = min(
        (t for t, ms in by_tx.items() if t and len(ms) >= 6),
        key=lambda t: distance_m((by_tx[t][0].lon, by_tx[t][0].lat), CITY),
    )
    return tx, by_tx[tx]


def _installation(conn) -> str:
    """A new application with its installation, window from now (as the desk books it)."""
    customer = conn.execute("SELECT id, lon, lat FROM customers ORDER BY id LIMIT 1").fetchone()
    number = "AP-LIVE-000001"
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute(
            "INSERT INTO applications (number, customer_id, lon, lat, address)"
            " VALUES (%s, %s, %s, %s, '1 Live Road')",
            (number, customer["id"], customer["lon"], customer["lat"]),
        )
        wo = conn.execute(
            "INSERT INTO work_orders (kind, priority, lon, lat, address, required_skills,"
            " service_time_min, customer_id, application_number, service_area_id, window_start,"
            " window_end, due_at) SELECT 'meter_install', 4, %s, %s, '1 Live Road',"
            " ARRAY['meter'], 45, %s, %s, id, %s, %s, %s FROM service_areas"
            " ORDER BY priority_order DESC LIMIT 1 RETURNING id",
            (
                customer["lon"],
                customer["lat"],
                customer["id"],
                number,
                now,
                now + timedelta(hours=3),
                now + timedelta(hours=48),
            ),
        ).fetchone()
        db.notify_work_order(conn, wo["id"], "created")
    return number


def test_consistency_of_a_live_day_in_real_time(module_db_url: str, broker: Broker) -> None:
    crew_ids = [f"CREW-{c[-2:]}" for c in CREWS]
    with db.connect(module_db_url, autocommit=True) as conn:
        conn.execute("UPDATE crews SET state = 'offline' WHERE id <> ALL(%s)", (crew_ids,))
    tx, meters = _transformer_meters()
    logins = sorted({m.concentrator_id for m in meters if m.concentrator_id})
    fleet = Fleet(datetime.now(UTC))
    with ExitStack() as services:
        server = services.enter_context(stack.api(module_db_url, broker.url))
        services.enter_context(stack.gateway(module_db_url, broker.url))
        services.enter_context(stack.dispatcher(module_db_url, broker.url))
        devices = services.enter_context(stack.devices(broker.url, logins))
        services.enter_context(stack.crews(server.base_url, CREWS, 1.0))
        devices.publish(fleet.meter_events(meters, EventName.last_gasp, datetime.now(UTC)))
        with db.connect(module_db_url, autocommit=True) as conn:
            number = _installation(conn)
            stack.wait_for(
                lambda: conn.execute(
                    "SELECT 1 FROM incidents WHERE transformer_id = %s", (tx,)
                ).fetchone(),
                60,
                f"the incident behind {tx}",
            )
            time.sleep(RUN_S)
            busy = conn.execute("SELECT count(*) AS n FROM crews WHERE state = 'busy'").fetchone()
            planned = conn.execute(
                "SELECT count(*) AS n FROM assignments a JOIN work_orders w"
                " ON w.id = a.work_order_id WHERE a.active AND (w.incident_id IS NOT NULL"
                " OR w.application_number = %s)",
                (number,),
            ).fetchone()
        out = subprocess.run(
            [sys.executable, "-m", "gridcrew", "audit", "consistency", "--json"],
            env=service_env(module_db_url, GRIDCREW_MQTT_URL=broker.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    result = json.loads(out.stdout)
    assert planned["n"] >= 2 and busy["n"] >= 1, (planned, busy)  # the day did something
    assert result["violations"] == [], json.dumps(result["violations"], indent=1, default=str)
    assert out.returncode == 0, out.stderr
