"""``POST /v1/outage-reports``: "no power here", by meter number or phone number, no account."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from gridcrew.config import get_settings
from mobile_api import ratelimit
from mobile_api.deps import DbConn
from mobile_api.outages import service
from mobile_api.problems import Problem

router = APIRouter(prefix="/v1/outage-reports", tags=["customers"])


class OutageReportIn(BaseModel):
    meter_id: str | None = Field(
        None, min_length=3, max_length=40, description="the number on the meter, e.g. MTR-000123"
    )
    phone: str | None = Field(
        None,
        pattern=r"^\+?[0-9][0-9 \-]{5,19}$",
        description="the phone number the account is registered with",
    )
    note: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _one_of(self) -> OutageReportIn:
        if (self.meter_id is None) == (self.phone is None):
            raise ValueError("give either meter_id or phone, not both and not neither")
        return self


class PlannedOutageInfo(BaseModel):
    number: str
    starts_at: datetime
    ends_at: datetime
    reason: str


class OutageReportOut(BaseModel):
    report_id: int
    outcome: Literal["joined", "opened", "duplicate", "planned"]
    message: str
    meter_id: str
    incident_id: int | None
    work_order_number: str | None
    crew_status: Literal["on_site", "on_the_way", "being_assigned", "none"] | None
    eta: datetime | None
    crew_eta: datetime | None = Field(None, description="the first crew's planned arrival")
    estimated_restoration: datetime | None = Field(
        None, description="when supply should be back (the dispatcher's ETR)"
    )
    planned_outage: PlannedOutageInfo | None


@router.post("", status_code=201, response_model=OutageReportOut)
def report_outage(body: OutageReportIn, request: Request, conn: DbConn) -> dict:
    """Report a power outage; joins the known incident or opens a repair job."""
    settings = get_settings()
    key = ratelimit.client_key(request)
    ratelimit.check(conn, "outage_report", key, settings.lookup_limit_per_minute)
    if body.meter_id is not None:
        meter = service.find_meter(conn, body.meter_id)
        if meter is None:
            raise Problem(
                404,
                "unknown_meter",
                f"meter {body.meter_id} is not registered; check the number printed on the meter"
                " or report with the account's phone number",
            )
        via = "meter"
    else:
        meters = service.meters_of_phone(conn, body.phone or "")
        if not meters:
            raise Problem(
                404,
                "unknown_phone",
                "no account is registered with this phone number; report with the meter number",
            )
        if len(meters) > 1:
            raise Problem(
                422,
                "several_meters",
                f"this phone number is registered for {len(meters)} meters; report with the"
                " number printed on the meter that has no power",
            )
        meter = service.find_meter(conn, meters[0])
        if meter is None:
            raise Problem(404, "unknown_meter", "the meter of this account is not in service")
        via = "phone"
    return service.report(
        conn,
        meter,
        via=via,
        client_key=key,
        note=body.note,
        tz=settings.local_zone,
        lang=request.headers.get("accept-language"),
    )
