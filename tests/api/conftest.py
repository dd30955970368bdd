"""Helpers of the mobile-API tests: jobs written straight into the server's database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from gridcrew import db
from tests.conftest import ApiServer, start_api, stop_process

PHOTO_LIMIT = 3 * 1024 * 1024

# A point in the demo territory (Jiaxing); job sites are placed around it.
SITE = (120.755, 30.746)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def make_job(
    database_url: str,
    crew_id: str | None,
    *,
    status: str = "assigned",
    lon: float = SITE[0],
    lat: float = SITE[1],
    polygon_wkt: str | None = None,
    sequence: int = 1,
) -> int:
    """A fault-repair work order, with an active assignment to *crew_id* when given."""
    with db.transaction(database_url) as c:
        customer = c.execute("SELECT id FROM customers ORDER BY id LIMIT 1").fetchone()
        wo = c.execute(
            "INSERT INTO work_orders (kind, status, lon, lat, site_polygon_wkt, address,"
            " required_skills, customer_id, arrival_deadline, description)"
            " VALUES ('fault_repair', %s, %s, %s, %s, '1 Test Road', ARRAY['overhead_line'],"
            " %s, now() + interval '45 minutes', 'replace fuse') RETURNING id",
            (status, lon, lat, polygon_wkt, customer["id"]),
        ).fetchone()["id"]
        if crew_id:
            c.execute(
                "INSERT INTO assignments (work_order_id, crew_id, sequence, planned_arrival,"
                " explanation) VALUES (%s, %s, %s, now() + interval '20 minutes', %s)",
                (wo, crew_id, sequence, '{"reason": "nearest crew with overhead_line"}'),
            )
    return wo


def clear_the_road(database_url: str, crew_id: str) -> None:
    """Earlier tests of a module leave this crew's jobs en route or on site: cancel them,
    since a crew is en route to one job at a time."""
    with db.transaction(database_url) as c:
        c.execute(
            "UPDATE work_orders SET status = 'cancelled' WHERE status IN ('en_route', 'on_site')"
            " AND id IN (SELECT work_order_id FROM assignments WHERE crew_id = %s AND active)",
            (crew_id,),
        )


def reassign(database_url: str, work_order_id: int, crew_id: str) -> None:
    with db.transaction(database_url) as c:
        c.execute(
            "UPDATE assignments SET active = false, superseded_at = now()"
            " WHERE work_order_id = %s AND active",
            (work_order_id,),
        )
        c.execute(
            "INSERT INTO assignments (work_order_id, crew_id, sequence) VALUES (%s, %s, 1)",
            (work_order_id, crew_id),
        )
        c.execute("UPDATE work_orders SET status = 'assigned' WHERE id = %s", (work_order_id,))


def query(database_url: str, sql: str, *params) -> list[dict]:
    with db.connect(database_url) as c:
        return c.execute(sql, params).fetchall()


def tracking_pair(database_url: str, work_order_id: int) -> dict:
    """What a customer looks the job up with: its ``number`` and the phone's ``last4``."""
    [row] = query(
        database_url,
        "SELECT w.number, right(regexp_replace(u.phone, '[^0-9]', '', 'g'), 4) AS last4"
        " FROM work_orders w JOIN customers u ON u.id = w.customer_id WHERE w.id = %s",
        work_order_id,
    )
    return row


def start_api_with_data_dir(
    database_url: str, tmp_path_factory, photo_limit: int = PHOTO_LIMIT, **env: str
) -> ApiServer:
    """The real API with a storage folder of its own (``server.data_dir``) and a photo
    limit (small by default: the oversize test stays quick)."""
    data_dir = tmp_path_factory.mktemp("api-data")
    server = start_api(
        database_url,
        GRIDCREW_DATA_DIR=str(data_dir),
        GRIDCREW_PHOTO_MAX_BYTES=str(photo_limit),
        **env,
    )
    server.data_dir = data_dir  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def api(module_db_url, broker, tmp_path_factory) -> Iterator[ApiServer]:
    """The real API on this module's database, photos in its own folder."""
    server = start_api_with_data_dir(module_db_url, tmp_path_factory)
    yield server
    stop_process(server.process)


@dataclass
class Crew:
    crew_id: str
    http: httpx.Client


@pytest.fixture(scope="module")
def clients(api) -> Iterator[dict[str, Crew]]:
    """Logged-in clients: crew-01, crew-02 and the dispatcher."""
    made = {}
    for username, crew_id in (("crew-01", "CREW-01"), ("crew-02", "CREW-02"), ("dispatcher", None)):
        made[username] = Crew(crew_id or "", api.client(api.login(username)))
    yield made
    for crew in made.values():
        crew.http.close()
