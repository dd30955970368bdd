"""``GET /v1/kpi?from=&to=&bucket=``: the service-quality KPIs for a period (dispatchers)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from gridcrew.config import get_settings
from mobile_api.deps import DbConn, DispatcherUser
from mobile_api.kpi import service
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/kpi", tags=["kpi"])

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


@router.get("")
def kpi(
    conn: DbConn,
    user: DispatcherUser,
    start: Annotated[
        str,
        Query(
            alias="from",
            max_length=40,
            description="start, inclusive: a date (that day in the utility's zone) or an"
            " ISO 8601 time (local when it has no offset)",
        ),
    ],
    end: Annotated[
        str | None,
        Query(alias="to", max_length=40, description="end, exclusive; none: one day on"),
    ] = None,
    bucket: Annotated[Literal["hour", "day", "week"], Query(description="trend bucket")] = "day",
) -> dict[str, Any]:
    try:
        period = service.local_period(start, end, get_settings().local_zone)
        return service.compute(conn, *period, BUCKETS[bucket])
    except service.BadPeriod as e:
        raise Problem(422, "bad_period", str(e)) from None
