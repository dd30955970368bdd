"""``GET /v1/kpi?from=&to=&bucket=``: the service-quality KPIs for a period, and
``GET /v1/kpi/reliability``: the supply-reliability indices (dispatchers and admins)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from gridcrew import reliability
from gridcrew.config import get_settings
from mobile_api.deps import DbConn, DispatcherUser, ReadDbConn
from mobile_api.kpi import service
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/kpi", tags=["kpi"])

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


@router.get("")
def kpi(
    conn: ReadDbConn,
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


@router.get("/reliability")
def reliability_indices(
    conn: DbConn,
    user: DispatcherUser,
    start: Annotated[datetime, Query(alias="from", description="start, inclusive (ISO 8601)")],
    end: Annotated[datetime, Query(alias="to", description="end, exclusive (ISO 8601)")],
    by: Annotated[
        reliability.Grouping, Query(description="group by feeder, service area kind, or none")
    ] = "total",
    bucket: Annotated[reliability.Bucket, Query(description="trend bucket of local days")] = "day",
    cemi_n: Annotated[
        int, Query(ge=1, le=100, description="CEMIn: customers with at least n interruptions")
    ] = reliability.CEMI_N,
) -> dict[str, Any]:
    """SAIFI, SAIDI, CAIDI, CAIFI, ASAI, MAIFIe, CEMIn, major event days and the DL/T 836
    indices (RS-1, RS-3, AIHC-1, AITC-1) from the meters' power events; docs/reliability.md."""
    settings = get_settings()
    try:
        return reliability.compute(
            conn,
            start,
            end,
            by=by,
            bucket=bucket,
            zone=settings.local_timezone,
            momentary_min=settings.reliability_momentary_min,
            cemi_n=cemi_n,
        )
    except reliability.BadPeriod as e:
        raise Problem(422, "bad_period", str(e)) from None
