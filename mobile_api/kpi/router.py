"""``GET /v1/kpi?from=&to=&bucket=``: the service-quality KPIs for a period (dispatchers)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mobile_api.deps import DispatcherUser, ReadDbConn
from mobile_api.kpi import service
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/kpi", tags=["kpi"])

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


@router.get("")
def kpi(
    conn: ReadDbConn,
    user: DispatcherUser,
    start: Annotated[datetime, Query(alias="from", description="start, inclusive (ISO 8601)")],
    end: Annotated[datetime, Query(alias="to", description="end, exclusive (ISO 8601)")],
    bucket: Annotated[Literal["hour", "day", "week"], Query(description="trend bucket")] = "day",
) -> dict[str, Any]:
    try:
        return service.compute(conn, start, end, BUCKETS[bucket])
    except service.BadPeriod as e:
        raise Problem(422, "bad_period", str(e)) from None
