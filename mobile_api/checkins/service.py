"""Record a check-in: every attempt is stored; the first accepted one sets ``arrived_at``.

``arrived_at`` is the check-in's client time (when the fix was taken, which for a
terminal that was offline is long before the upload), never earlier than the
report and never later than the server's receipt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridcrew import audit
from gridcrew.config import get_settings
from gridcrew.db import Query, Steps, work_order_changed
from mobile_api.checkins import geofence
from mobile_api.deps import User, job_access_steps
from mobile_api.jobs import machine
from mobile_api.problems import Problem

_INSERT = (
    "WITH c AS (INSERT INTO check_ins (work_order_id, crew_id, lon, lat, accuracy_m,"
    " client_time, distance_m, accepted, flag)"
    " VALUES (%(wo)s, %(crew)s, %(lon)s, %(lat)s, %(acc)s, %(client)s, %(dist)s,"
    " %(accepted)s, %(flag)s) RETURNING id, server_time),"
    # An offline terminal syncs late: arrival is the fix's own time, bounded by the
    # report (no arriving before the fault) and by the server's clock (no future).
    " w AS (UPDATE work_orders SET arrived_at = LEAST((SELECT server_time FROM c),"
    " GREATEST(%(client)s::timestamptz, reported_at)),"
    " updated_at = now() WHERE id = %(wo)s AND arrived_at IS NULL AND %(accepted)s"
    " RETURNING arrived_at)"
    " SELECT c.id, COALESCE((SELECT arrived_at FROM w),"
    " (SELECT arrived_at FROM work_orders WHERE id = %(wo)s)) AS arrived_at FROM c"
)


def check_in_steps(
    user: User,
    work_order_id: int,
    *,
    lon: float,
    lat: float,
    accuracy_m: float,
    client_time: datetime,
) -> Steps[dict[str, Any]]:
    """Record a check-in, as steps: run on the event loop by the live endpoint and on a
    blocking connection (``gridcrew.db.run_steps``) by the offline batch."""
    # key share: check-ins of one job run side by side; the arrival UPDATE below takes
    # its own row lock, so exactly one check-in sets arrived_at
    access = yield from job_access_steps(work_order_id, user, write=True, lock="key share")
    if access.status not in machine.ACTIVE:
        raise Problem(
            409, "job_not_active", f"job {work_order_id} is {access.status}; check-ins are closed"
        )
    verdict = geofence.judge(
        site_lon=access.lon,
        site_lat=access.lat,
        site_polygon_wkt=access.site_polygon_wkt,
        lon=lon,
        lat=lat,
        accuracy_m=accuracy_m,
        radius_m=get_settings().checkin_radius_m,
    )
    row = yield Query(
        _INSERT,
        {
            "wo": work_order_id,
            "crew": user.crew_id,
            "lon": lon,
            "lat": lat,
            "acc": accuracy_m,
            "client": client_time,
            "dist": verdict.distance_m,
            "accepted": verdict.accepted,
            "flag": verdict.flag,
        },
    )
    assert row is not None  # the INSERT returns its row
    arrived_at = row["arrived_at"]
    if arrived_at is None and verdict.accepted:
        # our UPDATE waited for a first arrival committing meanwhile, which the
        # statement's snapshot does not show: read it now
        arrived = yield Query("SELECT arrived_at FROM work_orders WHERE id = %s", (work_order_id,))
        assert arrived is not None
        arrived_at = arrived["arrived_at"]
    yield work_order_changed(work_order_id, "updated")
    # the audit entry: a plain INSERT in this transaction, no lock (gridcrew.audit);
    # the API's sealer chains it once committed
    yield audit.entry(
        actor=user.username,
        entity="work_order",
        entity_id=work_order_id,
        action="check_in",
        payload={
            "check_in_id": row["id"],
            "lon": lon,
            "lat": lat,
            "accuracy_m": accuracy_m,
            "client_time": client_time.isoformat(),
            "accepted": verdict.accepted,
            "distance_m": verdict.distance_m,
            "flag": verdict.flag,
        },
    )
    return {
        "id": row["id"],
        "accepted": verdict.accepted,
        "distance_m": verdict.distance_m,
        "flag": verdict.flag,
        "arrived_at": arrived_at,
    }
